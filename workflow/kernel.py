"""The step kernel: the one unit of work every step goes through, whoever records it.

load the participant -> fire the trigger on the shared machine (guards read facts, cohort and
clock) -> pass through states whose facts are already recorded -> queue the step's notices ->
write state, version, facts, audit entries, deadlines and outbox rows in one transaction.

The CLI's :class:`~workflow.engine.Workflow`, the sweep, the importer, privacy and groups all
call these functions with a :class:`Runtime`; none of them reaches into another's internals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from states.facts import Facts
from states.programme import (
    INITIAL_STATE,
    LOCAL_TZ,
    STEP_NOTICES,
    CohortPlan,
    StepArgs,
    blocking_obligations,
    pass_through_for,
)
from states.rules import cohort_deadlines, deadlines_after
from workflow import messages, validation
from workflow.attachments import Attachment
from workflow.clock import Clock, local_text
from workflow.db import Database
from workflow.errors import ConcurrentChange, GuardFailed, LpsError
from workflow.machine import StepModel, attached
from workflow.queries import cohort_row, email_taken, find_participant
from workflow.records import (
    PARTICIPANTS,
    CohortRow,
    ParticipantRow,
    Step,
    enrolled_row,
    enrolment_values,
    load_cohorts,
    write_steps,
)
from workflow.settings import Settings
from workflow.views import StepResult, audit_view, participant_view

__all__ = [
    "Attachment",
    "AttachmentMaker",
    "AttachmentUnavailable",
    "Runtime",
    "StepRequest",
    "change",
    "fire",
    "insert_participant",
    "out_of_order",
    "pass_through",
    "start_path",
    "step_args",
    "step_result",
    "write",
]


class AttachmentUnavailable(LpsError):
    """The file a message should carry cannot be made: ``what`` names the file ("the
    certificate PDF"), ``missing`` what is lacking (the letters its font cannot draw)."""

    def __init__(self, message: str, *, what: str, missing: str):
        super().__init__(message)
        self.what = what
        self.missing = missing


# Makes the file a step's message carries, or ``None`` when there is none to make; raises
# :class:`AttachmentUnavailable` when it should exist but cannot be made.
AttachmentMaker = Callable[[Step, Settings], Callable[[str], Attachment | None] | None]


@dataclass(frozen=True)
class Runtime:
    """What every unit of work needs: the database, the clock, who acts, the makers of the
    files that messages carry (by the names the programme's notices give), and the
    settings."""

    db: Database
    clock: Clock
    actor: str
    attachments: Mapping[str, AttachmentMaker] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)
    # How the steps come: cli, link or scheduler (each audit entry's channel).
    channel: str = "cli"

    def __post_init__(self) -> None:
        # Every way an actor comes in (the CLI, a script, the web) passes this one rule.
        object.__setattr__(self, "actor", validation.ACTOR.clean(self.actor))

    def now(self) -> datetime:
        return self.clock.now()

    def today(self) -> date:
        return self.now().astimezone(LOCAL_TZ).date()


@dataclass(frozen=True)
class StepRequest:
    """A trigger with what the administrator said along with it."""

    trigger: str
    on: date | None = None
    note: str | None = None
    reason: str | None = None
    goals: tuple[str, ...] = ()
    absent: bool = False
    to: str | None = None
    early: bool = False
    internship: bool | None = None


def step_args(request: StepRequest, target: CohortPlan | None) -> StepArgs:
    """The programme's view of a request; ``target`` is the later cohort of a deferral."""
    return StepArgs(
        on=request.on,
        goals=tuple(request.goals),
        absent=request.absent,
        reason=request.reason,
        note=request.note,
        early=request.early,
        internship=request.internship,
        target=target,
    )


def fire(
    runtime: Runtime,
    step: Step,
    trigger: str,
    args: StepArgs,
    *,
    model: StepModel | None = None,
) -> list[str]:
    """Fire ``trigger`` on ``step`` and pass through what follows; returns the notices queued.
    Raises :class:`GuardFailed` with every broken rule, leaving the step unchanged."""
    if args.on is not None:
        enrolled = step.row.created_at.astimezone(LOCAL_TZ).date()
        if args.on < enrolled:
            raise GuardFailed(
                trigger,
                [
                    f"the date {args.on.isoformat()} is before the participant was "
                    f"enrolled ({enrolled.isoformat()})"
                ],
            )
    if model is None:
        with attached() as fresh:
            return fire(runtime, step, trigger, args, model=fresh)
    notices = _apply(runtime, step, model, trigger, args, note=None)
    return notices + pass_through(runtime, step, model)


def pass_through(runtime: Runtime, step: Step, model: StepModel) -> list[str]:
    """Take the automatic steps whose facts are already recorded (at most five in a row)."""
    notices: list[str] = []
    for _ in range(5):
        situation = step.situation()
        rule = pass_through_for(situation)
        if rule is None:
            break
        notices += _apply(
            runtime,
            step,
            model,
            rule.trigger,
            StepArgs(automatic=True),
            note=rule.note(situation),
        )
    return notices


def change(
    runtime: Runtime,
    ref: str | int,
    change: Callable[[Step], list[str]],
    *,
    dry_run: bool = False,
) -> StepResult:
    """Load one participant, apply ``change`` to their step, and write it as one unit of work
    (unless ``dry_run``). A step that moves them to a later cohort (a deferral) enrols them
    there in the same transaction.
    """
    now = runtime.now()
    with runtime.db.reading() as conn:
        row = find_participant(conn, ref)
        cohort = load_cohorts(conn, {row.cohort_id})[row.cohort_id]
    step = Step(row, cohort, now, runtime.actor, channel=runtime.channel)
    disorder = out_of_order(step)
    if disorder:
        raise GuardFailed("step", [disorder])
    notices = change(step)
    if dry_run:
        return step_result(step, notices, dry_run=True)
    with runtime.db.transaction() as conn:
        write(conn, [step])
        if step.moves_to is not None:
            notices += _enrol_deferred(runtime, conn, step, step.moves_to)
    return step_result(step, notices)


def out_of_order(step: Step) -> str | None:
    """Why ``step`` would break its participant's time order, or ``None``: a trail never
    goes back in time, so a clock set back by mistake cannot rewrite what came after."""
    last = step.row.updated_at
    if step.now >= last:
        return None
    return (
        f"this step's moment {local_text(step.now)} comes before participant "
        f"#{step.row.id}'s last recorded change ({local_text(last)}); a trail stays in time "
        "order: is the clock (LPS_NOW) set back?"
    )


def write(conn: Connection, steps: list[Step], *, raise_conflict: bool = True) -> list[Step]:
    """Write ``steps`` in the caller's transaction. A step whose participant changed since it
    was read raises :class:`ConcurrentChange`, or is returned when ``raise_conflict`` is off."""
    conflicts = write_steps(conn, steps)
    if conflicts and raise_conflict:
        raise ConcurrentChange(
            f"participant #{conflicts[0].row.id} was changed by someone else at the same "
            "time; nothing was written; try again"
        )
    return conflicts


def start_path(runtime: Runtime, step: Step, note: str | None) -> list[str]:
    """The enrolment step of a new row: its deadlines, its welcome, its first audit entry."""
    step.schedule(cohort_deadlines(step.cohort.plan), skip_passed=True)
    notified, described = _notify_step(runtime, step, "enrol", StepArgs())
    step.record("enrol", None, INITIAL_STATE, note=note, data=_notified(notified))
    return described


def insert_participant(
    conn: Connection,
    cohort: CohortRow,
    now: datetime,
    *,
    name: str,
    email: str,
    municipality: str,
    workplace: str | None,
    language: str,
    manager_name: str,
    manager_email: str,
    jti_link: str | None,
    deferred_from: int | None = None,
) -> ParticipantRow:
    """Insert a new participant's row (no step yet); a taken email is refused as enrolment."""
    values = enrolment_values(
        cohort.id,
        now,
        name=name.strip(),
        email=email.strip().lower(),
        municipality=municipality.strip(),
        workplace=workplace.strip() if workplace else None,
        language=language,
        manager_name=manager_name.strip(),
        manager_email=manager_email.strip().lower(),
        jti_link=jti_link,
        deferred_from=deferred_from,
        programme=cohort.programme,
    )
    try:
        inserted = conn.execute(PARTICIPANTS.insert().values(**values)).inserted_primary_key
        assert inserted is not None
        new_id = inserted[0]
    except IntegrityError:
        raise GuardFailed(
            "enrol", [f"{values['email']} is already enrolled in cohort {cohort.code}"]
        ) from None
    return enrolled_row(new_id, values)


def step_result(step: Step, notices: list[str], *, dry_run: bool = False) -> StepResult:
    """What a step did, as the caller sees it: the participant after it, its audit entries
    and the notices it queued."""
    row = ParticipantRow(
        **{
            **step.row.__dict__,
            "facts": step.facts,
            "state": step.state,
            "version": step.row.version + (0 if dry_run else 1),
        }
    )
    view = participant_view(row, step.cohort, None, step.situation().today)
    entries = [audit_view(entry) for entry in step.audit]
    return StepResult(view, entries, notices, dry_run)


def _enrol_deferred(runtime: Runtime, conn: Connection, old: Step, code: str) -> list[str]:
    cohort = cohort_row(conn, code)
    if email_taken(conn, cohort.id, old.row.email):
        raise GuardFailed("defer", [f"{old.row.email} is already enrolled in cohort {code}"])
    row = insert_participant(
        conn,
        cohort,
        old.now,
        name=old.row.name,
        email=old.row.email,
        municipality=old.row.municipality,
        workplace=old.row.workplace,
        language=old.row.language,
        manager_name=old.row.manager_name,
        manager_email=old.row.manager_email,
        jti_link=old.row.jti_link,
        deferred_from=old.row.id,
    )
    step = Step(row, cohort, old.now, runtime.actor, channel=runtime.channel)
    # The carried facts are the step's change to the new row, written with it.
    step.facts = Facts(
        manager_conversation=old.facts.manager_conversation,
        goals=old.facts.goals,
        host=old.facts.host,
    )
    notices = start_path(
        runtime, step, note=f"deferred from cohort {old.cohort.code} (#{old.row.id})"
    )
    with attached() as model:
        notices += pass_through(runtime, step, model)
    write(conn, [step])
    return notices


def _notified(rules: list[str]) -> dict[str, Any]:
    return {"notified": rules} if rules else {}


def _apply(
    runtime: Runtime,
    step: Step,
    model: StepModel,
    trigger: str,
    args: StepArgs,
    note: str | None,
) -> list[str]:
    situation = step.situation()
    before = step.state
    fired = model.fire(situation, trigger, args)
    if fired is None or model.transition is None:
        # The machine evaluated the guards; nothing of the step has changed.
        raise GuardFailed(trigger, model.refused, blocking_obligations(trigger, situation))
    transition = model.transition
    step.state, step.facts = fired
    if note is None and not args.automatic:
        said = [str(value) for name in transition.note_from if (value := getattr(args, name))]
        note = " — ".join(said) or None
    data: dict[str, Any] = {}
    if args.automatic:
        data["automatic"] = True
    if args.on is not None:
        data["on"] = args.on.isoformat()
    if transition.audit is not None:
        data.update(transition.audit(situation, args, step.facts))
    if args.early:
        data["early"] = True
    if args.target is not None:
        data["to"] = args.target.code
        if transition.moves_to_target:
            step.moves_to = args.target.code
    if args.internship is not None:
        data["internship"] = args.internship
    if transition.schedules is not None:
        anchor = getattr(step.facts, transition.schedules)
        if anchor is not None:
            step.schedule(deadlines_after(transition.schedules, anchor, step.cohort.plan))
    notified, described = _notify_step(runtime, step, trigger, args)
    data.update(_notified(notified))
    step.record(trigger, before, step.state, note=note, data=data)
    return described


def _notify_step(
    runtime: Runtime, step: Step, trigger: str, args: StepArgs
) -> tuple[list[str], list[str]]:
    """Queue the notifications a step sends; returns (rule names, descriptions).

    A message whose file cannot be made goes without it and says so (the templates see
    ``attachment_missing``), and the cohort's administrator gets the same message, so nobody
    is told of an attachment that is not there."""
    rules: list[str] = []
    described: list[str] = []
    for notice in STEP_NOTICES.get(trigger, ()):
        if not notice.when(args):
            continue
        maker = runtime.attachments.get(notice.attachment) if notice.attachment else None
        extras = dict(notice.extras(args)) if notice.extras else {}
        unavailable: AttachmentUnavailable | None = None
        try:
            attachment = maker(step, runtime.settings) if maker else None
        except AttachmentUnavailable as refused:
            attachment, unavailable = None, refused
            extras["attachment_missing"] = refused.missing
        occurrence = notice.occurrence(step.facts)
        roles = messages.queue(
            step,
            notice.rule,
            notice.recipients,
            occurrence=occurrence,
            extras=extras or None,
            attachment=attachment,
            settings=runtime.settings,
        )
        if roles:
            rules.append(notice.rule)
            without = f" without {unavailable.what}: {unavailable}" if unavailable else ""
            described.append(f"{notice.rule} → {', '.join(roles)}{without}")
        if unavailable is not None and messages.queue(
            step,
            notice.rule,
            ("admin",),
            occurrence=occurrence,
            extras=extras,
            settings=runtime.settings,
        ):
            described.append(
                f"{notice.rule} → admin: {unavailable.what} is missing; make it another way"
            )
    return rules, described
