"""``lps remind``: one sweep, for cron."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

import click

from cli.app import App, LpsClickError
from cli.logs import log_format_option, logging_to_stderr
from cli.output import emit, json_option, table

if TYPE_CHECKING:
    from workflow.sweep import SweepReport


@click.command()
@click.option("--dry-run", is_flag=True, help="List who would get what, and who would not and why.")
@json_option()
@log_format_option
@click.pass_obj
def remind(app: App, dry_run: bool, as_json: bool, log_format: str) -> None:
    """Run the deadline sweep once (for cron)."""
    if log_format == "json":
        with logging_to_stderr(log_format):
            _remind(app, dry_run, as_json, logged=True)
    else:
        _remind(app, dry_run, as_json)


def _remind(app: App, dry_run: bool, as_json: bool, *, logged: bool = False) -> None:
    from cli.progress import progress_bar
    from workflow.scheduling import log_sweep

    workflow = app.workflow()
    replayed = app.replayed()
    if replayed:
        # Said first, so that a replay's output is never taken for the real thing; on stderr
        # with --json, so that stdout stays one JSON document.
        click.echo(replay_line(*replayed), err=as_json)
    with progress_bar("Sweeping") as advance:
        report = workflow.remind(dry_run=dry_run, progress=advance)
    if logged:
        log_sweep(logging.getLogger("lps.remind"), report)
    emit(
        as_json,
        {
            "dry_run": report.dry_run,
            "decisions": [d.__dict__ for d in report.decisions],
            "digests": report.digests,
            "delivered": report.delivered,
            "retrying": report.retrying,
            "failed": report.failed,
            "delivery_stopped": report.delivery_stopped,
        },
        lambda: _print_report(report),
    )
    if as_json or not dry_run:
        _delivery_stopped(report)


def _print_report(report: SweepReport) -> None:
    if report.decisions:
        table(
            ["participant", "rule", "#", "outcome", "detail"],
            [
                (f"#{d.participant_id} {d.email}", d.rule, d.occurrence or "", d.outcome, d.detail)
                for d in report.decisions
            ],
            title="Would do (nothing written)" if report.dry_run else None,
        )
    if report.dry_run:
        click.echo(
            f"Dry run: {len(report.decisions)} due deadline(s), {report.digests} digest(s); "
            "nothing was written or sent."
        )
    else:
        click.echo(report.summary())


def _delivery_stopped(report: SweepReport) -> None:
    """Say once why delivery stopped; settings that no retry mends make the command fail."""
    if report.delivery_stopped is None:
        return
    if report.configuration_error:
        raise LpsClickError([f"{report.delivery_stopped} in LPS_SMTP_URL"])
    click.echo(f"Warning: {report.delivery_stopped}", err=True)


def replay_line(now: datetime, real: datetime) -> str:
    """The line that says the sweep runs at LPS_NOW, how far from the system clock."""
    from workflow.clock import local_text

    gap = abs(now - real)
    hours = round(gap.total_seconds() / 3600)
    span = f"{round(hours / 24)} days" if hours >= 48 else f"{hours} hours"
    way = "after" if now > real else "before"
    return (
        f"Replay: LPS_NOW is {local_text(now)}, {span} {way} the system clock "
        f"({local_text(real)}); this sweep acts as if it were then."
    )
