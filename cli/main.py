"""The ``lps`` command: a thin layer over :mod:`workflow`.

Only click is imported at start-up; each command's module, and the engine behind it, is
imported when that command runs, so ``lps --help`` stays instant.
"""

from __future__ import annotations

import errno
import importlib
import io
import os
import sys
from typing import Any, NoReturn

import click

from cli.app import App, LpsClickError

# name -> (module, attribute, one-line help). The help lives here so that listing the
# commands does not import them; it is each command's short help too (see get_command), so
# it is written only here.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": (
        "cli.init",
        "init",
        "Create or upgrade the database; safe to run again.",
    ),
    "demo": (
        "cli.demo",
        "demo",
        "Walk a demo cohort through the programme, ending today.",
    ),
    "cohort": ("cli.cohort", "cohort", "Create, list, show, update and reschedule cohorts."),
    "participant": (
        "cli.participant",
        "participant",
        "Enrol, list, show, import, export, erase.",
    ),
    "host": ("cli.host", "host", "Register the host of a participant's career visit."),
    "advance": (
        "cli.advance",
        "advance",
        "Fire a trigger for a participant, or for whole cohorts.",
    ),
    "waive": (
        "cli.waive",
        "waive",
        "Waive a participant's obligation, with a reason.",
    ),
    "triggers": (
        "cli.triggers",
        "triggers",
        "Which triggers are possible now, and what stands in the way.",
    ),
    "history": ("cli.history", "history", "PARTICIPANT's audit trail, oldest first."),
    "approvals": (
        "cli.approvals",
        "approvals",
        "Confirmations made through links, waiting for approval.",
    ),
    "approve": ("cli.approvals", "approve", "Record a waiting confirmation (see approvals)."),
    "reject": ("cli.approvals", "reject", "Turn a waiting confirmation down; its person is told."),
    "serve": ("cli.serve", "serve", "Serve the pages behind the personal links in the mail."),
    "diagram": (
        "cli.diagram",
        "diagram",
        "Draw the programme's state machine (Mermaid, DOT or SVG).",
    ),
    "remind": (
        "cli.remind",
        "remind",
        "Run the deadline sweep once (for cron).",
    ),
    "scheduler": ("cli.scheduler", "scheduler", "Run the sweep on a schedule in the foreground."),
    "outbox": ("cli.outbox", "outbox", "List, show and retry outgoing messages."),
    "status": (
        "cli.status",
        "status",
        "The last sweeps, the outbox and deadlines waiting.",
    ),
    "health": (
        "cli.status",
        "health",
        "Check the scheduler for a monitoring system (exit 0, 1 or 2).",
    ),
    "audit": (
        "cli.audit",
        "audit",
        "Verify the audit trail; sign checkpoints of it.",
    ),
    "groups": ("cli.groups", "groups", "Form and show a cohort's network groups."),
    "doctor": (
        "cli.doctor",
        "doctor",
        "Check this deployment: one line per problem found.",
    ),
    "access": (
        "cli.access",
        "access",
        "Grant, revoke and list what database roles may do (PostgreSQL).",
    ),
    "calendar": (
        "cli.calendar",
        "calendar",
        "Calendar (.ics) of teaching days and deadlines.",
    ),
    "report": (
        "cli.report",
        "report",
        "A cohort at a glance: every participant against the path.",
    ),
    "certificate": (
        "cli.certificate",
        "certificate",
        "Write or verify a certificate (kursusbevis).",
    ),
    "programme": (
        "cli.programme",
        "programme",
        "Check, install, list, show and compare programme versions.",
    ),
    "purge": (
        "cli.purge",
        "purge",
        "Pseudonymise participants whose path ended before a date.",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when they run."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module_name, attribute, _ = self.lazy[cmd_name]
            command: click.Command = getattr(importlib.import_module(module_name), attribute)
            command.short_help = self.lazy[cmd_name][2]
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self.lazy[name][2]) for name in self.list_commands(ctx) if name in self.lazy]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command; a standard output that cannot take what is written (a full disk,
        a closed pipe) ends it with one line instead of a traceback."""
        try:
            result = super().main(*args, **kwargs)
        except OSError as exc:
            if not _writing_to_stdout(exc):
                raise
            _stdout_failed(exc)
        except SystemExit:
            _flush_stdout()
            raise
        _flush_stdout()
        return result

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LpsClickError:
            raise
        except Exception as exc:
            translated = App.translate(exc)
            if translated is None:
                raise
            raise translated from None


def _writing_to_stdout(exc: OSError) -> bool:
    """Whether ``exc`` came from echoing to standard output (not to a file, not to stderr)."""
    trace = exc.__traceback__
    while trace is not None and trace.tb_next is not None:
        trace = trace.tb_next
    if trace is None:
        return False
    frame = trace.tb_frame
    return (
        frame.f_code.co_name == "echo"
        and frame.f_globals.get("__name__") == "click.utils"
        and not frame.f_locals.get("err")
    )


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except OSError as exc:
        _stdout_failed(exc)


def _stdout_failed(exc: OSError) -> NoReturn:
    """One line for a standard output that refused the output, then exit 1. A closed pipe
    is the reader's choice (`lps ... | head`) and ends quietly."""
    # What is left for standard output goes nowhere, so that the interpreter's own flush at
    # exit does not fail again with a traceback.
    try:
        descriptor = os.open(os.devnull, os.O_WRONLY)
        os.dup2(descriptor, sys.stdout.fileno())
        os.close(descriptor)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass
    if exc.errno != errno.EPIPE:
        click.echo(f"Error: cannot write to standard output: {exc.strerror or exc}", err=True)
    sys.exit(1)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    envvar="LPS_DATABASE_URL",
    help="Database URL (env LPS_DATABASE_URL; default: sqlite:///lps.db in this folder).",
)
@click.option("--actor", metavar="NAME", help="Who the audit trail names (default: your user).")
@click.version_option(package_name="lps", prog_name="lps")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None, actor: str | None) -> None:
    """lps: the "Leder på spring" programme engine.

    Each participant moves through explicit states, from enrolment to a certificate and a
    closing conversation. Guards keep the programme's rules, deadlines send reminders, and
    every step is audited.
    """
    ctx.obj = App(db_url=db_url, actor=actor)


def main() -> None:
    """Console entry point."""
    sys.exit(cli.main(prog_name="lps"))  # pragma: no cover
