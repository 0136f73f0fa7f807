"""``lps programme``: programme versions from definition files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.app import App, LpsClickError
from cli.output import emit, json_option, table
from cli.params import allow_holiday_option

if TYPE_CHECKING:
    from workflow.moves import MigrationPlan

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def programme() -> None:
    """Check, install, list, show and compare programme versions."""


@programme.command("check")
@click.argument("file", type=_FILE)
@click.pass_obj
def check(app: App, file: Path) -> None:
    """Check definition FILE and the templates beside it; exit 1 naming every problem, by key
    path and line. Nothing is written."""
    view = app.workflow().check_programme(file)
    click.echo(f"{file}: programme {view.version} with {view.days} teaching days is valid.")


@programme.command("install")
@click.argument("file", type=_FILE)
@click.pass_obj
def install(app: App, file: Path) -> None:
    """Install definition FILE (and its templates folder) as a version that never changes."""
    done = app.workflow().install_programme(file)
    if done.new:
        click.echo(f"Installed programme {done.version}.")
    else:
        click.echo(f"Programme {done.version} is already installed from this file; nothing to do.")


@programme.command("list")
@json_option()
@click.pass_obj
def list_(app: App, as_json: bool) -> None:
    """Every version, the default for new cohorts, and how many are on each."""
    views = app.workflow().programmes()
    emit(
        as_json,
        [v.as_dict() for v in views],
        lambda: table(
            ["version", "default", "days", "cohorts", "participants", "installed"],
            [
                (
                    v.version,
                    "yes" if v.default else "",
                    v.days,
                    v.cohorts,
                    v.participants,
                    "built in" if v.built_in else v.installed_at,
                )
                for v in views
            ],
        ),
    )


@programme.command("show")
@click.argument("version", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["toml", "json", "mermaid"]),
    default="toml",
    show_default=True,
)
@click.pass_obj
def show(app: App, version: str | None, fmt: str) -> None:
    """Print VERSION (default: the one for new cohorts) as a definition file that installs as
    it is, as JSON, or as a Mermaid diagram."""
    click.echo(app.workflow().programme_text(version, fmt), nl=False)


@programme.command("diff")
@click.argument("a")
@click.argument("b")
@click.pass_obj
def diff(app: App, a: str, b: str) -> None:
    """What differs from version A to version B: days, steps, states, rules, moments,
    obligations and texts."""
    lines = app.workflow().diff_programmes(a, b)
    click.echo("\n".join(lines) if lines else f"{a} and {b} do not differ.")


@programme.command("default")
@click.argument("version")
@click.pass_obj
def default(app: App, version: str) -> None:
    """Make VERSION the programme of cohorts created from now on."""
    chosen = app.workflow().set_default_programme(version)
    click.echo(f"New cohorts follow programme {chosen}.")


@programme.command("migrate")
@click.option("--cohort", "cohort", metavar="CODE", help="The cohort to move (with --dry-run).")
@click.option("--to", "to_version", metavar="VERSION", help="The version to move it to.")
@click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="OLD=NEW",
    help="Where a state with no place in the new version goes (repeatable).",
)
@click.option(
    "--day",
    "days",
    multiple=True,
    metavar="N=DATE",
    help="The date of a teaching day the new version adds (repeatable).",
)
@allow_holiday_option
@click.option("--dry-run", "dry", is_flag=True, help="Say what would happen; change nothing.")
@click.option("--apply", "plan", metavar="PLAN", help="Carry out the dry run with this plan id.")
@json_option("Print the plan as JSON.")
@click.pass_obj
def migrate(
    app: App,
    cohort: str | None,
    to_version: str | None,
    mapping: tuple[str, ...],
    days: tuple[str, ...],
    allow_holiday: bool,
    dry: bool,
    plan: str | None,
    as_json: bool,
) -> None:
    """Move a cohort's participants to another programme version: first --dry-run (who
    moves, who is blocked and why, who has finished; exit 1 if anyone is blocked), then
    --apply PLAN to carry out exactly that plan (the blocked stay on their version)."""
    if dry == (plan is not None):
        raise click.UsageError("give either --dry-run (with --cohort and --to) or --apply PLAN")
    if plan is not None:
        if cohort or to_version or mapping or days or allow_holiday:
            raise click.UsageError(
                "--apply PLAN carries out the plan as the dry run made it; give it alone"
            )
        done = app.workflow().apply_migration(plan)
        emit(
            as_json,
            {
                "plan": done.plan,
                "cohort": done.cohort,
                "to_version": done.to_version,
                "moved": done.moved,
                "finished": done.finished,
                "blocked": [move.as_json() for move in done.blocked],
            },
            f"Plan {done.plan}: moved {done.moved} participants of cohort {done.cohort} to "
            f"{done.to_version}; {done.finished} finished left as they were.",
        )
        if done.blocked:
            raise LpsClickError(
                [
                    f"#{m.id} {m.email} stays on {m.from_version}: {'; '.join(m.reasons)}"
                    for m in done.blocked
                ]
            )
        return
    if not cohort or not to_version:
        raise click.UsageError("--dry-run needs --cohort CODE and --to VERSION")
    found = app.workflow().plan_migration(
        cohort, to_version, mapping, days, allow_holiday=allow_holiday
    )

    def text() -> None:
        click.echo(
            f"Plan {found.plan}: cohort {found.cohort} from {found.from_version} "
            f"to {found.to_version}"
        )
        if found.from_days != found.to_days:
            click.echo(f"  teaching days: {_days_change(found)}")
        for move in found.participants:
            who = f"#{move.id} {move.email}"
            if move.outcome == "moves" and move.from_version == move.to_version:
                click.echo(f"  moves     {who}: {move.from_state}, {move.reasons[0]}")
            elif move.outcome == "moves":
                click.echo(
                    f"  moves     {who}: {move.from_state} ({move.from_version}) → "
                    f"{move.to_state} ({move.to_version})"
                )
                for change in move.deadlines:
                    click.echo(f"              {change.text()}")
            elif move.outcome == "blocked":
                click.echo(f"  blocked   {who}: {move.from_state}")
                for reason in move.reasons:
                    click.echo(f"              - {reason}")
            else:
                click.echo(f"  finished  {who}: {move.from_state}, left as they are")
        click.echo(f"Carry it out with: lps programme migrate --apply {found.plan}")
        if found.blocked:
            click.echo("  (the blocked stay on their version; the others move)")

    emit(as_json, found.as_json(), text)
    if found.blocked:
        raise LpsClickError(
            [f"{len(found.blocked)} of {len(found.participants)} participants are blocked"]
        )


def _days_change(found: MigrationPlan) -> str:
    before, after = len(found.from_days), len(found.to_days)
    if after > before:
        return f"{before} → {after}; " + ", ".join(
            f"day {n} on {day.isoformat()}" for n, day in found.added_days
        )
    left = [
        f"day {n} ({day.isoformat()})"
        for n, day in enumerate(found.from_days, start=1)
        if n > after
    ]
    return f"{before} → {after}; {', '.join(left)} kept only for those who stay"
