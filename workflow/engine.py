"""The engine's public API: what the CLI, and anyone scripting lps in Python, calls."""

from __future__ import annotations

import getpass
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from states.facts import Facts, Host
from states.programme import (
    FINAL_STATES,
    INITIAL_STATE,
    LOCAL_TZ,
    OBLIGATIONS,
    STATE_BY_NAME,
    STATE_NAMES,
    STEP_NOTICES,
    TRIGGERS,
    CohortPlan,
    Situation,
    StepArgs,
    apply_waiver,
    blocking_obligations,
    normalise_trigger,
    obligation_due,
    obligation_status,
    pass_through_for,
    refusals,
    same_municipality,
    waiver_refusal,
)
from states.rules import certified_deadlines, cohort_deadlines, host_letter_deadline
from workflow import messages, validation
from workflow.clock import Clock, clock_from_env
from workflow.db import Database
from workflow.errors import (
    BulkRefused,
    ConcurrentChange,
    GuardFailed,
    InvalidInput,
    NotFound,
)
from workflow.machine import StepModel, attached
from workflow.records import (
    AUDIT,
    COHORTS,
    DEADLINES,
    OUTBOX,
    PARTICIPANTS,
    CohortRow,
    ParticipantRow,
    Step,
    enrolled_row,
    enrolment_values,
    load_cohorts,
    write_steps,
)

if TYPE_CHECKING:
    from notifications.delivery import Channel
    from workflow.sweep import SweepReport

HOST_ROLES = ("leader", "hr")


def default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


# -- Views returned to callers ----------------------------------------------------------------


@dataclass(frozen=True)
class CohortView:
    code: str
    name: str
    days: tuple[date, ...]
    venue: str | None
    admin_email: str | None
    max_absences: int
    send_hour: int
    jti_link: str | None
    articles: list[dict[str, str]]
    participants: int = 0
    by_state: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "days": [d.isoformat() for d in self.days],
            "venue": self.venue,
            "admin_email": self.admin_email,
            "max_absences": self.max_absences,
            "send_hour": self.send_hour,
            "jti_link": self.jti_link,
            "articles": self.articles,
            "participants": self.participants,
            "by_state": self.by_state,
        }


@dataclass(frozen=True)
class CohortChange:
    """A cohort after :meth:`Workflow.update_cohort`, and the fields that changed."""

    cohort: CohortView
    changed: tuple[str, ...]


@dataclass(frozen=True)
class ObligationView:
    name: str
    status: str
    due: date
    overdue: bool
    waiver_reason: str | None = None


@dataclass(frozen=True)
class ParticipantView:
    id: int
    name: str
    email: str
    cohort: str
    municipality: str
    workplace: str | None
    language: str
    manager_name: str
    manager_email: str
    state: str
    version: int
    definition_version: str
    obligations: list[ObligationView]
    next_due: tuple[str, datetime] | None
    facts: Facts
    network_group: int | None = None

    @property
    def state_label(self) -> str:
        return STATE_BY_NAME[self.state].label_da

    @property
    def outstanding(self) -> list[str]:
        return [o.name for o in self.obligations if o.status == "open"]

    @property
    def overdue(self) -> list[ObligationView]:
        return [o for o in self.obligations if o.overdue]

    def as_json(self) -> dict[str, Any]:
        host = self.facts.host
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "cohort": self.cohort,
            "municipality": self.municipality,
            "workplace": self.workplace,
            "language": self.language,
            "manager": {"name": self.manager_name, "email": self.manager_email},
            "host": None
            if host is None
            else {
                "name": host.name,
                "email": host.email,
                "role": host.role,
                "municipality": host.municipality,
            },
            "state": self.state,
            "state_label": self.state_label,
            "version": self.version,
            "definition_version": self.definition_version,
            "outstanding": self.outstanding,
            "overdue": [o.name for o in self.overdue],
            "obligations": {
                o.name: {
                    "status": o.status,
                    "due": o.due.isoformat(),
                    "overdue": o.overdue,
                    **({"waiver_reason": o.waiver_reason} if o.waiver_reason else {}),
                }
                for o in self.obligations
            },
            "next_due": None
            if self.next_due is None
            else {"rule": self.next_due[0], "at": self.next_due[1].isoformat()},
            "learning_goals": list(self.facts.goals),
            "facts": self.facts.to_json(),
            "network_group": self.network_group,
        }


@dataclass(frozen=True)
class AuditView:
    seq: int
    at: datetime
    actor: str
    event: str
    from_state: str | None
    to_state: str
    note: str | None
    data: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "event": self.event,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "note": self.note,
            "data": self.data,
        }


@dataclass(frozen=True)
class TriggerView:
    trigger: str
    possible: bool
    reasons: list[str]
    obligations: list[str]


@dataclass(frozen=True)
class StepResult:
    participant: ParticipantView
    entries: list[AuditView]
    notifications: list[str]
    dry_run: bool = False


@dataclass(frozen=True)
class BulkResult:
    advanced: list[tuple[int, str, str]]
    refused: dict[str, list[str]]
    skipped: int


@dataclass(frozen=True)
class OutboxView:
    id: int
    participant_id: int | None
    rule: str
    occurrence: str
    recipient: str
    subject: str
    status: str
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()
        }


OUTBOX_STATUSES = ("pending", "sent", "failed", "dropped")


def default_channel() -> Channel:
    """SMTP when ``LPS_SMTP_URL`` is set, else ``.eml`` files under ``LPS_MAIL_DIR``."""
    import os

    from notifications.delivery import channel_from_env

    try:
        return channel_from_env(os.environ)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


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


# -- The engine -------------------------------------------------------------------------------


class Workflow:
    """The programme engine on one database, with one clock and one acting administrator."""

    def __init__(
        self,
        database: Database,
        *,
        clock: Clock | None = None,
        actor: str | None = None,
    ):
        self.db = database
        self.clock = clock or clock_from_env()
        self.actor: str = validation.ACTOR.clean(actor or default_actor())

    @classmethod
    def open(cls, url: str, *, clock: Clock | None = None, actor: str | None = None) -> Workflow:
        """Open an existing lps database, refusing one without the current schema."""
        database = Database(url)
        database.check_schema()
        return cls(database, clock=clock, actor=actor)

    def now(self) -> datetime:
        return self.clock.now()

    def today(self) -> date:
        return self.now().astimezone(LOCAL_TZ).date()

    # -- cohorts ------------------------------------------------------------------------------

    def create_cohort(
        self,
        code: str,
        *,
        name: str,
        days: list[date],
        venue: str | None = None,
        admin_email: str | None = None,
        max_absences: int = 0,
        send_hour: int = 9,
        jti_link: str | None = None,
        articles: list[dict[str, str]] | None = None,
    ) -> CohortView:
        """Create a cohort with its five teaching days."""
        values = validation.clean_all(
            validation.COHORT,
            {
                "code": code,
                "name": name,
                "venue": venue,
                "admin_email": admin_email,
                "jti_link": jti_link,
            },
        )
        code = values["code"]
        cleaned_articles = validation.articles(articles or [])
        _check_days(days)
        if max_absences < 0 or max_absences > 4:
            raise InvalidInput("the absences allowed must be between 0 and 4")
        if not 0 <= send_hour <= 23:
            raise InvalidInput("the send hour must be between 0 and 23")
        with self.db.transaction() as conn:
            exists = conn.execute(select(COHORTS.c.id).where(COHORTS.c.code == code)).first()
            if exists:
                raise InvalidInput(f"cohort {code} already exists; choose another code")
            conn.execute(
                COHORTS.insert().values(
                    code=code,
                    name=values["name"],
                    day_1=days[0],
                    day_2=days[1],
                    day_3=days[2],
                    day_4=days[3],
                    day_5=days[4],
                    venue=values["venue"],
                    admin_email=values["admin_email"],
                    max_absences=max_absences,
                    send_hour=send_hour,
                    jti_link=values["jti_link"],
                    articles=cleaned_articles,
                    schedule_sequence=0,
                    created_at=self.now(),
                )
            )
        return self.cohort(code)

    def cohort(self, code: str) -> CohortView:
        with self.db.reading() as conn:
            cohort = cohort_row(conn, code)
            counts: dict[str, int] = dict(
                conn.execute(
                    select(PARTICIPANTS.c.state, func.count())
                    .where(PARTICIPANTS.c.cohort_id == cohort.id)
                    .group_by(PARTICIPANTS.c.state)
                ).all()
            )
        return _cohort_view(cohort, counts)

    def cohorts(self) -> list[CohortView]:
        with self.db.reading() as conn:
            rows = [
                CohortRow.from_row(r)
                for r in conn.execute(select(COHORTS).order_by(COHORTS.c.day_1, COHORTS.c.code))
            ]
            counts: dict[int, dict[str, int]] = {}
            for cohort_id, state, count in conn.execute(
                select(PARTICIPANTS.c.cohort_id, PARTICIPANTS.c.state, func.count()).group_by(
                    PARTICIPANTS.c.cohort_id, PARTICIPANTS.c.state
                )
            ):
                counts.setdefault(cohort_id, {})[state] = count
        return [_cohort_view(row, counts.get(row.id, {})) for row in rows]

    def update_cohort(
        self,
        code: str,
        *,
        name: str | None = None,
        venue: str | None = None,
        admin_email: str | None = None,
    ) -> CohortChange:
        """Correct a cohort's name, venue or admin email (``None``: leave it; an empty venue
        or admin email: remove it). Every participant's trail records what changed, and
        mail queued from then on uses the new values."""
        given = {
            field: value
            for field, value in (("name", name), ("venue", venue), ("admin_email", admin_email))
            if value is not None
        }
        if not given:
            raise InvalidInput("nothing to change: give a new name, venue or admin email")
        values = validation.clean_all(validation.COHORT, given)
        now = self.now()
        with self.db.transaction() as conn:
            cohort = cohort_row(conn, code)
            old = {"name": cohort.name, "venue": cohort.venue, "admin_email": cohort.admin_email}
            changed = [field for field in values if values[field] != old[field]]
            if not changed:
                return CohortChange(self.cohort(code), ())
            conn.execute(
                update(COHORTS)
                .where(COHORTS.c.id == cohort.id)
                .values({field: values[field] for field in changed})
            )
            updated = CohortRow(**{**cohort.__dict__, **{f: values[f] for f in changed}})
            note = "; ".join(
                f"{field.replace('_', ' ')} {_shown(old[field])} → {_shown(values[field])}"
                for field in changed
            )
            steps = []
            for row in conn.execute(
                select(PARTICIPANTS)
                .where(PARTICIPANTS.c.cohort_id == cohort.id)
                .order_by(PARTICIPANTS.c.id)
            ):
                step = Step(ParticipantRow.from_row(row), updated, now, self.actor)
                step.record(
                    "update_cohort", step.state, step.state, note=note, data={"changed": changed}
                )
                steps.append(step)
            self._write(conn, steps)
        return CohortChange(self.cohort(code), tuple(changed))

    def reschedule(self, code: str, day: int, new_date: date) -> CohortView:
        """Move one teaching day; every pending deadline of the cohort follows."""
        if day not in range(1, 6):
            raise InvalidInput("--day must be a number from 1 to 5")
        now = self.now()
        with self.db.transaction() as conn:
            cohort = cohort_row(conn, code)
            days = list(cohort.days)
            days[day - 1] = new_date
            _check_days(days)
            conn.execute(
                update(COHORTS)
                .where(COHORTS.c.id == cohort.id)
                .values(
                    **{f"day_{day}": new_date},
                    schedule_sequence=cohort.schedule_sequence + 1,
                )
            )
            plan = CohortPlan(cohort.code, tuple(days), cohort.max_absences, cohort.send_hour)
            members = select(PARTICIPANTS.c.id).where(PARTICIPANTS.c.cohort_id == cohort.id)
            for moment in cohort_deadlines(plan):
                conn.execute(
                    update(DEADLINES)
                    .where(
                        DEADLINES.c.participant_id.in_(members),
                        DEADLINES.c.rule == moment.rule,
                        DEADLINES.c.occurrence == moment.occurrence,
                        DEADLINES.c.status == "pending",
                    )
                    .values(due_at=moment.due_at, expires_at=moment.expires_at)
                )
            if day == 1:
                letter = host_letter_deadline(now, plan)
                conn.execute(
                    update(DEADLINES)
                    .where(
                        DEADLINES.c.participant_id.in_(members),
                        DEADLINES.c.rule == "host_letter",
                        DEADLINES.c.status == "pending",
                    )
                    .values(due_at=letter.due_at)
                )
        return self.cohort(code)

    # -- participants -------------------------------------------------------------------------

    def enrol(
        self,
        cohort_code: str,
        *,
        name: str,
        email: str,
        municipality: str,
        manager_name: str,
        manager_email: str,
        workplace: str | None = None,
        language: str = "da",
        jti_link: str | None = None,
    ) -> StepResult:
        """Enrol a participant: the first step of their path, with the welcome mail."""
        now = self.now()
        values, invalid = validation.check(
            validation.PARTICIPANT,
            {
                "name": name,
                "email": email,
                "municipality": municipality,
                "workplace": workplace,
                "manager_name": manager_name,
                "manager_email": manager_email,
                "language": language,
                "jti_link": jti_link,
            },
        )
        with self.db.transaction() as conn:
            cohort = cohort_row(conn, cohort_code)
            problems = enrolment_closed(cohort, self.today()) + [str(p) for p in invalid]
            if "email" in values and _email_taken(conn, cohort.id, values["email"]):
                problems.append(f"{values['email']} is already enrolled in cohort {cohort.code}")
            if problems:
                raise GuardFailed("enrol", problems)
            row = _insert_participant(conn, cohort, now, **values)
            step = Step(row, cohort, now, self.actor)
            notices = _start_path(step, note=None)
            self._write(conn, [step])
        return self._result(step, notices)

    def participant(self, ref: str | int) -> ParticipantView:
        with self.db.reading() as conn:
            row = _find_participant(conn, ref)
            cohort = load_cohorts(conn, {row.cohort_id})[row.cohort_id]
            next_due = _next_due(conn, row.id)
        return _participant_view(row, cohort, next_due, self.today())

    def participants(
        self,
        *,
        cohort: str | None = None,
        state: str | None = None,
        overdue: bool = False,
    ) -> list[ParticipantView]:
        """Participants, optionally of one cohort or state; ``overdue`` keeps those with an
        overdue obligation, the latest first."""
        if state is not None and state not in STATE_NAMES:
            raise InvalidInput(f"unknown state '{state}'; choose one of: {', '.join(STATE_NAMES)}")
        today = self.today()
        with self.db.reading() as conn:
            query = select(PARTICIPANTS).order_by(PARTICIPANTS.c.id)
            if cohort is not None:
                query = query.where(PARTICIPANTS.c.cohort_id == cohort_row(conn, cohort).id)
            if state is not None:
                query = query.where(PARTICIPANTS.c.state == state)
            if overdue:
                query = query.where(PARTICIPANTS.c.state.not_in(FINAL_STATES))
            rows = [ParticipantRow.from_row(r) for r in conn.execute(query)]
            cohorts = load_cohorts(conn, {r.cohort_id for r in rows}) if rows else {}
        views = [_participant_view(r, cohorts[r.cohort_id], None, today) for r in rows]
        if overdue:
            views = [v for v in views if v.overdue]
            views.sort(key=lambda v: min(o.due for o in v.overdue))
        return views

    def set_host(
        self, ref: str | int, *, name: str, email: str, role: str, municipality: str
    ) -> ParticipantView:
        """Register (or replace) the host of a participant's career visit."""
        values, invalid = validation.check(
            validation.HOST, {"name": name, "email": email, "municipality": municipality}
        )
        problems = [str(problem) for problem in invalid]
        if role not in HOST_ROLES:
            problems.append(f"the host's role must be one of {', '.join(HOST_ROLES)}")

        def change(step: Step) -> list[str]:
            if "municipality" in values and not same_municipality(
                municipality, step.row.municipality
            ):
                problems.append(
                    f"the host is in {municipality}, but the participant is in "
                    f"{step.row.municipality}: the career visit must be in the participant's "
                    "own municipality"
                )
            if step.finished:
                problems.append(f"the participant is {step.state}; the path has ended")
            if problems:
                raise GuardFailed("set_host", problems)
            step.facts = step.facts.with_changes(
                host=Host(values["name"], values["email"], role, values["municipality"])
            )
            step.record("set_host", step.state, step.state, data={"role": role})
            if step.facts.career_visit is None:
                step.host_deadline = host_letter_deadline(step.now, step.cohort.plan)
            return []

        return self._change(ref, change).participant

    # -- steps --------------------------------------------------------------------------------

    def advance(self, ref: str | int, request: StepRequest, *, dry_run: bool = False) -> StepResult:
        """Fire a trigger for one participant: refused as a whole, or written as a whole."""
        trigger = normalise_trigger(request.trigger)
        validation.step_texts(request.note, request.reason, request.goals)
        target = self._target_plan(request.to) if request.to else None
        args = _args(request, target)

        def change(step: Step) -> list[str]:
            return self._fire(step, trigger, args, target_code=request.to)

        return self._change(ref, change, dry_run=dry_run, defer_to=request.to)

    def advance_cohort(
        self,
        code: str,
        request: StepRequest,
        *,
        except_refs: Iterable[str] = (),
        progress: Callable[[int], None] | None = None,
    ) -> BulkResult:
        """Fire a trigger for every active participant of a cohort; each is refused or advanced
        on its own. Raises :class:`BulkRefused` after writing the rest when any was refused."""
        return self.advance_cohorts([code], request, except_refs=except_refs, progress=progress)

    def advance_cohorts(
        self,
        codes: Sequence[str],
        request: StepRequest,
        *,
        except_refs: Iterable[str] = (),
        progress: Callable[[int], None] | None = None,
    ) -> BulkResult:
        """:meth:`advance_cohort` for several cohorts at once (a teaching day that parallel
        cohorts share): one read and a transaction per 500 participants, not per cohort."""
        trigger = normalise_trigger(request.trigger)
        if trigger not in TRIGGERS:
            raise InvalidInput(
                f"unknown trigger '{request.trigger}'; choose one of: {', '.join(TRIGGERS)}"
            )
        if trigger == "defer":
            raise InvalidInput("defer moves one participant at a time; name the participant")
        validation.step_texts(request.note, request.reason, request.goals)
        args = _args(request, None)
        now = self.now()
        wanted = list(dict.fromkeys(code.strip() for code in codes))
        if not wanted:
            raise InvalidInput("name at least one cohort (--cohort CODE)")
        excluded = {
            validation.lookup_email(ref) if "@" in ref else ref.lstrip("#").lower()
            for ref in (str(given).strip() for given in except_refs)
            if ref
        }
        refused: dict[str, list[str]] = {}
        advanced: list[tuple[int, str, str]] = []
        skipped = 0
        with self.db.reading() as conn:
            cohorts = {
                cohort.id: cohort
                for cohort in (
                    CohortRow.from_row(r)
                    for r in conn.execute(select(COHORTS).where(COHORTS.c.code.in_(wanted)))
                )
            }
            found = {cohort.code for cohort in cohorts.values()}
            missing = [code for code in wanted if code not in found]
            if missing:
                raise NotFound(f"no cohort with code '{missing[0]}'; see `lps cohort list`")
            rows = [
                ParticipantRow.from_row(r)
                for r in conn.execute(
                    select(PARTICIPANTS)
                    .where(
                        PARTICIPANTS.c.cohort_id.in_(list(cohorts)),
                        PARTICIPANTS.c.state.not_in(FINAL_STATES),
                    )
                    .order_by(PARTICIPANTS.c.id)
                )
            ]
        known = {str(row.id) for row in rows} | {row.email.lower() for row in rows}
        unknown = sorted(excluded - known)
        if unknown:
            where = f"cohort {wanted[0]}" if len(wanted) == 1 else f"the {len(wanted)} cohorts"
            raise InvalidInput(f"--except names nobody active in {where}: {', '.join(unknown)}")
        steps: list[Step] = []
        with attached() as model:
            for row in rows:
                if str(row.id) in excluded or row.email.lower() in excluded:
                    skipped += 1
                    continue
                step = Step(row, cohorts[row.cohort_id], now, self.actor)
                try:
                    self._fire(step, trigger, args, model=model)
                except GuardFailed as refusal:
                    refused[f"{row.email} (#{row.id})"] = refusal.reasons
                    continue
                steps.append(step)
        batch = 500
        for start in range(0, len(steps), batch):
            chunk = steps[start : start + batch]
            with self.db.transaction() as conn:
                conflicts = self._write(conn, chunk, raise_conflict=False)
            for step in chunk:
                if step in conflicts:
                    refused[f"{step.row.email} (#{step.row.id})"] = [
                        "changed by someone else at the same time; try again"
                    ]
                else:
                    advanced.append((step.row.id, step.row.state, step.state))
            if progress:
                progress(len(chunk))
        if refused:
            raise BulkRefused(refused, len(advanced))
        return BulkResult(advanced, refused, skipped)

    def waive(self, ref: str | int, obligation: str, reason: str) -> StepResult:
        """Waive an obligation with a reason: an audited decision, never a silent override."""
        name = normalise_trigger(obligation)
        validation.REASON.clean(reason)

        def change(step: Step) -> list[str]:
            problems = []
            if not reason or not reason.strip():
                problems.append("a reason is required (--reason TEXT)")
            if step.finished:
                problems.append(f"the participant is {step.state}; the path has ended")
            refusal = waiver_refusal(name, step.facts, step.cohort.plan)
            if refusal:
                problems.append(refusal)
            if problems:
                raise GuardFailed("waive", problems)
            step.facts = apply_waiver(name, step.facts, reason.strip(), step.situation().today)
            step.record(
                "waive", step.state, step.state, note=reason.strip(), data={"obligation": name}
            )
            with attached() as model:
                return self._pass_through(step, model)

        return self._change(ref, change)

    def triggers(self, ref: str | int) -> list[TriggerView]:
        """Every trigger: possible now, or the rules and obligations that stand in the way."""
        with self.db.reading() as conn:
            row = _find_participant(conn, ref)
            cohort = load_cohorts(conn, {row.cohort_id})[row.cohort_id]
        situation = Situation(row.state, row.facts, cohort.plan, row.municipality, self.now())
        views = []
        for trigger in TRIGGERS:
            reasons = refusals(trigger, situation, _PROBE_ARGS)
            reasons = [r for r in reasons if not _needs_input_only(r)]
            views.append(
                TriggerView(
                    trigger,
                    not reasons,
                    reasons,
                    blocking_obligations(trigger, situation) if reasons else [],
                )
            )
        return views

    def history(self, ref: str | int) -> list[AuditView]:
        with self.db.reading() as conn:
            row = _find_participant(conn, ref)
            entries = conn.execute(
                select(AUDIT).where(AUDIT.c.participant_id == row.id).order_by(AUDIT.c.seq)
            ).all()
        return [_audit_view(e._mapping) for e in entries]

    # -- deadlines and delivery ---------------------------------------------------------------

    def remind(
        self,
        *,
        dry_run: bool = False,
        channel: Channel | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> SweepReport:
        """Run the sweep once: due timed triggers, reminders, the digest, then delivery."""
        from workflow.sweep import sweep

        if channel is None and not dry_run:
            channel = default_channel()
        return sweep(self, dry_run=dry_run, channel=channel, progress=progress)

    def outbox(self, status: str | None = None, limit: int = 200) -> list[OutboxView]:
        """Outgoing messages, newest first."""
        if status is not None and status not in OUTBOX_STATUSES:
            raise InvalidInput(
                f"unknown status '{status}'; choose one of: {', '.join(OUTBOX_STATUSES)}"
            )
        with self.db.reading() as conn:
            query = select(
                OUTBOX.c.id,
                OUTBOX.c.participant_id,
                OUTBOX.c.rule,
                OUTBOX.c.occurrence,
                OUTBOX.c.recipient,
                OUTBOX.c.subject,
                OUTBOX.c.status,
                OUTBOX.c.attempts,
                OUTBOX.c.next_attempt_at,
                OUTBOX.c.sent_at,
                OUTBOX.c.last_error,
                OUTBOX.c.created_at,
            ).order_by(OUTBOX.c.id.desc())
            if status is not None:
                query = query.where(OUTBOX.c.status == status)
            rows = conn.execute(query.limit(limit)).all()
        return [OutboxView(**row._mapping) for row in rows]

    def retry_message(self, message_id: int) -> OutboxView:
        """Put a failed or dropped message back in the queue, to be sent on the next sweep."""
        with self.db.transaction() as conn:
            row = (
                conn.execute(
                    select(OUTBOX.c.status, PARTICIPANTS.c.erased_at)
                    .select_from(OUTBOX.outerjoin(PARTICIPANTS))
                    .where(OUTBOX.c.id == message_id)
                ).first()
                if 0 < message_id <= LARGEST_ID
                else None
            )
            if row is None:
                raise NotFound(f"no outbox message with id {message_id}; see `lps outbox list`")
            if row.erased_at is not None:
                raise InvalidInput(
                    f"message {message_id} belongs to an erased participant; it cannot be sent"
                )
            if row.status in ("sent", "pending"):
                raise InvalidInput(
                    f"message {message_id} is {row.status}; "
                    "only failed or dropped messages can be retried"
                )
            conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == message_id)
                .values(
                    status="pending", attempts=0, next_attempt_at=self.now(), claimed_until=None
                )
            )
        return next(v for v in self.outbox() if v.id == message_id)

    # -- internals ----------------------------------------------------------------------------

    def _target_plan(self, code: str) -> CohortPlan:
        with self.db.reading() as conn:
            return cohort_row(conn, code).plan

    def _fire(
        self,
        step: Step,
        trigger: str,
        args: StepArgs,
        *,
        model: StepModel | None = None,
        target_code: str | None = None,
    ) -> list[str]:
        if model is None:
            with attached() as fresh:
                return self._fire(step, trigger, args, model=fresh, target_code=target_code)
        notices = _apply(step, model, trigger, args, note=_note(trigger, args))
        return notices + self._pass_through(step, model)

    def _pass_through(self, step: Step, model: StepModel) -> list[str]:
        notices: list[str] = []
        for _ in range(5):
            situation = step.situation()
            rule = pass_through_for(situation)
            if rule is None:
                break
            notices += _apply(
                step, model, rule.trigger, StepArgs(automatic=True), note=rule.note(situation)
            )
        return notices

    def _change(
        self,
        ref: str | int,
        change: Callable[[Step], list[str]],
        *,
        dry_run: bool = False,
        defer_to: str | None = None,
    ) -> StepResult:
        now = self.now()
        with self.db.reading() as conn:
            row = _find_participant(conn, ref)
            cohort = load_cohorts(conn, {row.cohort_id})[row.cohort_id]
        step = Step(row, cohort, now, self.actor)
        notices = change(step)
        if dry_run:
            return self._result(step, notices, dry_run=True)
        with self.db.transaction() as conn:
            self._write(conn, [step])
            if step.state == "deferred" and defer_to:
                notices += self._enrol_deferred(conn, step, defer_to)
        return self._result(step, notices)

    def _enrol_deferred(self, conn: Connection, old: Step, code: str) -> list[str]:
        cohort = cohort_row(conn, code)
        if _email_taken(conn, cohort.id, old.row.email):
            raise GuardFailed("defer", [f"{old.row.email} is already enrolled in cohort {code}"])
        row = _insert_participant(
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
        carried = Facts(
            manager_conversation=old.facts.manager_conversation,
            goals=old.facts.goals,
            host=old.facts.host,
        )
        step = Step(row, cohort, old.now, self.actor)
        # The carried facts are the step's change to the new row, written with it.
        step.facts = carried
        notices = _start_path(step, note=f"deferred from cohort {old.cohort.code} (#{old.row.id})")
        with attached() as model:
            notices += self._pass_through(step, model)
        self._write(conn, [step])
        return notices

    def _write(
        self, conn: Connection, steps: list[Step], *, raise_conflict: bool = True
    ) -> list[Step]:
        conflicts = write_steps(conn, steps)
        if conflicts and raise_conflict:
            raise ConcurrentChange(
                f"participant #{conflicts[0].row.id} was changed by someone else at the same "
                "time; nothing was written; try again"
            )
        return conflicts

    def _result(self, step: Step, notices: list[str], *, dry_run: bool = False) -> StepResult:
        cohort = step.cohort
        row = _replace_facts(step.row, step.facts)
        row = ParticipantRow(
            **{**row.__dict__, "state": step.state, "version": row.version + (0 if dry_run else 1)}
        )
        view = _participant_view(row, cohort, None, step.situation().today)
        entries = [_audit_view(entry) for entry in step.audit]
        return StepResult(view, entries, notices, dry_run)


# -- helpers ----------------------------------------------------------------------------------


def _check_days(days: list[date]) -> None:
    if len(days) != 5:
        raise InvalidInput(f"a cohort has five teaching days; got {len(days)}")
    for earlier, later in itertools.pairwise(days):
        if later <= earlier:
            raise InvalidInput(
                f"teaching days must be five strictly increasing dates; "
                f"{later.isoformat()} does not come after {earlier.isoformat()}"
            )


def _shown(value: str | None) -> str:
    # repr shows a line break or control character of a value being corrected as an escape.
    return "none" if value is None else repr(value)


def enrolment_closed(cohort: CohortRow, today: date) -> list[str]:
    """The enrolment rule of the cohort itself: it closes before teaching day 1."""
    if today >= cohort.days[0]:
        return [
            f"cohort {cohort.code} started on {cohort.days[0].isoformat()}; "
            "enrolment closes before teaching day 1"
        ]
    return []


def _insert_participant(
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


def _replace_facts(row: ParticipantRow, facts: Facts) -> ParticipantRow:
    return ParticipantRow(**{**row.__dict__, "facts": facts})


def _start_path(step: Step, note: str | None) -> list[str]:
    step.schedule(cohort_deadlines(step.cohort.plan), skip_passed=True)
    notified, described = _notify_step(step, "enrol", StepArgs())
    step.record("enrol", None, INITIAL_STATE, note=note, data=_notified(notified))
    return described


def _notified(rules: list[str]) -> dict[str, Any]:
    return {"notified": rules} if rules else {}


def _apply(
    step: Step, model: StepModel, trigger: str, args: StepArgs, note: str | None
) -> list[str]:
    situation = step.situation()
    before = step.state
    fired = model.fire(situation, trigger, args)
    if fired is None:
        # The machine evaluated the guards; nothing of the step has changed.
        raise GuardFailed(trigger, model.refused, blocking_obligations(trigger, situation))
    step.state, step.facts = fired
    data: dict[str, Any] = {}
    if args.automatic:
        data["automatic"] = True
    if args.on is not None:
        data["on"] = args.on.isoformat()
    if trigger == "register_day":
        data["day"] = len(step.facts.days)
        data["attended"] = not args.absent
    if args.early:
        data["early"] = True
    if args.target is not None:
        data["to"] = args.target.code
    if args.internship is not None:
        data["internship"] = args.internship
    if trigger == "certify" and step.facts.certified is not None:
        step.schedule(certified_deadlines(step.facts.certified, step.cohort.plan))
    notified, described = _notify_step(step, trigger, args)
    data.update(_notified(notified))
    step.record(trigger, before, step.state, note=note, data=data)
    return described


def _attachment_for(step: Step, rule: str) -> Callable[[str], tuple[str, str, bytes] | None] | None:
    """The file a step's mail carries: the teaching days with the welcome mail, the
    certificate (kursusbevis) with the certificate mail."""
    if rule == "welcome":
        from workflow.calendars import teaching_days_attachment

        return lambda language: teaching_days_attachment(step.cohort, language)
    if rule == "certificate" and step.facts.certified is not None:
        from workflow.certificate import PDF_TYPE, file_name, render_certificate

        issued = step.facts.certified
        try:
            pdf = render_certificate(
                step.row.name,
                step.row.municipality,
                step.cohort.name,
                step.cohort.code,
                list(step.cohort.days),
                issued,
                messages.certificate_code(step.row.id, issued),
            )
        except InvalidInput:
            return None  # a letter no shipped font can draw: the mail goes without the PDF
        return lambda language: (file_name(step.row.id), PDF_TYPE, pdf)
    return None


def _notify_step(step: Step, trigger: str, args: StepArgs) -> tuple[list[str], list[str]]:
    """Queue the notifications a step sends; returns (rule names, descriptions)."""
    rules: list[str] = []
    described: list[str] = []
    for notice in STEP_NOTICES.get(trigger, ()):
        if not notice.when(args):
            continue
        occurrence = len(step.facts.days) if notice.rule == "absence_notice" else 0
        extras = {"reason": args.reason or ""} if notice.rule == "withdrawal_notice" else None
        roles = messages.queue(
            step,
            notice.rule,
            notice.recipients,
            occurrence=occurrence,
            extras=extras,
            attachment=_attachment_for(step, notice.rule),
        )
        if roles:
            rules.append(notice.rule)
            described.append(f"{notice.rule} → {', '.join(roles)}")
    return rules, described


def _note(trigger: str, args: StepArgs) -> str | None:
    parts = [p for p in (args.reason, args.note) if p]
    if trigger == "hold_manager_conversation" and args.goals and not args.note:
        return None
    return " — ".join(parts) if parts else None


def _args(request: StepRequest, target: CohortPlan | None) -> StepArgs:
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


_INPUT_ONLY = (
    "learning goal is required",
    "a reason is required",
    "name the later cohort",
)


def _needs_input_only(reason: str) -> bool:
    return any(marker in reason for marker in _INPUT_ONLY)


# Stand-ins for what the administrator would type, so `triggers` reports only the rules.
_PROBE_ARGS = StepArgs(goals=("?",), reason="?")


def cohort_row(conn: Connection, code: str) -> CohortRow:
    """The cohort with ``code``, or :class:`NotFound` naming where to look."""
    row = conn.execute(select(COHORTS).where(COHORTS.c.code == code.strip())).first()
    if row is None:
        raise NotFound(f"no cohort with code '{code}'; see `lps cohort list`")
    return CohortRow.from_row(row)


def _email_taken(conn: Connection, cohort_id: int, email: str) -> bool:
    return (
        conn.execute(
            select(PARTICIPANTS.c.id).where(
                PARTICIPANTS.c.cohort_id == cohort_id,
                PARTICIPANTS.c.email == validation.lookup_email(email),
            )
        ).first()
        is not None
    )


# Row ids are 64-bit integers; a larger number names nothing (and no driver would take it).
LARGEST_ID = 2**63 - 1


def _find_participant(conn: Connection, ref: str | int) -> ParticipantRow:
    text = str(ref).strip()
    if text.lstrip("#").isdigit():
        number = int(text.lstrip("#"))
        row = (
            conn.execute(select(PARTICIPANTS).where(PARTICIPANTS.c.id == number)).first()
            if number <= LARGEST_ID
            else None
        )
        if row is None:
            raise NotFound(f"no participant with id {text}; see `lps participant list`")
        return ParticipantRow.from_row(row)
    rows = conn.execute(
        select(PARTICIPANTS)
        .where(PARTICIPANTS.c.email == validation.lookup_email(text))
        .order_by(PARTICIPANTS.c.id.desc())
    ).all()
    if not rows:
        raise NotFound(f"no participant with email '{text}'; see `lps participant list`")
    active = [r for r in rows if r.state not in FINAL_STATES]
    if len(active) > 1:
        ids = ", ".join(str(r.id) for r in active)
        raise InvalidInput(f"{text} is active in several cohorts (ids {ids}); use the id")
    return ParticipantRow.from_row(active[0] if active else rows[0])


def _next_due(conn: Connection, participant_id: int) -> tuple[str, datetime] | None:
    row = conn.execute(
        select(DEADLINES.c.rule, DEADLINES.c.due_at)
        .where(DEADLINES.c.participant_id == participant_id, DEADLINES.c.status == "pending")
        .order_by(DEADLINES.c.due_at)
        .limit(1)
    ).first()
    return (row.rule, row.due_at) if row else None


def _cohort_view(row: CohortRow, counts: dict[str, int]) -> CohortView:
    return CohortView(
        code=row.code,
        name=row.name,
        days=row.days,
        venue=row.venue,
        admin_email=row.admin_email,
        max_absences=row.max_absences,
        send_hour=row.send_hour,
        jti_link=row.jti_link,
        articles=row.articles,
        participants=sum(counts.values()),
        by_state={s: counts[s] for s in STATE_NAMES if s in counts},
    )


def _participant_view(
    row: ParticipantRow,
    cohort: CohortRow,
    next_due: tuple[str, datetime] | None,
    today: date,
) -> ParticipantView:
    plan = cohort.plan
    active = row.state not in FINAL_STATES
    obligations = []
    for name in OBLIGATIONS:
        status = obligation_status(name, row.facts, plan)
        due = obligation_due(name, plan)
        waiver = row.facts.waivers.get(name)
        obligations.append(
            ObligationView(
                name,
                status,
                due,
                overdue=active and status == "open" and due < today,
                waiver_reason=waiver.reason if waiver else None,
            )
        )
    return ParticipantView(
        id=row.id,
        name=row.name,
        email=row.email,
        cohort=cohort.code,
        municipality=row.municipality,
        workplace=row.workplace,
        language=row.language,
        manager_name=row.manager_name,
        manager_email=row.manager_email,
        state=row.state,
        version=row.version,
        definition_version=row.definition_version,
        obligations=obligations,
        next_due=next_due if active else None,
        facts=row.facts,
        network_group=row.network_group,
    )


def _audit_view(m: Any) -> AuditView:
    return AuditView(
        seq=m["seq"],
        at=m["at"],
        actor=m["actor"],
        event=m["event"],
        from_state=m["from_state"],
        to_state=m["to_state"],
        note=m["note"],
        data=dict(m["data"] or {}),
    )
