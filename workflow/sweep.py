"""The sweep: fire due timed triggers, queue due reminders, send the weekly digest, deliver
the outbox. ``lps remind`` runs it once; ``lps scheduler run`` runs it on an interval.

Its cost follows what is due, not how many participants there are: it starts from one indexed
query on pending deadlines whose ``due_at`` has come.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, literal_column, or_, select, true, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from states.facts import Facts
from states.programme import (
    FINAL_STATES,
    OBLIGATION_DEFINITIONS,
    OBLIGATION_LABELS,
    OBLIGATIONS,
    StepArgs,
    obligation_due,
)
from states.rules import TIMED_RULE_BY_NAME, digest_moment, overdue, still_applies
from workflow import messages
from workflow.errors import ConcurrentChange, GuardFailed
from workflow.kernel import Runtime, fire
from workflow.machine import attached
from workflow.records import (
    COHORTS,
    DEADLINES,
    DIGEST_CHECKS,
    OUTBOX,
    PARTICIPANTS,
    CohortRow,
    ParticipantRow,
    Step,
    execute_many,
    insert_ignoring_duplicates,
    load_cohorts,
    write_steps,
)
from workflow.settings import Settings

if TYPE_CHECKING:
    from notifications.delivery import Channel

log = logging.getLogger("lps.sweep")

SCHEDULER_ACTOR = "scheduler"
# A literal, not a bound parameter: only then can SQLite use the partial "pending" indexes.
PENDING: ColumnElement[str] = literal_column("'pending'")
MAX_ATTEMPTS = 5
CLAIM_LEASE = timedelta(minutes=5)
# The digest_checks row that says every administrator has been checked for the week.
EVERY_ADMIN = "*"


@dataclass(frozen=True)
class Decision:
    """What the sweep did, or would do, with one due deadline."""

    participant_id: int
    email: str
    rule: str
    occurrence: int
    outcome: str  # queued, fired, skipped, dropped, conflict
    detail: str = ""


@dataclass
class SweepReport:
    decisions: list[Decision] = field(default_factory=list)
    digests: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    seconds: float = 0.0
    dry_run: bool = False

    def count(self, outcome: str) -> int:
        return sum(1 for d in self.decisions if d.outcome == outcome)

    def summary(self) -> str:
        return (
            f"{len(self.decisions)} due: {self.count('queued')} queued, "
            f"{self.count('fired')} fired, {self.count('skipped')} skipped, "
            f"{self.count('dropped')} dropped; {self.digests} digest(s); "
            f"delivered {self.delivered}, retrying {self.retrying}, failed {self.failed} "
            f"in {self.seconds:.2f}s"
        )


Progress = Callable[[int], None]


def sweep(
    runtime: Runtime,
    *,
    dry_run: bool = False,
    channel: Channel | None = None,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> SweepReport:
    """Run every due rule, then deliver the outbox (unless ``dry_run``)."""
    started = time.perf_counter()
    report = SweepReport(dry_run=dry_run)
    now = runtime.now()
    if dry_run:
        with runtime.db.engine.connect() as conn:
            transaction = conn.begin()
            try:
                _due_batch(runtime, conn, now, report, limit=None, dry_run=True)
                report.digests = _queue_digests(conn, now, runtime.settings, report_only=True)
            finally:
                transaction.rollback()
        report.seconds = time.perf_counter() - started
        return report
    passes = 0
    while True:
        passes += 1
        try:
            with runtime.db.transaction() as conn:
                handled = _due_batch(runtime, conn, now, report, limit=batch_size)
        except ConcurrentChange:
            handled = 0
            if passes > 3:
                break
            continue
        if progress and handled:
            progress(handled)
        if handled < batch_size:
            break
    with runtime.db.transaction() as conn:
        report.digests = _queue_digests(conn, now, runtime.settings)
    if channel is not None:
        deliver(runtime, channel, report, progress=progress)
    report.seconds = time.perf_counter() - started
    return report


def _due_batch(
    runtime: Runtime,
    conn: Connection,
    now: datetime,
    report: SweepReport,
    *,
    limit: int | None,
    dry_run: bool = False,
) -> int:
    query = (
        select(DEADLINES)
        .where(DEADLINES.c.status == PENDING, DEADLINES.c.due_at <= now)
        .order_by(DEADLINES.c.due_at, DEADLINES.c.id)
    )
    if limit is not None:
        query = query.limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=DEADLINES)
    due = conn.execute(query).all()
    if not due:
        return 0
    participant_ids = {row.participant_id for row in due}
    participants = {
        row.id: ParticipantRow.from_row(row)
        for row in conn.execute(select(PARTICIPANTS).where(PARTICIPANTS.c.id.in_(participant_ids)))
    }
    cohorts = load_cohorts(conn, {p.cohort_id for p in participants.values()})
    steps: dict[int, Step] = {}
    decisions: dict[int, list[Decision]] = {}
    with attached() as model:
        for deadline in due:
            row = participants[deadline.participant_id]
            step = steps.get(row.id)
            if step is None:
                step = steps[row.id] = Step(row, cohorts[row.cohort_id], now, SCHEDULER_ACTOR)
            decision = _decide(runtime, step, deadline, model, now)
            decisions.setdefault(row.id, []).append(decision)
    conflicts = {step.row.id for step in write_steps(conn, list(steps.values()))}
    for participant_id, made in decisions.items():
        for decision in made:
            if participant_id in conflicts:
                decision = Decision(
                    decision.participant_id,
                    decision.email,
                    decision.rule,
                    decision.occurrence,
                    "conflict",
                    "participant changed at the same time; retried on the next sweep",
                )
            report.decisions.append(decision)
    return len(due)


def _decide(runtime: Runtime, step: Step, deadline: Any, model: Any, now: datetime) -> Decision:
    rule = TIMED_RULE_BY_NAME[deadline.rule]
    row = step.row

    def decided(status: str, outcome: str, detail: str) -> Decision:
        step.resolved_deadlines.append((deadline.id, status, detail or outcome))
        return Decision(row.id, row.email, rule.name, deadline.occurrence, outcome, detail)

    situation = step.situation()
    if deadline.expires_at is not None and now >= deadline.expires_at:
        detail = f"obsolete: its moment passed on {deadline.expires_at.isoformat()}"
        if step.state not in FINAL_STATES:
            step.record(
                "notification_dropped",
                step.state,
                step.state,
                note=detail,
                data={"rule": rule.name, "occurrence": deadline.occurrence},
            )
        return decided("dropped", "dropped", detail)
    reason = still_applies(rule, situation)
    if reason is not None:
        return decided("skipped", "skipped", reason)
    if rule.fires is not None:
        try:
            described = fire(runtime, step, rule.fires, StepArgs(), model=model)
        except GuardFailed as refusal:
            return decided("skipped", "skipped", "; ".join(refusal.reasons))
        return decided("done", "fired", ", ".join(described) or rule.fires)
    roles = messages.queue(
        step,
        rule.name,
        rule.recipients,
        occurrence=deadline.occurrence,
        settings=runtime.settings,
    )
    if not roles:
        return decided("skipped", "skipped", "nobody to send it to")
    step.record(
        "notify",
        step.state,
        step.state,
        data={"rule": rule.name, "occurrence": deadline.occurrence, "recipients": roles},
    )
    return decided("done", "queued", ", ".join(roles))


# -- the admin digest -------------------------------------------------------------------------


def _queue_digests(
    conn: Connection, now: datetime, settings: Settings, *, report_only: bool = False
) -> int:
    """Queue this week's digest for each administrator who has something to hear about.

    The first sweep of the week checks every administrator and leaves a row for the week as a
    whole, so later sweeps cost one look-up however many cohorts there are; an administrator
    whose first cohort is created later that week hears from the next Monday."""
    monday, _ = digest_moment(now)
    week_done = conn.execute(
        select(DIGEST_CHECKS.c.sent).where(
            DIGEST_CHECKS.c.admin_email == EVERY_ADMIN, DIGEST_CHECKS.c.week_of == monday
        )
    ).first()
    if week_done is not None:
        return 0
    admins = [
        email
        for (email,) in conn.execute(
            select(COHORTS.c.admin_email).where(COHORTS.c.admin_email.is_not(None)).distinct()
        )
    ]
    queued = 0
    for admin in admins:
        key = f"digest:{admin}:{monday.isoformat()}"
        checked = conn.execute(
            select(DIGEST_CHECKS.c.sent).where(
                DIGEST_CHECKS.c.admin_email == admin, DIGEST_CHECKS.c.week_of == monday
            )
        ).first()
        if checked is not None:
            continue
        cohorts = [
            CohortRow.from_row(r)
            for r in conn.execute(
                select(COHORTS).where(COHORTS.c.admin_email == admin).order_by(COHORTS.c.code)
            )
        ]
        # Judged as of the Monday itself, so a catch-up later in the week reports the same.
        sections = []
        for cohort in cohorts:
            late: list[dict[str, Any]] = []
            candidates = _possibly_overdue(cohort, monday)
            if candidates is None:
                continue
            rows = conn.execute(
                select(PARTICIPANTS.c.name, PARTICIPANTS.c.email, PARTICIPANTS.c.facts).where(
                    PARTICIPANTS.c.cohort_id == cohort.id,
                    PARTICIPANTS.c.state.not_in(FINAL_STATES),
                    candidates,
                )
            )
            for raw in rows:
                facts = Facts.from_json(raw.facts)
                for name, due in overdue(facts, cohort.plan, monday):
                    late.append(
                        {
                            "participant": f"{raw.name} <{raw.email}>",
                            "obligation": name,
                            "obligation_label": OBLIGATION_LABELS[name][0],
                            "due": due,
                            "days_late": (monday - due).days,
                        }
                    )
            if late:
                late.sort(key=lambda item: -item["days_late"])
                sections.append({"code": cohort.code, "name": cohort.name, "overdue": late})
        failed = [
            {"id": r.id, "rule": r.rule, "recipient": r.recipient, "error": r.last_error or ""}
            for r in conn.execute(
                select(OUTBOX).where(OUTBOX.c.status == "failed").order_by(OUTBOX.c.id)
            )
            if r.recipient_role != "admin" or r.rule != "admin_digest"
        ]
        nothing_to_say = not sections and not failed
        if not report_only:
            insert_ignoring_duplicates(
                conn,
                DIGEST_CHECKS,
                [
                    {
                        "admin_email": admin,
                        "week_of": monday,
                        "checked_at": now,
                        "sent": not nothing_to_say,
                    }
                ],
            )
        if nothing_to_say:
            continue
        queued += 1
        if report_only:
            continue
        from notifications.render import render

        rendered = render(
            "admin_digest",
            "da",
            {
                "recipient": {"role": "admin", "name": "Kursussekretariatet", "email": admin},
                "week_of": monday,
                "cohorts": sections,
                "failed": failed,
            },
        )
        insert_ignoring_duplicates(
            conn,
            OUTBOX,
            [
                messages.outbox_row(
                    key=key,
                    participant_id=None,
                    rule="admin_digest",
                    occurrence=monday.isoformat(),
                    role="admin",
                    recipient=admin,
                    sender=messages.sender_for(cohorts[0] if cohorts else None, settings),
                    subject=rendered.subject,
                    text=rendered.text,
                    html=rendered.html,
                    now=now,
                )
            ],
        )
    if not report_only:
        insert_ignoring_duplicates(
            conn,
            DIGEST_CHECKS,
            [{"admin_email": EVERY_ADMIN, "week_of": monday, "checked_at": now, "sent": False}],
        )
    return queued


# An obligation met by one recorded fact: a participant without that key in the facts
# document may owe it. Attendance depends on several facts and is judged in Python.
_MET_BY_KEY = {o.name: o.met_by for o in OBLIGATION_DEFINITIONS if o.met_by is not None}


def _possibly_overdue(cohort: CohortRow, monday: date) -> ColumnElement[bool] | None:
    """A filter for the participants of ``cohort`` who may have an obligation overdue on
    ``monday``, or ``None`` when none can be: a cohort whose deadlines are all ahead costs
    no query, and one past a single deadline reads only those who lack its fact."""
    due = [name for name in OBLIGATIONS if obligation_due(name, cohort.plan) < monday]
    if not due:
        return None
    if any(name not in _MET_BY_KEY for name in due):
        return true()
    return or_(*(PARTICIPANTS.c.facts[_MET_BY_KEY[name]].as_string().is_(None) for name in due))


# -- delivery ---------------------------------------------------------------------------------


def deliver(
    runtime: Runtime,
    channel: Channel,
    report: SweepReport | None = None,
    *,
    batch_size: int = 200,
    progress: Progress | None = None,
) -> SweepReport:
    """Send pending outbox rows whose time has come. Rows are claimed first (with
    ``SKIP LOCKED`` on PostgreSQL) so that two sweepers never send the same row.

    A channel whose resend replaces the first copy (``.eml`` files) has a claimed batch
    recorded as sent in one transaction after one flush; any other channel has each message
    recorded as it goes, so a crash repeats at most the message in flight."""
    from notifications.delivery import DeliveryError, OutgoingMail, compose

    report = report or SweepReport()
    now = runtime.now()
    by_batch = getattr(channel, "replaces_on_resend", False)
    while True:
        with runtime.db.transaction() as conn:
            claimed = _claim(conn, now, batch_size)
        if not claimed:
            break
        sent: list[Any] = []
        for row in claimed:
            mail = OutgoingMail(
                key=row.key,
                rule=row.rule,
                sender=row.sender,
                recipient=row.recipient,
                subject=row.subject,
                text=row.body_text,
                html=row.body_html,
                attachments=_attachments(row),
            )
            try:
                channel.send(compose(mail, date=now))
            except (DeliveryError, ValueError) as error:
                _record_failure(runtime, row, error, now, report)
                continue
            if by_batch:
                sent.append(row)
            else:
                _record_sent(runtime, [row], now)
                report.delivered += 1
        if sent:
            try:
                channel.flush()
            except DeliveryError as error:
                for row in sent:
                    _record_failure(runtime, row, error, now, report)
            else:
                _record_sent(runtime, sent, now)
                report.delivered += len(sent)
        if progress:
            progress(len(claimed))
    channel.close()
    return report


def _record_sent(runtime: Runtime, rows: list[Any], now: datetime) -> None:
    with runtime.db.transaction() as conn:
        execute_many(
            conn,
            _MARK_SENT,
            [{"row_id": row.id, "attempts": row.attempts + 1, "now": now} for row in rows],
        )


_MARK_SENT = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("row_id"))
    .values(
        status="sent",
        attempts=bindparam("attempts"),
        sent_at=bindparam("now"),
        claimed_until=None,
        last_error=None,
    )
)


def _record_failure(
    runtime: Runtime, row: Any, error: Exception, now: datetime, report: SweepReport
) -> None:
    from notifications.delivery import DeliveryError

    attempts = row.attempts + 1
    transient = isinstance(error, DeliveryError) and error.transient
    final = not transient or attempts >= MAX_ATTEMPTS
    with runtime.db.transaction() as conn:
        conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == row.id)
            .values(
                status="failed" if final else "pending",
                attempts=attempts,
                last_error=str(error),
                claimed_until=None,
                next_attempt_at=now + messages.retry_delay(attempts),
            )
        )
    if final:
        report.failed += 1
    else:
        report.retrying += 1
    log.warning("sending %s to %s failed: %s", row.rule, row.recipient, error)


# What sending needs: the timestamps stay unread, their conversion being most of a row's cost.
_DELIVERED_COLUMNS = [
    OUTBOX.c[name]
    for name in (
        "id",
        "key",
        "rule",
        "sender",
        "recipient",
        "subject",
        "body_text",
        "body_html",
        "attempts",
        "attachment_name",
        "attachment_type",
        "attachment",
    )
]


def _claim(conn: Connection, now: datetime, limit: int) -> list[Any]:
    """Claim due rows for a lease; a claimed, sent or failed row leaves the candidates, so
    the next call returns the next rows."""
    query = (
        select(*_DELIVERED_COLUMNS)
        .where(
            OUTBOX.c.status == PENDING,
            OUTBOX.c.next_attempt_at <= now,
            (OUTBOX.c.claimed_until.is_(None)) | (OUTBOX.c.claimed_until < now),
        )
        .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(conn.execute(query).all())
    if rows:
        conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_([r.id for r in rows]))
            .values(claimed_until=now + CLAIM_LEASE)
        )
    return rows


def _attachments(row: Any) -> tuple[Any, ...]:
    if row.attachment is None:
        return ()
    from notifications.delivery import Attachment

    return (Attachment(row.attachment_name, row.attachment_type, bytes(row.attachment)),)
