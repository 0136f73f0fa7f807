"""The sweep: fire due timed triggers, queue due reminders, send the weekly digest, deliver
the outbox. ``lps remind`` runs it once; ``lps scheduler run`` runs it on an interval.

Its cost follows what is due, not how many participants there are: it starts from one indexed
query on pending deadlines whose ``due_at`` has come.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, literal_column, or_, select, true, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from states.facts import Facts
from states.programme import (
    FINAL_STATES,
    OBLIGATION_DEFINITIONS,
    StepArgs,
    obligation_due,
)
from states.rules import (
    TIMED_RULE_BY_NAME,
    digest_moment,
    overdue,
    still_applies,
    timed_rule_by_name,
)
from workflow import messages
from workflow.attachments import WITH_FILES, outbox_columns
from workflow.clock import Clock, lease_clock_for
from workflow.collector import collector_paused
from workflow.errors import ConcurrentChange, GuardFailed
from workflow.kernel import Runtime, fire
from workflow.links import CHASED_BY, hide_tokens, pending_confirmations
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
    insert_ignoring_duplicates,
    load_cohorts,
    write_steps,
)
from workflow.settings import Settings

if TYPE_CHECKING:
    from notifications.delivery import Channel

__all__ = [
    "CLAIM_LEASE",
    "CONNECTION_FAILURES",
    "EVERY_ADMIN",
    "MAX_ATTEMPTS",
    "MAX_UNCONFIRMED",
    "PENDING",
    "REPLIES_PER_SEND",
    "SCHEDULER_ACTOR",
    "Decision",
    "Progress",
    "SweepReport",
    "deliver",
    "sweep",
]


log = logging.getLogger("lps.sweep")

SCHEDULER_ACTOR = "scheduler"
# A literal, not a bound parameter: only then can SQLite use the partial "pending" indexes.
PENDING: ColumnElement[str] = literal_column("'pending'")
MAX_ATTEMPTS = 5
CLAIM_LEASE = timedelta(minutes=5)
# Rows claimed at a time: a message-by-message channel renews each row's lease as it goes; a
# file batch is written, synced and recorded together, a few seconds' work well inside a lease.
SEND_BATCH = 200
FILE_BATCH = 1000
# A send waits up to the channel's timeout for each of the server's replies, about ten on a
# fresh connection (greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, the content's): the
# lease is at least that long, so a send cannot outlast it (a server dripping its replies
# aside). The default timeout of 30 s gives the default lease.
REPLIES_PER_SEND = 10
# Sends in a row that do not get through to the server before a sweep stops delivering.
CONNECTION_FAILURES = 3
# Sends of one message that the server took but never confirmed before it is not tried again.
MAX_UNCONFIRMED = 2
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
    # Why delivery ended before the outbox did, in one line; the rest stays queued.
    delivery_stopped: str | None = None
    # Whether that was the channel's settings (a rejected login), which no retry mends.
    configuration_error: bool = False
    # For the operator's metrics: messages sent and failed for good, per rule, and how late
    # each queued reminder went out against its deadline's due moment (rule, seconds).
    sent_by_rule: dict[str, int] = field(default_factory=dict)
    failed_by_rule: dict[str, int] = field(default_factory=dict)
    lateness: list[tuple[str, float]] = field(default_factory=list)

    def tally(self, counts: dict[str, int], rule: str, number: int = 1) -> None:
        counts[rule] = counts.get(rule, 0) + number

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
    lease: timedelta = CLAIM_LEASE,
    lease_clock: Clock | None = None,
) -> SweepReport:
    """Run every due rule, then deliver the outbox (unless ``dry_run``); ``lease`` and
    ``lease_clock`` are :func:`deliver`'s."""
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
            with collector_paused(), runtime.db.transaction() as conn:
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
        deliver(runtime, channel, report, progress=progress, lease=lease, lease_clock=lease_clock)
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
        row.id: row
        for row in ParticipantRow.from_rows(
            conn.execute(select(PARTICIPANTS).where(PARTICIPANTS.c.id.in_(participant_ids)))
        )
    }
    cohorts = load_cohorts(conn, {p.cohort_id for p in participants.values()})
    waiting = pending_confirmations(conn, participant_ids)
    steps: dict[int, Step] = {}
    decisions: dict[int, list[Decision]] = {}
    due_at: dict[int, datetime] = {}
    with attached() as model:
        for deadline in due:
            row = participants[deadline.participant_id]
            step = steps.get(row.id)
            if step is None:
                step = steps[row.id] = Step(
                    row, cohorts[row.cohort_id], now, SCHEDULER_ACTOR, channel="scheduler"
                )
            decision = _decide(runtime, step, deadline, model, now, waiting)
            decisions.setdefault(row.id, []).append(decision)
            due_at[id(decision)] = deadline.due_at
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
            elif decision.outcome == "queued" and not dry_run:
                late = (now - due_at[id(decision)]).total_seconds()
                report.lateness.append((decision.rule, late))
            report.decisions.append(decision)
    return len(due)


def _decide(
    runtime: Runtime,
    step: Step,
    deadline: Any,
    model: Any,
    now: datetime,
    waiting: set[tuple[int, str]],
) -> Decision:
    rule = (
        timed_rule_by_name(step.cohort.rules).get(deadline.rule)
        or TIMED_RULE_BY_NAME[deadline.rule]
    )
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
    chased = CHASED_BY.get(rule.name)
    if reason is None and chased is not None and (row.id, chased) in waiting:
        reason = "a confirmation of it is waiting for approval (`lps approvals list`)"
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
    # The cohorts a migration left someone on the way on another version than the cohort's.
    mixed = {
        cohort_id
        for (cohort_id,) in conn.execute(
            select(PARTICIPANTS.c.cohort_id)
            .join(COHORTS, COHORTS.c.id == PARTICIPANTS.c.cohort_id)
            .where(
                PARTICIPANTS.c.definition_version != COHORTS.c.programme,
                PARTICIPANTS.c.state.not_in(FINAL_STATES),
            )
            .distinct()
        )
    }
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
            candidates = _possibly_overdue(cohort, monday, cohort.id in mixed)
            if candidates is None:
                continue
            rows = conn.execute(
                select(
                    PARTICIPANTS.c.name,
                    PARTICIPANTS.c.email,
                    PARTICIPANTS.c.facts,
                    PARTICIPANTS.c.definition_version,
                ).where(
                    PARTICIPANTS.c.cohort_id == cohort.id,
                    PARTICIPANTS.c.state.not_in(FINAL_STATES),
                    candidates,
                )
            )
            for raw in rows:
                facts = Facts.from_json(raw.facts)
                theirs = cohort.as_version(raw.definition_version)
                for name, due in overdue(facts, theirs.plan, monday):
                    late.append(
                        {
                            "participant": f"{raw.name} <{raw.email}>",
                            "obligation": name,
                            "obligation_label": theirs.rules.obligation_labels[name][0],
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


def _possibly_overdue(cohort: CohortRow, monday: date, mixed: bool) -> ColumnElement[bool] | None:
    """A filter for the participants of ``cohort`` who may have an obligation overdue on
    ``monday``, or ``None`` when none can be: a cohort whose deadlines are all ahead costs
    no query, and one past a single deadline reads only those who lack its fact. In a
    ``mixed`` cohort, whoever a migration left on another version is always read."""
    due = [n for n in cohort.rules.obligations if obligation_due(n, cohort.plan) < monday]
    elsewhere = [PARTICIPANTS.c.definition_version != cohort.programme] if mixed else []
    if not due:
        return elsewhere[0] if elsewhere else None
    if any(name not in _MET_BY_KEY for name in due):
        return true()
    return or_(
        *elsewhere,
        *(PARTICIPANTS.c.facts[_MET_BY_KEY[name]].as_string().is_(None) for name in due),
    )


# -- delivery ---------------------------------------------------------------------------------


def deliver(
    runtime: Runtime,
    channel: Channel,
    report: SweepReport | None = None,
    *,
    batch_size: int | None = None,
    progress: Progress | None = None,
    lease: timedelta = CLAIM_LEASE,
    lease_clock: Clock | None = None,
) -> SweepReport:
    """Send pending outbox rows whose time has come.

    Rows are claimed in batches (with ``SKIP LOCKED`` on PostgreSQL) under a random token,
    for ``lease``, so that two sweepers never send the same row: a sweep records a row as
    sent or failed only while its token is still on it. A channel whose resend adds a
    copy (SMTP) has each row's lease renewed just before its message goes, and the row is
    skipped if another sweep has meanwhile taken it over, so that a sweep of any length
    sends only what it holds; each message is recorded as it goes, so a crash repeats at
    most the one in flight. A channel whose resend replaces the first copy (``.eml``
    files) writes a batch under the claim just taken and records it in one transaction
    after one flush. ``batch_size`` defaults to :data:`SEND_BATCH` rows a claim, or
    :data:`FILE_BATCH` for such a channel, where each batch costs a sync and two commits.

    Leases are measured by ``lease_clock`` (see :func:`runtime.clock.lease_clock_for`,
    the default), not by the engine's clock, which a replay may hold still; the lease is
    at least :data:`REPLIES_PER_SEND` times the channel's timeout, so that a send cannot
    outlast it. The messages' dates and retry times follow the engine's clock.

    Delivery stops early, leaving the remaining rows queued and saying so once in
    ``report.delivery_stopped`` (and the log), after :data:`CONNECTION_FAILURES` sends in
    a row that could not reach the server, or at once when the server refuses the
    channel's settings (a rejected login): then nothing is counted against the messages."""
    from notifications.delivery import DeliveryError, compose
    from workflow.outgoing import outgoing_mail

    report = report or SweepReport()
    lease_clock = lease_clock or lease_clock_for(runtime.clock)
    timeout = getattr(channel, "timeout", None)
    if isinstance(timeout, int | float):
        lease = max(lease, REPLIES_PER_SEND * timedelta(seconds=timeout))
    now = runtime.now()
    by_batch = getattr(channel, "replaces_on_resend", False)
    batch_size = batch_size or (FILE_BATCH if by_batch else SEND_BATCH)
    in_a_row = 0
    while report.delivery_stopped is None:
        token = secrets.token_hex(16)
        with runtime.db.transaction() as conn:
            claimed = _claim(conn, now, lease_clock.now(), lease, token, batch_size)
        if not claimed:
            break
        # Held off for one claim at a time: a batch's mails are built and dropped together.
        with collector_paused():
            claim = _Claim(runtime, token, lease, lease_clock)
            sent: list[Any] = []
            # Whether the row's lease was renewed along with recording the one before it.
            renewed: bool | None = None
            for index, row in enumerate(claimed):
                if not by_batch:
                    held = claim.renew(row) if renewed is None else renewed
                    renewed = None
                    if not held:
                        log.info(
                            "skipping %s to %s: another sweep has taken it over",
                            row.rule,
                            row.recipient,
                        )
                        continue
                try:
                    channel.send(compose(outgoing_mail(row), date=now))
                except (DeliveryError, ValueError) as error:
                    kind = error.kind if isinstance(error, DeliveryError) else "message"
                    if kind == "configuration":
                        claim.release(claimed[index:])
                        _stop(runtime, report, str(error), configuration=True)
                        break
                    _record_failure(claim, row, error, now, report)
                    in_a_row = in_a_row + 1 if kind in ("connection", "unconfirmed") else 0
                    if in_a_row >= CONNECTION_FAILURES:
                        claim.release(claimed[index + 1 :])
                        why = f"{in_a_row} messages in a row did not get through ({error})"
                        _stop(runtime, report, why)
                        break
                    continue
                in_a_row = 0
                if by_batch:
                    sent.append(row)
                else:
                    following = claimed[index + 1] if index + 1 < len(claimed) else None
                    renewed = claim.mark_sent([row], now, renewing=following)
                    report.delivered += 1
                    report.tally(report.sent_by_rule, row.rule)
            if sent:
                try:
                    channel.flush()
                except DeliveryError as error:
                    for row in sent:
                        _record_failure(claim, row, error, now, report)
                else:
                    claim.mark_sent(sent, now)
                    report.delivered += len(sent)
                    for row in sent:
                        report.tally(report.sent_by_rule, row.rule)
        if progress:
            progress(len(claimed))
    channel.close()
    return report


def _stop(runtime: Runtime, report: SweepReport, why: str, *, configuration: bool = False) -> None:
    with runtime.db.reading() as conn:
        queued = conn.execute(select(func.count()).where(OUTBOX.c.status == PENDING)).scalar_one()
    if configuration:
        report.delivery_stopped = (
            f"{why}; delivery stopped, {queued} message(s) stay queued, "
            "their tries untouched, until the mail settings are corrected"
        )
        log.error("%s", report.delivery_stopped)
    else:
        report.delivery_stopped = (
            f"{why}; delivery stopped, {queued} message(s) stay queued for the next sweep"
        )
        log.warning("%s", report.delivery_stopped)
    report.configuration_error = configuration


class _Claim:
    """One batch claimed under ``token``: every write is conditional on still holding it."""

    def __init__(self, runtime: Runtime, token: str, lease: timedelta, lease_clock: Clock):
        self.runtime = runtime
        self.token = token
        self.lease = lease
        self.lease_clock = lease_clock

    def _held(self, *ids: int, pending: bool = True) -> ColumnElement[bool]:
        held = (OUTBOX.c.id.in_(ids) if len(ids) > 1 else OUTBOX.c.id == ids[0]) & (
            OUTBOX.c.claim_token == self.token
        )
        return held & (OUTBOX.c.status == PENDING) if pending else held

    def renew(self, row: Any) -> bool:
        """Extend the lease on ``row`` from now; false when another sweep has taken it."""
        with self.runtime.db.transaction() as conn:
            return self._renew(conn, row)

    def _renew(self, conn: Connection, row: Any) -> bool:
        until = self.lease_clock.now() + self.lease
        renewed = conn.execute(update(OUTBOX).where(self._held(row.id)).values(claimed_until=until))
        return bool(renewed.rowcount)

    def mark_sent(self, rows: list[Any], now: datetime, *, renewing: Any = None) -> bool | None:
        """Record ``rows`` as sent where still held (even if cancelled meanwhile: they did
        go), and in the same transaction renew the lease on ``renewing``, the next to send,
        if given: whether that is still held."""
        with self.runtime.db.transaction() as conn:
            # Once a mail has gone, its stored copy keeps no link token: only the hash in the
            # links table stays, so reading the outbox gives nobody a working link.
            hidden = []
            for row in rows:
                text, html = hide_tokens(row.body_text), hide_tokens(row.body_html)
                if text != row.body_text or html != row.body_html:
                    hidden.append({"row_id": row.id, "text": text, "html": html})
            if hidden:
                conn.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id == bindparam("row_id"), OUTBOX.c.claim_token == self.token)
                    .values(body_text=bindparam("text"), body_html=bindparam("html")),
                    hidden,
                )
            marked = conn.execute(
                update(OUTBOX)
                .where(self._held(*(row.id for row in rows), pending=False))
                .values(
                    status="sent",
                    attempts=OUTBOX.c.attempts + 1,
                    sent_at=now,
                    claimed_until=None,
                    claim_token=None,
                    last_error=None,
                )
            ).rowcount
            renewed = None if renewing is None else self._renew(conn, renewing)
        if marked != len(rows):
            log.warning(
                "%d message(s) were sent after another sweep had taken them over; "
                "that sweep records them",
                len(rows) - marked,
            )
        return renewed

    def release(self, rows: list[Any]) -> None:
        """Give ``rows`` back untouched, for the next sweep."""
        if not rows:
            return
        with self.runtime.db.transaction() as conn:
            conn.execute(
                update(OUTBOX)
                .where(self._held(*(row.id for row in rows)))
                .values(claimed_until=None, claim_token=None)
            )


def _record_failure(
    claim: _Claim, row: Any, error: Exception, now: datetime, report: SweepReport
) -> None:
    from notifications.delivery import DeliveryError

    attempts = row.attempts + 1
    unconfirmed = row.unconfirmed
    text = str(error)
    if isinstance(error, DeliveryError) and error.kind == "unconfirmed":
        # The server may have it: one more try on a later sweep at most, never a series.
        unconfirmed += 1
        final = unconfirmed >= MAX_UNCONFIRMED or attempts >= MAX_ATTEMPTS
        text += (
            "; not sent again, so that it does not arrive twice: ask the recipient, and "
            f"`lps outbox retry {row.id}` if it did not"
            if final
            else "; tried once more on a later sweep"
        )
    else:
        transient = isinstance(error, DeliveryError) and error.transient
        final = not transient or attempts >= MAX_ATTEMPTS
    with claim.runtime.db.transaction() as conn:
        recorded = conn.execute(
            update(OUTBOX)
            .where(claim._held(row.id))
            .values(
                status="failed" if final else "pending",
                attempts=attempts,
                unconfirmed=unconfirmed,
                last_error=text,
                claimed_until=None,
                claim_token=None,
                # A failed row is never tried again by itself: its time is when it failed.
                next_attempt_at=now if final else now + messages.retry_delay(attempts),
            )
        ).rowcount
    log.warning("sending %s to %s failed: %s", row.rule, row.recipient, error)
    if not recorded:
        return
    if final:
        report.failed += 1
        report.tally(report.failed_by_rule, row.rule)
    else:
        report.retrying += 1


# What sending needs: the timestamps stay unread, their conversion being most of a row's cost.
_DELIVERED_COLUMNS = outbox_columns(
    "id",
    "key",
    "rule",
    "sender",
    "recipient",
    "subject",
    "body_text",
    "body_html",
    "attempts",
    "unconfirmed",
    "attachment_name",
    "attachment_type",
    "attachment",
)


def _claim(
    conn: Connection,
    now: datetime,
    lease_now: datetime,
    lease: timedelta,
    token: str,
    limit: int,
) -> list[Any]:
    """Claim up to ``limit`` rows due by ``now`` that nobody holds (never claimed, or their
    lease over by ``lease_now``) under ``token`` until ``lease_now + lease``; a claimed,
    sent or failed row leaves the candidates, so the next call returns the next rows."""
    free = OUTBOX.c.claimed_until.is_(None) | (OUTBOX.c.claimed_until < lease_now)
    query = (
        select(*_DELIVERED_COLUMNS)
        .select_from(WITH_FILES)
        .where(OUTBOX.c.status == PENDING, OUTBOX.c.next_attempt_at <= now, free)
        .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        # The messages only: a lock on the file they share would have another sweep skip
        # every message carrying it.
        query = query.with_for_update(skip_locked=True, of=OUTBOX)
    rows = list(conn.execute(query).all())
    if not rows:
        return rows
    ids = [row.id for row in rows]
    taken = conn.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(ids), OUTBOX.c.status == PENDING, free)
        .values(claim_token=token, claimed_until=lease_now + lease)
    ).rowcount
    if taken != len(rows):
        held = set(
            conn.execute(
                select(OUTBOX.c.id).where(OUTBOX.c.id.in_(ids), OUTBOX.c.claim_token == token)
            ).scalars()
        )
        rows = [row for row in rows if row.id in held]
    return rows
