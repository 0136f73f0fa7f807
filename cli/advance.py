"""``lps advance``: fire a trigger."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import click

from cli.app import App, LpsClickError
from cli.output import emit, json_option
from cli.params import DATE

if TYPE_CHECKING:
    from workflow.engine import StepRequest, Workflow


@click.command()
@click.argument("words", nargs=-1, metavar="[PARTICIPANT] TRIGGER")
@click.option(
    "--cohort",
    "cohort_codes",
    metavar="CODE",
    multiple=True,
    help="Fire TRIGGER for every active participant of a cohort (repeatable: several "
    "cohorts in one go).",
)
@click.option(
    "--except",
    "except_",
    metavar="P,P,...",
    help="With --cohort: participants (ids or emails) to leave out.",
)
@click.option("--on", "on", type=DATE, help="When it really happened (default: today).")
@click.option(
    "--note", help="A note for the audit trail (for a closing conversation: the agreements made)."
)
@click.option("--reason", help="Why: required to withdraw, defer or register an absent day.")
@click.option(
    "--goal",
    "goals",
    multiple=True,
    help="A learning goal (repeatable; hold_manager_conversation).",
)
@click.option("--absent", is_flag=True, help="register_day: the participant was absent.")
@click.option("--to", "to", metavar="CODE", help="defer: the later cohort to move to.")
@click.option("--early", is_flag=True, help="invite_jti: send before 14 days ahead of day 1.")
@click.option(
    "--internship/--no-internship",
    default=None,
    help="hold_closing_conversation: a leadership internship (praktikaftale) is agreed.",
)
@click.option("--dry-run", is_flag=True, help="Show what would happen; write nothing.")
@json_option()
@click.pass_obj
def advance(
    app: App,
    words: tuple[str, ...],
    cohort_codes: tuple[str, ...],
    except_: str | None,
    on: date | None,
    note: str | None,
    reason: str | None,
    goals: tuple[str, ...],
    absent: bool,
    to: str | None,
    early: bool,
    internship: bool | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Fire a trigger for a participant, or for whole cohorts.

    Fires TRIGGER for PARTICIPANT (id or email), or with --cohort for every active
    participant of the cohorts named.

    \b
    Triggers: hold_manager_conversation, invite_jti, complete_jti, register_day,
    hold_career_visit, deliver_speech, certify, hold_closing_conversation, complete,
    decline_closing_conversation, withdraw, defer (kebab-case works too).
    """
    from workflow.engine import StepRequest

    if len(words) == 2:
        participant, trigger = words
    elif len(words) == 1:
        participant, trigger = None, words[0]
    else:
        raise click.UsageError("give PARTICIPANT TRIGGER, or --cohort CODE TRIGGER")
    request = StepRequest(
        trigger=trigger,
        on=on,
        note=note,
        reason=reason,
        goals=goals,
        absent=absent,
        to=to,
        early=early,
        internship=internship,
    )
    workflow = app.workflow()
    if cohort_codes:
        if participant:
            raise click.UsageError("give either PARTICIPANT or --cohort CODE, not both")
        if dry_run:
            raise click.UsageError("--dry-run works on one participant")
        _advance_cohorts(workflow, cohort_codes, request, except_, as_json)
        return
    if not participant:
        raise click.UsageError("name a PARTICIPANT (id or email), or use --cohort CODE")
    if except_:
        raise click.UsageError("--except goes with --cohort")
    result = workflow.advance(participant, request, dry_run=dry_run)
    view = result.participant

    def text() -> None:
        prefix = "Would: " if result.dry_run else ""
        for entry in result.entries:
            arrow = (
                f"{entry.from_state} → {entry.to_state}"
                if entry.from_state != entry.to_state
                else f"recorded in {entry.to_state}"
            )
            extra = f"  ({entry.note})" if entry.data.get("automatic") and entry.note else ""
            click.echo(f"{prefix}#{view.id} {view.name}: {entry.event}: {arrow}{extra}")
        for notice in result.notifications:
            click.echo(f"{prefix}queued {notice}")
        if view.outstanding and not result.dry_run:
            click.echo(f"Outstanding: {', '.join(view.outstanding)}")

    emit(
        as_json,
        {
            "participant": view.as_json(),
            "entries": [e.as_json() for e in result.entries],
            "notifications": result.notifications,
            "dry_run": result.dry_run,
        },
        text,
    )


def _advance_cohorts(
    workflow: Workflow,
    codes: tuple[str, ...],
    request: StepRequest,
    except_: str | None,
    as_json: bool,
) -> None:
    from workflow.errors import BulkRefused

    excluded = [p.strip() for p in (except_ or "").split(",") if p.strip()]
    from cli.progress import progress_bar

    named = ", ".join(codes) if len(codes) <= 3 else f"{len(codes)} cohorts"
    try:
        with progress_bar(f"Advancing {named}") as advance:
            result = workflow.advance_cohorts(
                codes, request, except_refs=excluded, progress=advance
            )
    except BulkRefused as refused:
        click.echo(f"Advanced {refused.done} participant(s) of {named}.")
        raise LpsClickError(refused.lines()) from None
    emit(
        as_json,
        {
            "advanced": [
                {"id": pid, "from_state": a, "to_state": b} for pid, a, b in result.advanced
            ],
            "skipped": result.skipped,
        },
        f"Advanced {len(result.advanced)} participant(s) of {named} with {request.trigger}"
        + (f"; left out {result.skipped}" if result.skipped else "")
        + ".",
    )
