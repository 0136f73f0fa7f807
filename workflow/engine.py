"""The engine's public API: what the CLI, and anyone scripting lps in Python, calls.

:class:`Workflow` is the one facade. Each of its steps goes through the kernel
(:mod:`workflow.kernel`); what it returns are the views of :mod:`workflow.views`.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from states.errors import Refusal
from states.facts import Host
from states.programme import (
    FINAL_STATES,
    LOCAL_TZ,
    ONE_AT_A_TIME,
    REASON_REQUIRED,
    STATE_NAMES,
    TRIGGERS,
    CohortPlan,
    Situation,
    StepArgs,
    apply_waiver,
    blocking_obligations,
    normalise_trigger,
    path_ended,
    refusals,
    same_municipality,
    waiver_refusal,
)
from states.rules import cohort_deadlines, host_letter_deadline
from workflow import programmes, validation
from workflow.clock import Clock
from workflow.collector import collector_paused
from workflow.db import Database
from workflow.errors import BulkRefused, GuardFailed, InvalidInput, NotFound
from workflow.kernel import (
    Attachment,
    Runtime,
    StepRequest,
    fire,
    insert_participant,
    out_of_order,
    pass_through,
    start_path,
    step_args,
    step_result,
    write,
)
from workflow.kernel import change as change_step
from workflow.machine import attached
from workflow.queries import (
    LARGEST_ID,
    cohort_row,
    cohorts_of,
    email_taken,
    find_participant,
    next_due,
)
from workflow.records import (
    AUDIT,
    COHORTS,
    DEADLINES,
    OUTBOX,
    PARTICIPANTS,
    CohortRow,
    ParticipantRow,
    Step,
    load_cohorts,
)
from workflow.settings import Settings
from workflow.validation import check_days
from workflow.views import (
    OUTBOX_STATUSES,
    AuditView,
    BulkResult,
    CohortChange,
    CohortView,
    MessageView,
    OutboxView,
    ParticipantView,
    StepResult,
    TriggersView,
    TriggerView,
    audit_view,
    cohort_view,
    participant_view,
)

if TYPE_CHECKING:
    from notifications.delivery import Channel
    from workflow.access import Grant
    from workflow.certificate import IssuedCertificate
    from workflow.checkpoints import Checkpoint
    from workflow.groups import Grouping
    from workflow.importer import ImportReport
    from workflow.moves import MigrationPlan, Moved
    from workflow.operations import Health, Status, Supervisor, Thresholds
    from workflow.privacy import Erasure, PurgeCandidate, PurgeReport
    from workflow.report import Report
    from workflow.selfservice import ApprovalView, LinkPage, Submitted
    from workflow.sweep import SweepReport
    from workflow.verify import VerifyReport

__all__ = [
    "AuditView",
    "BulkResult",
    "CohortChange",
    "CohortView",
    "OutboxView",
    "ParticipantView",
    "StepRequest",
    "StepResult",
    "TriggerView",
    "TriggersView",
    "Workflow",
]

HOST_ROLES = ("leader", "hr")


def default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


# Participants read from the database at a time by a listing.
_LISTING_BATCH = 1000


# -- The engine -------------------------------------------------------------------------------


class Workflow:
    """The programme engine on one database, with one clock and one acting administrator.

    ``settings`` default to those of an unset environment; ``clock`` to the settings' clock
    (``LPS_NOW``, else the system clock); ``actor`` to the operating-system user.
    """

    def __init__(
        self,
        database: Database,
        *,
        clock: Clock | None = None,
        actor: str | None = None,
        settings: Settings | None = None,
        via: str = "cli",
    ):
        self.settings = settings or Settings()
        self.db = database
        if database.audit_key is None:
            database.audit_key = self.settings.audit_key
        self.clock = clock or self.settings.clock()
        self.actor: str = validation.ACTOR.clean(actor or default_actor())
        self.runtime = Runtime(
            database,
            self.clock,
            self.actor,
            attachments={
                "teaching_days": _teaching_days,
                "certificate": _certificate,
            },
            settings=self.settings,
            channel=via,
        )
        self._load_programmes()

    def _load_programmes(self) -> None:
        # The versions this database has installed become known to the process, so that a
        # cohort's row names a programme the engine can run.
        from sqlalchemy.exc import DBAPIError

        try:
            with self.db.reading() as conn:
                programmes.load_installed(conn)
        except DBAPIError:
            pass  # a database without the schema yet: `lps init` creates it

    @classmethod
    def open(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        actor: str | None = None,
        settings: Settings | None = None,
    ) -> Workflow:
        """Open an existing lps database, refusing one without the current schema."""
        database = Database(url)
        database.check_schema()
        return cls(database, clock=clock, actor=actor, settings=settings)

    def channel(self) -> Channel:
        """Where this engine's mail goes, by its settings: SMTP, or ``.eml`` files."""
        return self.settings.channel()

    def now(self) -> datetime:
        return self.clock.now()

    def today(self) -> date:
        return self.now().astimezone(LOCAL_TZ).date()

    def _target_plan(self, code: str) -> CohortPlan:
        with self.db.reading() as conn:
            return cohort_row(conn, code).plan

    # -- programme versions -------------------------------------------------------------------

    def check_programme(self, path: Path) -> programmes.ProgrammeView:
        """Check a definition file and its templates through; nothing is written.
        :class:`~states.definition.DefinitionError` names every problem."""
        found = programmes.check_file(path)
        definition = found.definition
        return programmes.ProgrammeView(
            definition.version, False, 0, 0, definition.day_count, False, None
        )

    def install_programme(self, path: Path) -> programmes.Installed:
        """Install a definition file (and its templates) as a new, unchangeable version."""
        with self.db.transaction() as conn:
            return programmes.install(conn, path, self.now(), self.actor)

    def programmes(self) -> list[programmes.ProgrammeView]:
        """Every programme version, which one new cohorts get, and how many are on each."""
        with self.db.reading() as conn:
            return programmes.listing(conn)

    def programme_text(self, version: str | None = None, fmt: str = "toml") -> str:
        """A version (default: the one for new cohorts) as a definition file, JSON or a
        Mermaid diagram."""
        with self.db.reading() as conn:
            found = programmes.resolve(conn, version)
        return programmes.programme_text(found, fmt)

    def diagram(
        self, version: str | None = None, fmt: str = "mermaid", *, exits: bool = False
    ) -> str:
        """A programme version's state machine as Mermaid, DOT or SVG."""
        from states import diagram as drawing

        with self.db.reading() as conn:
            found = programmes.resolve(conn, version)
        drawers = {"mermaid": drawing.mermaid, "dot": drawing.dot, "svg": drawing.svg}
        return str(drawers[fmt](exits, found))

    def diff_programmes(self, a: str, b: str) -> list[str]:
        """What differs between two versions, one line each."""
        with self.db.reading() as conn:
            return programmes.diff(programmes.resolve(conn, a), programmes.resolve(conn, b))

    def set_default_programme(self, version: str) -> str:
        """Make ``version`` the programme of cohorts created from now on."""
        with self.db.transaction() as conn:
            return programmes.set_default(conn, version)

    def plan_migration(
        self,
        cohort: str,
        to_version: str,
        mapping: Sequence[str] = (),
        days: Sequence[str] = (),
        *,
        allow_holiday: bool = False,
    ) -> MigrationPlan:
        """Dry run of moving cohort ``cohort`` to ``to_version`` (``mapping``: ``OLD=NEW``
        states; ``days``: ``N=YYYY-MM-DD`` for each day the version has beyond the cohort's):
        every participant moves, is blocked (with reasons) or has finished. The plan is kept
        for :meth:`apply_migration`; no participant is touched."""
        from workflow import moves

        return moves.dry_run(
            self.db,
            cohort,
            to_version,
            moves.parse_map(list(mapping)),
            self.now(),
            self.actor,
            moves.parse_days(list(days)),
            allow_holiday,
        )

    def apply_migration(self, plan: str) -> Moved:
        """Carry out the dry run ``plan`` exactly: the cohort and everyone who moves go to the
        new version, the blocked stay on theirs (named in the result). Refused, naming who,
        if anyone changed since."""
        from workflow import moves

        return moves.apply_plan(self.db, plan, self.now(), self.actor)

    # -- cohorts ------------------------------------------------------------------------------

    def create_cohort(
        self,
        code: str,
        *,
        name: str,
        days: list[date],
        venue: str | None = None,
        admin_email: str | None = None,
        max_absences: int | None = None,
        send_hour: int | None = None,
        jti_link: str | None = None,
        articles: list[dict[str, str]] | None = None,
        self_service: str = "off",
        link_days: int = 28,
        programme: str | None = None,
        closure_days: list[date] | None = None,
        allow_holiday: bool = False,
    ) -> CohortView:
        """Create a cohort with its teaching days, on programme version ``programme`` (by
        default the one `lps programme default` names). A teaching day on a Danish public
        holiday or a closure day is refused unless ``allow_holiday``; ``closure_days`` are
        the cohort's own days off beside the programme's. ``max_absences`` and ``send_hour``
        default to the programme's. ``self_service`` says what the personal links in its
        mail may do: ``off``, ``record`` or ``approve``; they work until ``link_days`` after
        the due day of what they ask for."""
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
        with self.db.reading() as conn:
            chosen = programmes.resolve(conn, programme)
        check_days(days, chosen.definition.day_count)
        if max_absences is None:
            max_absences = chosen.definition.max_absences
        if send_hour is None:
            send_hour = chosen.definition.send_hour
        closed = frozenset(closure_days or ())
        if not allow_holiday:
            holidays = validation.holiday_refusals(days, chosen.definition.closures | closed)
            if holidays:
                raise GuardFailed("create_cohort", holidays)
        if max_absences < 0 or max_absences > 4:
            raise InvalidInput("the absences allowed must be between 0 and 4")
        if not 0 <= send_hour <= 23:
            raise InvalidInput("the send hour must be between 0 and 23")
        self._check_self_service(self_service, link_days)
        with self.db.transaction() as conn:
            exists = conn.execute(select(COHORTS.c.id).where(COHORTS.c.code == code)).first()
            if exists:
                raise InvalidInput(f"cohort {code} already exists; choose another code")
            conn.execute(
                COHORTS.insert().values(
                    code=code,
                    name=values["name"],
                    **{f"day_{number}": day for number, day in enumerate(days, start=1)},
                    programme=chosen.version,
                    closed_days=sorted(day.isoformat() for day in closed),
                    venue=values["venue"],
                    admin_email=values["admin_email"],
                    max_absences=max_absences,
                    send_hour=send_hour,
                    jti_link=values["jti_link"],
                    articles=cleaned_articles,
                    schedule_sequence=0,
                    created_at=self.now(),
                    self_service=self_service,
                    link_days=link_days,
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
        return cohort_view(cohort, counts)

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
        return [cohort_view(row, counts.get(row.id, {})) for row in rows]

    def update_cohort(
        self,
        code: str,
        *,
        name: str | None = None,
        venue: str | None = None,
        admin_email: str | None = None,
        self_service: str | None = None,
        link_days: int | None = None,
    ) -> CohortChange:
        """Correct a cohort's name, venue or admin email (``None``: leave it; an empty venue
        or admin email: remove it), or change its ``self_service`` and ``link_days``. Every
        participant's trail records what changed, and mail queued from then on uses the new
        values."""
        given = {
            field: value
            for field, value in (("name", name), ("venue", venue), ("admin_email", admin_email))
            if value is not None
        }
        if not given and self_service is None and link_days is None:
            raise InvalidInput(
                "nothing to change: give a new name, venue, admin email, self-service or link days"
            )
        values: dict[str, Any] = validation.clean_all(validation.COHORT, given) if given else {}
        if self_service is not None or link_days is not None:
            self._check_self_service(self_service or "off", 28 if link_days is None else link_days)
            if self_service is not None:
                values["self_service"] = self_service
            if link_days is not None:
                values["link_days"] = link_days
        now = self.now()
        with self.db.transaction() as conn:
            cohort = cohort_row(conn, code)
            old = {
                "name": cohort.name,
                "venue": cohort.venue,
                "admin_email": cohort.admin_email,
                "self_service": cohort.self_service,
                "link_days": cohort.link_days,
            }
            changed = [field for field in values if values[field] != old[field]]
            if not changed:
                return CohortChange(self.cohort(code), ())
            conn.execute(
                update(COHORTS)
                .where(COHORTS.c.id == cohort.id)
                .values({field: values[field] for field in changed})
            )
            updated = replace(cohort, **{f: values[f] for f in changed})
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
                step = Step(
                    ParticipantRow.from_row(row),
                    updated,
                    now,
                    self.actor,
                    channel=self.runtime.channel,
                )
                step.record(
                    "update_cohort", step.state, step.state, note=note, data={"changed": changed}
                )
                steps.append(step)
            write(conn, steps)
        return CohortChange(self.cohort(code), tuple(changed))

    def _check_self_service(self, mode: str, link_days: int) -> None:
        from workflow.links import SELF_SERVICE_MODES

        if mode not in SELF_SERVICE_MODES:
            raise InvalidInput(
                f"unknown self-service '{mode}'; choose one of: {', '.join(SELF_SERVICE_MODES)}"
            )
        if mode != "off" and not self.settings.base_url:
            raise InvalidInput(
                "self-service needs LPS_BASE_URL, the address the links in the mail point to "
                "(e.g. https://lps.kommune.dk); set it first"
            )
        if not 1 <= link_days <= 365:
            raise InvalidInput("the link days must be between 1 and 365")

    def reschedule(
        self, code: str, day: int, new_date: date, *, allow_holiday: bool = False
    ) -> CohortView:
        """Move one teaching day; every pending deadline of the cohort follows. A public
        holiday or closure day is refused unless ``allow_holiday``."""
        now = self.now()
        with self.db.transaction() as conn:
            cohort = cohort_row(conn, code)
            count = len(cohort.days)
            if day not in range(1, count + 1):
                raise InvalidInput(f"--day must be a number from 1 to {count}")
            days = list(cohort.days)
            days[day - 1] = new_date
            check_days(days, count)
            if cohort.later_days and new_date >= cohort.later_days[0]:
                raise InvalidInput(
                    f"day {day} must come before {cohort.later_days[0].isoformat()}, day "
                    f"{count + 1} of those still on a programme version with more days"
                )
            if not allow_holiday:
                holidays = validation.holiday_refusals([new_date], cohort.plan.closures)
                if holidays:
                    raise GuardFailed("reschedule", holidays)
            conn.execute(
                update(COHORTS)
                .where(COHORTS.c.id == cohort.id)
                .values(
                    **{f"day_{day}": new_date},
                    schedule_sequence=cohort.schedule_sequence + 1,
                )
            )
            moved = replace(cohort, days=tuple(days))
            # Each version's rules put the deadlines of its own participants.
            versions = conn.execute(
                select(PARTICIPANTS.c.definition_version)
                .where(PARTICIPANTS.c.cohort_id == cohort.id)
                .distinct()
            ).scalars()
            for version in sorted(versions):
                plan = moved.as_version(version).plan
                members = select(PARTICIPANTS.c.id).where(
                    PARTICIPANTS.c.cohort_id == cohort.id,
                    PARTICIPANTS.c.definition_version == version,
                )
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
                            DEADLINES.c.rule == letter.rule,
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
            problems = validation.enrolment_closed(cohort, self.today()) + [str(p) for p in invalid]
            if "email" in values and email_taken(conn, cohort.id, values["email"]):
                problems.append(f"{values['email']} is already enrolled in cohort {cohort.code}")
            if problems:
                raise GuardFailed("enrol", problems)
            row = insert_participant(conn, cohort, now, **values)
            step = Step(row, cohort, now, self.actor, channel=self.runtime.channel)
            notices = start_path(self.runtime, step, note=None)
            write(conn, [step])
        return step_result(step, notices)

    def participant(self, ref: str | int) -> ParticipantView:
        with self.db.reading() as conn:
            row = find_participant(conn, ref)
            cohort = load_cohorts(conn, {row.cohort_id})[row.cohort_id]
            due = next_due(conn, row.id)
        return participant_view(row, cohort, due, self.today())

    def participants(
        self,
        *,
        cohort: str | None = None,
        state: str | None = None,
        overdue: bool = False,
    ) -> list[ParticipantView]:
        """Participants, optionally of one cohort or state; ``overdue`` keeps those with an
        overdue obligation, the latest first."""
        return list(self.iter_participants(cohort=cohort, state=state, overdue=overdue))

    def iter_participants(
        self,
        *,
        cohort: str | None = None,
        state: str | None = None,
        overdue: bool = False,
    ) -> Iterator[ParticipantView]:
        """:meth:`participants` one at a time, read from the database as they are taken, so
        that a listing of any size holds a batch of rows rather than all of them (the
        ``overdue`` listing, sorted by due date, holds the overdue ones)."""
        if state is not None and state not in STATE_NAMES:
            raise InvalidInput(f"unknown state '{state}'; choose one of: {', '.join(STATE_NAMES)}")
        views = self._stream_participants(cohort, state, overdue)
        if overdue:
            return iter(sorted(views, key=lambda v: min(o.due for o in v.overdue)))
        return views

    def _stream_participants(
        self, cohort: str | None, state: str | None, overdue: bool
    ) -> Iterator[ParticipantView]:
        today = self.today()
        with self.db.reading() as conn:
            conditions = []
            if cohort is not None:
                conditions.append(PARTICIPANTS.c.cohort_id == cohort_row(conn, cohort).id)
            if state is not None:
                conditions.append(PARTICIPANTS.c.state == state)
            if overdue:
                conditions.append(PARTICIPANTS.c.state.not_in(FINAL_STATES))
            cohorts = cohorts_of(conn, conditions)
            query = select(PARTICIPANTS).where(*conditions).order_by(PARTICIPANTS.c.id)
            # Batches from a server-side cursor: the driver never holds the whole result.
            streamed = conn.execution_options(yield_per=_LISTING_BATCH).execute(query)
            for r in streamed:
                row = ParticipantRow.from_row(r)
                if row.cohort_id not in cohorts:  # a cohort created since the first query
                    cohorts.update(load_cohorts(conn, {row.cohort_id}))
                view = participant_view(row, cohorts[row.cohort_id], None, today)
                if not overdue or view.overdue:
                    yield view

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

        return change_step(self.runtime, ref, change).participant

    # -- steps --------------------------------------------------------------------------------

    def advance(self, ref: str | int, request: StepRequest, *, dry_run: bool = False) -> StepResult:
        """Fire a trigger for one participant: refused as a whole, or written as a whole."""
        trigger = normalise_trigger(request.trigger)
        validation.step_texts(request.note, request.reason, request.goals)
        target = self._target_plan(request.to) if request.to else None
        args = step_args(request, target)

        def change(step: Step) -> list[str]:
            return fire(self.runtime, step, trigger, args)

        return change_step(self.runtime, ref, change, dry_run=dry_run)

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

    @collector_paused()
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
        if trigger in ONE_AT_A_TIME:
            raise InvalidInput(f"{trigger} moves one participant at a time; name the participant")
        validation.step_texts(request.note, request.reason, request.goals)
        args = step_args(request, None)
        now = self.now()
        wanted = list(dict.fromkeys(code.strip() for code in codes))
        if not wanted:
            raise InvalidInput(Refusal("name at least one cohort", asks="cohort"))
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
            rows = list(
                ParticipantRow.from_rows(
                    conn.execute(
                        select(PARTICIPANTS)
                        .where(
                            PARTICIPANTS.c.cohort_id.in_(list(cohorts)),
                            PARTICIPANTS.c.state.not_in(FINAL_STATES),
                        )
                        .order_by(PARTICIPANTS.c.id)
                    )
                )
            )
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
                step = Step(
                    row, cohorts[row.cohort_id], now, self.actor, channel=self.runtime.channel
                )
                disorder = out_of_order(step)
                if disorder:
                    refused[f"{row.email} (#{row.id})"] = [disorder]
                    continue
                try:
                    fire(self.runtime, step, trigger, args, model=model)
                except GuardFailed as refusal:
                    refused[f"{row.email} (#{row.id})"] = refusal.reasons
                    continue
                steps.append(step)
        batch = 500
        for start in range(0, len(steps), batch):
            chunk = steps[start : start + batch]
            with self.db.transaction() as conn:
                conflicts = write(conn, chunk, raise_conflict=False)
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
            problems: list[str] = []
            if not reason or not reason.strip():
                problems.append(REASON_REQUIRED)
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
                return pass_through(self.runtime, step, model)

        return change_step(self.runtime, ref, change)

    def triggers(self, ref: str | int) -> list[TriggerView]:
        """Every trigger: possible now, or the rules and obligations that stand in the way."""
        return self.trigger_overview(ref).triggers

    def trigger_overview(self, ref: str | int) -> TriggersView:
        """:meth:`triggers` with whose they are, and whether their path has ended."""
        with self.db.reading() as conn:
            row = find_participant(conn, ref)
            cohort = load_cohorts(conn, {row.cohort_id})[row.cohort_id]
        cohort = cohort.as_version(row.definition_version)
        situation = Situation(row.state, row.facts, cohort.plan, row.municipality, self.now())
        views = []
        for trigger in cohort.rules.triggers:
            reasons = refusals(trigger, situation, StepArgs(), probe=True)
            views.append(
                TriggerView(
                    trigger,
                    not reasons,
                    reasons,
                    blocking_obligations(trigger, situation) if reasons else [],
                )
            )
        return TriggersView(row.id, row.name, row.state, path_ended(row.state), views)

    def history(self, ref: str | int) -> list[AuditView]:
        with self.db.reading() as conn:
            row = find_participant(conn, ref)
            entries = conn.execute(
                select(AUDIT).where(AUDIT.c.participant_id == row.id).order_by(AUDIT.c.seq)
            ).all()
        return [audit_view(e._mapping) for e in entries]

    # -- self-service -------------------------------------------------------------------------

    def open_link(self, token: str) -> LinkPage:
        """The page of a personal link (reads only); an unknown, expired or revoked token
        raises :class:`~workflow.selfservice.LinkClosed`."""
        from workflow.selfservice import open_link

        return open_link(self.runtime, token)

    def submit_link(self, token: str, fields: Mapping[str, str]) -> Submitted:
        """Record what a personal link's form says, through the same guards and unit of work
        as :meth:`advance`; see :func:`workflow.selfservice.submit`."""
        from workflow.selfservice import submit

        return submit(self.runtime, self._acting, token, fields)

    def _acting(self, actor: str, via: str) -> Workflow:
        return Workflow(self.db, clock=self.clock, actor=actor, settings=self.settings, via=via)

    def approvals(self, cohort: str | None = None) -> list[ApprovalView]:
        """Confirmations made through links, waiting for an administrator."""
        from workflow.selfservice import approvals

        return approvals(self.runtime, cohort)

    def approve(self, approval_id: int) -> ApprovalView:
        """Record a waiting confirmation as its person submitted it."""
        from workflow.selfservice import approve

        return approve(self.runtime, self._acting, approval_id)

    def reject(self, approval_id: int, reason: str) -> ApprovalView:
        """Turn a waiting confirmation down; its person is told why by mail."""
        from workflow.selfservice import reject

        return reject(self.runtime, approval_id, reason)

    # -- deadlines and delivery ---------------------------------------------------------------

    def remind(
        self,
        *,
        dry_run: bool = False,
        channel: Channel | None = None,
        progress: Callable[[int], None] | None = None,
        lease: timedelta | None = None,
        lease_clock: Clock | None = None,
    ) -> SweepReport:
        """Run the sweep once: due timed triggers, reminders, the digest, then delivery.

        ``lease`` is how long a claimed message is reserved for this sweep (default
        :data:`workflow.sweep.CLAIM_LEASE`) and ``lease_clock`` what measures it; see
        :func:`workflow.sweep.deliver`.

        A sweep that writes (not a dry run) leaves its heartbeat in the ``sweeps`` table,
        failed or not; see :meth:`status` and :meth:`health`."""
        import contextlib
        import time

        from workflow import operations
        from workflow.errors import LpsError
        from workflow.sweep import CLAIM_LEASE, sweep

        started, timer = self.now(), time.perf_counter()
        try:
            if channel is None and not dry_run:
                channel = self.channel()
            report = sweep(
                self.runtime,
                dry_run=dry_run,
                channel=channel,
                progress=progress,
                lease=lease or CLAIM_LEASE,
                lease_clock=lease_clock,
            )
        except LpsError as error:
            if not dry_run:
                # The sweep's own error is the one to report, not a failure to record it.
                with contextlib.suppress(LpsError):
                    operations.record_sweep(
                        self.runtime,
                        started=started,
                        seconds=time.perf_counter() - timer,
                        error=str(error),
                    )
            raise
        if not dry_run:
            operations.record_sweep(
                self.runtime, started=started, seconds=report.seconds, report=report
            )
        return report

    def status(self, limit: int = 5) -> Status:
        """The last ``limit`` sweeps, the outbox's backlog and failures, and the oldest due
        deadline not yet handled."""
        from workflow import operations

        return operations.status(self.runtime, limit=limit)

    def health(self, thresholds: Thresholds | None = None) -> Health:
        """The database, the last sweep's age and outcome, failed messages and the SMTP
        server, each checked and judged against ``thresholds``."""
        from workflow import operations

        return operations.health(self.runtime, thresholds)

    def supervisor(self, *, metrics: bool = False, metrics_file: Path | None = None) -> Supervisor:
        """What a long-running scheduler reports to its supervisors after each sweep:
        systemd (when ``NOTIFY_SOCKET`` is set), and metrics when asked for (``metrics``,
        or ``metrics_file`` to write them to)."""
        from workflow import operations

        return operations.Supervisor(
            operations.SystemdNotifier(self.settings.notify_socket),
            operations.Metrics() if metrics or metrics_file is not None else None,
            metrics_file,
        )

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

    def message(self, message_id: int) -> MessageView:
        """Outbox message ``message_id`` as it was sent (or would be sent now): see
        :func:`workflow.outgoing.message_view`."""
        from workflow.outgoing import message_view

        return message_view(self.runtime, message_id)

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
                    status="pending",
                    attempts=0,
                    unconfirmed=0,
                    next_attempt_at=self.now(),
                    claimed_until=None,
                    claim_token=None,
                )
            )
        return next(v for v in self.outbox() if v.id == message_id)

    def retry_failed(self, rule: str | None = None) -> dict[str, int]:
        """Put every failed message, or every failed message of ``rule``, back in the queue
        to be sent on the next sweep; those of erased participants cannot be sent and stay.
        Returns how many were queued again, by rule."""
        from notifications.render import RULES

        if rule is not None and rule not in RULES:
            raise InvalidInput(f"unknown rule '{rule}'; the rules are: {', '.join(RULES)}")
        chosen = (
            select(OUTBOX.c.id)
            .select_from(OUTBOX.outerjoin(PARTICIPANTS))
            .where(OUTBOX.c.status == "failed", PARTICIPANTS.c.erased_at.is_(None))
        )
        if rule is not None:
            chosen = chosen.where(OUTBOX.c.rule == rule)
        with self.db.transaction() as conn:
            counts = {
                name: count
                for name, count in conn.execute(
                    select(OUTBOX.c.rule, func.count())
                    .where(OUTBOX.c.id.in_(chosen))
                    .group_by(OUTBOX.c.rule)
                    .order_by(OUTBOX.c.rule)
                )
            }
            if not counts:
                which = f" with rule '{rule}'" if rule is not None else ""
                raise NotFound(
                    f"no failed messages{which} to retry; see `lps outbox list --status failed`"
                )
            conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id.in_(chosen))
                .values(
                    status="pending",
                    attempts=0,
                    unconfirmed=0,
                    next_attempt_at=self.now(),
                    claimed_until=None,
                    claim_token=None,
                )
            )
        return counts

    def verify_audit(
        self,
        *,
        checkpoint: Path | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> VerifyReport:
        """Recompute every participant's hash chain and replay it against their row; with the
        audit key, check every seal and hold the chains against the newest checkpoint and the
        ``checkpoint`` file. The report names every edited, deleted or inserted entry, every
        chain cut short and every participant deleted."""
        from workflow.checkpoints import read_checkpoint
        from workflow.verify import verify_audit

        kept = read_checkpoint(checkpoint) if checkpoint is not None else None
        return verify_audit(self.db, checkpoint=kept, progress=progress)

    def checkpoint(self) -> Checkpoint:
        """Sign and store a checkpoint of every chain now (each sweep writes one too); its
        :meth:`~workflow.checkpoints.Checkpoint.to_text` is the copy to keep outside."""
        from workflow.checkpoints import take_checkpoint

        return take_checkpoint(self.db, self.clock)

    # -- access (PostgreSQL) -------------------------------------------------------------------

    def grant_access(self, access: str, role: str, municipalities: tuple[str, ...] = ()) -> Grant:
        """Give database ``role`` ``access`` (admin, municipality, auditor, scheduler, serve),
        creating it WITH LOGIN when missing; see :mod:`workflow.access`."""
        from workflow.access import grant

        return grant(self.db, access, role, municipalities)

    def revoke_access(self, access: str, role: str) -> Grant:
        """Take ``access`` from database ``role``."""
        from workflow.access import revoke

        return revoke(self.db, access, role)

    def access_list(self) -> list[Grant]:
        """Every database role's access."""
        from workflow.access import list_access

        return list_access(self.db)

    # -- imports, exports, erasure ------------------------------------------------------------

    def import_participants(
        self,
        code: str,
        source: str | Path | bytes,
        *,
        dry_run: bool = False,
        name: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """Enrol every row of a CSV file in cohort ``code``: all rows, or none."""
        from workflow.importer import import_participants

        return import_participants(
            self.runtime, code, source, dry_run=dry_run, name=name, progress=progress
        )

    def export_participant(self, ref: str | int) -> dict[str, Any]:
        """Everything held about one participant, as JSON-ready data (for aktindsigt)."""
        from workflow.privacy import export_participant

        return export_participant(self.runtime, ref)

    def erase_participant(
        self, ref: str | int, reason: str, *, channel: Channel | None = None
    ) -> Erasure:
        """Erase a participant's personal data, keeping the audit trail's shape, and their
        copies in the mail folder of ``channel`` (by default the configured one)."""
        from workflow.privacy import erase_participant

        return erase_participant(self.runtime, ref, reason, channel=channel)

    def purge_candidates(self, before: date) -> list[PurgeCandidate]:
        """Participants whose path ended before ``before`` and who are not yet erased."""
        from workflow.privacy import purge_candidates

        return purge_candidates(self.runtime, before)

    def purge(
        self,
        before: date,
        *,
        dry_run: bool = False,
        reason: str | None = None,
        progress: Callable[[int], None] | None = None,
        channel: Channel | None = None,
    ) -> PurgeReport:
        """Erase everyone whose path ended before ``before``, as :meth:`erase_participant`."""
        from workflow.privacy import purge

        return purge(
            self.runtime,
            before,
            dry_run=dry_run,
            reason=reason,
            progress=progress,
            channel=channel,
        )

    # -- groups, calendars, certificates, reports ---------------------------------------------

    def groups(self, code: str) -> Grouping:
        """The saved network groups of cohort ``code``."""
        from workflow.groups import cohort_groups

        return cohort_groups(self.runtime, code)

    def form_groups(
        self, code: str, *, size: int | None = None, seed: int | None = None, save: bool = False
    ) -> Grouping:
        """Compose diverse network groups for cohort ``code``; ``save`` stores and announces
        them."""
        from workflow.groups import DEFAULT_SEED, DEFAULT_SIZE, form_groups

        return form_groups(
            self.runtime,
            code,
            size=DEFAULT_SIZE if size is None else size,
            seed=DEFAULT_SEED if seed is None else seed,
            save=save,
        )

    def calendar(self, code: str, participant: str | int | None = None) -> bytes:
        """The iCalendar file of a cohort, with one participant's deadlines if named."""
        from workflow.calendars import cohort_calendar

        return cohort_calendar(self.runtime, code, participant)

    def certificate(self, ref: str | int) -> tuple[str, bytes]:
        """(file name, PDF bytes) of a participant's certificate."""
        from workflow.certificate import certificate_pdf

        return certificate_pdf(self.runtime, ref)

    def verify_certificate(self, code: str) -> IssuedCertificate:
        """Whom the certificate with ``code`` was issued to, and when."""
        from workflow.certificate import verify_code

        return verify_code(self.runtime, code)

    def report(self, code: str) -> Report:
        """Every participant of cohort ``code`` against the path, as of the clock."""
        from workflow.report import cohort_report

        cohort = self.cohort(code)
        return cohort_report(
            cohort, self.participants(cohort=cohort.code), now=self.now(), today=self.today()
        )


def _teaching_days(step: Step, settings: Settings) -> Callable[[str], Attachment | None]:
    from workflow.calendars import teaching_days_maker

    return teaching_days_maker(step, settings)


def _certificate(step: Step, settings: Settings) -> Callable[[str], Attachment | None] | None:
    from workflow.certificate import certificate_maker

    return certificate_maker(step, settings)


def _shown(value: str | int | None) -> str:
    # repr shows a line break or control character of a value being corrected as an escape.
    return "none" if value is None else repr(value)
