"""Personal data: what is held about a person (export), erasing it once their path has ended,
and erasing by retention date (purge).

Erasure pseudonymises the participant row and clears free text, but keeps what statistics need
(cohort, municipality, state, dates). The audit chain keeps verifying after erasure because each
entry's hash covers only the digest of its note, never the note itself.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from email.parser import BytesHeaderParser
from email.utils import formataddr, parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import escape
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.engine import Connection

from states.facts import DayRecord, Facts, Waiver
from states.programme import FINAL_STATES, LOCAL_TZ, REASON_REQUIRED, STATE_BY_NAME
from workflow.attachments import WITH_FILES, forget, outbox_columns
from workflow.errors import BulkRefused, GuardFailed, LpsError
from workflow.kernel import Runtime, write
from workflow.models import APPROVALS, LINKS
from workflow.queries import find_participant, next_due
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
from workflow.views import audit_view, participant_view

if TYPE_CHECKING:
    from notifications.delivery import Channel

__all__ = [
    "ERASE_EVENT",
    "NOT_HELD",
    "Erasure",
    "MailCopies",
    "PurgeCandidate",
    "PurgeReport",
    "erase_participant",
    "erase_refusals",
    "erased_facts",
    "export_participant",
    "pseudonym",
    "pseudonym_email",
    "purge",
    "purge_candidates",
]


ERASE_EVENT = "erase"
NOT_HELD = (
    "JTI answers and personality type: the engine records only that the questionnaire was "
    "sent and answered, and when",
    "the logbook (logbog): it stays with the participant",
)


def pseudonym(participant_id: int) -> str:
    """The name an erased participant is shown by."""
    return f"Slettet deltager #{participant_id}"


def pseudonym_email(participant_id: int) -> str:
    """The address an erased participant is stored with: unique, and never deliverable."""
    return f"erased-{participant_id}@invalid"


# -- export -------------------------------------------------------------------------------------


def export_participant(runtime: Runtime, ref: str | int) -> dict[str, Any]:
    """Everything held about one participant, as JSON-ready data: their details, cohort,
    state, facts (learning goals, host, dates), audit trail, deadlines and messages."""
    with runtime.db.reading() as conn:
        row = find_participant(conn, ref)
        cohort = load_cohorts(conn, {row.cohort_id})[row.cohort_id]
        due = next_due(conn, row.id)
        audit = conn.execute(
            select(AUDIT).where(AUDIT.c.participant_id == row.id).order_by(AUDIT.c.seq)
        ).all()
        deadlines = conn.execute(
            select(DEADLINES)
            .where(DEADLINES.c.participant_id == row.id)
            .order_by(DEADLINES.c.due_at, DEADLINES.c.id)
        ).all()
        outbox = conn.execute(
            select(
                OUTBOX.c.id,
                OUTBOX.c.rule,
                OUTBOX.c.occurrence,
                OUTBOX.c.recipient_role,
                OUTBOX.c.recipient,
                OUTBOX.c.subject,
                OUTBOX.c.status,
                OUTBOX.c.attempts,
                OUTBOX.c.created_at,
                OUTBOX.c.sent_at,
            )
            .where(OUTBOX.c.participant_id == row.id)
            .order_by(OUTBOX.c.id)
        ).all()
        updated_at = conn.execute(
            select(PARTICIPANTS.c.updated_at).where(PARTICIPANTS.c.id == row.id)
        ).scalar_one()
        deferred_to = list(
            conn.execute(
                select(PARTICIPANTS.c.id).where(PARTICIPANTS.c.deferred_from_id == row.id)
            ).scalars()
        )
    view = participant_view(row, cohort, due, runtime.today())
    participant = view.as_json()
    participant.update(
        {
            "cohort_name": cohort.name,
            "jti_link": row.jti_link,
            "created_at": row.created_at.isoformat(),
            "updated_at": updated_at.isoformat(),
            "erased_at": row.erased_at.isoformat() if row.erased_at else None,
            "deferred_from": row.deferred_from_id,
            "deferred_to": deferred_to,
        }
    )
    return {
        "exported_at": runtime.now().isoformat(),
        "participant": participant,
        "audit": [audit_view(entry._mapping).as_json() for entry in audit],
        "deadlines": [
            {
                "rule": d.rule,
                "occurrence": d.occurrence,
                "due_at": _iso(d.due_at),
                "expires_at": _iso(d.expires_at),
                "status": d.status,
                "resolved_at": _iso(d.resolved_at),
                "outcome": d.outcome,
            }
            for d in deadlines
        ],
        "messages": [
            {
                "id": m.id,
                "rule": m.rule,
                "occurrence": m.occurrence,
                "to": m.recipient_role,
                "recipient": m.recipient,
                "subject": m.subject,
                "status": m.status,
                "attempts": m.attempts,
                "created_at": _iso(m.created_at),
                "sent_at": _iso(m.sent_at),
            }
            for m in outbox
        ],
        "not_held": list(NOT_HELD),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# -- erasure ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MailCopies:
    """What erasure did with the copies of messages outside the database: the ``.eml``
    files in the mail folder (``folder``; ``None`` when mail goes another way), and the
    copies it cannot reach, one line each."""

    folder: str | None = None
    files_removed: int = 0
    files_rewritten: int = 0
    unreachable: tuple[str, ...] = ()

    def __add__(self, other: MailCopies) -> MailCopies:
        return MailCopies(
            self.folder or other.folder,
            self.files_removed + other.files_removed,
            self.files_rewritten + other.files_rewritten,
            _merge_unreachable(self.unreachable, other.unreachable),
        )

    def lines(self) -> list[str]:
        """What was removed and what could not be reached, for a person to read."""
        done = []
        if self.folder is not None and (self.files_removed or self.files_rewritten):
            done.append(
                f"Removed {self.files_removed} of their .eml file(s) from {self.folder} and "
                f"rewrote {self.files_rewritten} of other people's that named them."
            )
        return [*done, *self.unreachable]

    def as_json(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "files_removed": self.files_removed,
            "files_rewritten": self.files_rewritten,
            "unreachable": list(self.unreachable),
        }


@dataclass(frozen=True)
class Erasure:
    """One participant erased: who they are now, and what was cleared."""

    participant_id: int
    cohort: str
    state: str
    erased_at: datetime
    notes_cleared: int
    messages_cleared: int
    mail: MailCopies = field(default_factory=MailCopies)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.participant_id,
            "name": pseudonym(self.participant_id),
            "cohort": self.cohort,
            "state": self.state,
            "erased_at": self.erased_at.isoformat(),
            "notes_cleared": self.notes_cleared,
            "messages_cleared": self.messages_cleared,
            "mail": self.mail.as_json(),
        }


def erase_refusals(row: ParticipantRow, reason: str | None) -> list[str]:
    """Why a participant cannot be erased now; empty when they can."""
    problems: list[str] = []
    if not reason or not reason.strip():
        problems.append(REASON_REQUIRED)
    if row.erased_at is not None:
        when = row.erased_at.astimezone(LOCAL_TZ).date().isoformat()
        problems.append(f"participant #{row.id} was already erased on {when}")
    elif row.state not in FINAL_STATES:
        label = STATE_BY_NAME[row.state].label_da
        problems.append(
            f"participant #{row.id} is {row.state} ({label}); personal data can be erased only "
            "after the path has ended: completed, withdrawn or deferred"
        )
    return problems


def erase_participant(
    runtime: Runtime, ref: str | int, reason: str, *, channel: Channel | None = None
) -> Erasure:
    """Pseudonymise a participant whose path has ended (completed, withdrawn or deferred).

    Name and email become a pseudonym; workplace, manager, host, JTI link, learning goals,
    agreements and the reasons given for absences and waivers are cleared; audit notes are
    blanked (the chain still verifies); their messages lose their bodies, and pending ones are
    dropped. Cohort, municipality, state and dates stay, for statistics. The erasure itself is
    an audit entry.

    The copies outside the database go too: with ``.eml`` delivery (``channel``, by default
    the configured one) their message files are removed and other people's that quote them
    are rewritten; what cannot be reached (mail delivered by SMTP) is named in
    :attr:`Erasure.mail`. A file that cannot be removed refuses the erasure.
    """
    if channel is None:
        channel = runtime.settings.channel()
    now = runtime.now()
    with runtime.db.reading() as conn:
        row = find_participant(conn, ref)
        cohort = load_cohorts(conn, {row.cohort_id})[row.cohort_id]
    problems = erase_refusals(row, reason)
    if problems:
        raise GuardFailed(ERASE_EVENT, problems)
    step = _erase_step(row, cohort, now, runtime.actor, reason.strip())
    with runtime.db.transaction() as conn:
        write(conn, [step])
        notes, messages, quoted = _scrub(conn, [row], now)
        copies = _erase_copies(conn, [row], quoted, channel)
    return Erasure(row.id, cohort.code, row.state, now, notes, messages, copies)


def _erase_step(
    row: ParticipantRow, cohort: CohortRow, now: datetime, actor: str, reason: str
) -> Step:
    step = Step(row, cohort, now, actor)
    step.facts = erased_facts(step.facts)
    step.record(ERASE_EVENT, step.state, step.state, note=reason)
    return step


def erased_facts(facts: Facts) -> Facts:
    """The facts without anything a person wrote or any other person: dates and outcomes
    stay, learning goals, host, agreements and reasons go."""
    return facts.with_changes(
        goals=(),
        host=None,
        agreements=None,
        days={number: DayRecord(r.on, r.attended, None) for number, r in facts.days.items()},
        waivers={name: Waiver(w.on, "", w.absences_covered) for name, w in facts.waivers.items()},
    )


def _scrub(
    conn: Connection, rows: list[ParticipantRow], now: datetime
) -> tuple[int, int, list[int]]:
    """Clear the personal data of already-audited erasures: the participant rows, their audit
    notes and their messages, and their name and address wherever another message quotes
    them. Returns (audit notes cleared, messages cleared, ids of the quoting messages)."""
    conn.execute(
        update(PARTICIPANTS)
        .where(PARTICIPANTS.c.id == bindparam("b_id"))
        .values(
            name=bindparam("b_name"),
            email=bindparam("b_email"),
            workplace=None,
            manager_name="",
            manager_email="",
            jti_link=None,
            erased_at=now,
        ),
        [{"b_id": r.id, "b_name": pseudonym(r.id), "b_email": pseudonym_email(r.id)} for r in rows],
    )
    ids = [r.id for r in rows]
    conn.execute(
        update(LINKS)
        .where(LINKS.c.participant_id.in_(ids), LINKS.c.status.in_(("active", "submitted")))
        .values(status="revoked", closed_at=now, closed_reason="participant erased")
    )
    conn.execute(update(LINKS).where(LINKS.c.participant_id.in_(ids)).values(person="(erased)"))
    # What a person submitted through a link (goals, a host) goes with the rest.
    conn.execute(
        update(APPROVALS)
        .where(APPROVALS.c.participant_id.in_(ids))
        .values(request={}, submitted_by="(erased)")
    )
    conn.execute(
        update(APPROVALS)
        .where(APPROVALS.c.participant_id.in_(ids), APPROVALS.c.status == "pending")
        .values(status="rejected", decided_at=now, reason="participant erased")
    )
    notes = 0
    for r in rows:
        notes += conn.execute(
            update(AUDIT)
            .where(
                AUDIT.c.participant_id == r.id,
                AUDIT.c.seq <= r.audit_seq,
                AUDIT.c.note.is_not(None),
            )
            .values(note=None)
        ).rowcount
    messages = _scrub_own_messages(conn, rows)
    quoted = _scrub_quotes(conn, rows)
    return notes, messages, quoted


def _replacements(row: ParticipantRow) -> list[tuple[str, str]]:
    """(personal string, what replaces it), longest first, in plain and HTML-escaped form."""
    pairs: dict[str, str] = {}
    facts = row.facts
    # Addresses are stored as formatted headers, where a name with æøå is RFC 2047-encoded.
    for value, substitute in (
        (formataddr((row.name, row.email)), _pseudonym_address(row.id)),
        (formataddr((row.manager_name, row.manager_email)), "(slettet)"),
        (row.name, pseudonym(row.id)),
        (row.email, pseudonym_email(row.id)),
        (row.manager_name, "(slettet)"),
        (row.manager_email, "(slettet)"),
        (facts.host.name if facts.host else "", "(slettet)"),
        (facts.host.email if facts.host else "", "(slettet)"),
    ):
        if value and value.strip():
            pairs[value] = substitute
            pairs[str(escape(value))] = substitute
    return sorted(pairs.items(), key=lambda pair: -len(pair[0]))


def _pseudonym_address(participant_id: int) -> str:
    return formataddr((pseudonym(participant_id), pseudonym_email(participant_id)))


def _replace_all(text: str | None, pairs: Iterable[tuple[str, str]]) -> str | None:
    if not text:
        return text
    for old, new in pairs:
        text = text.replace(old, new)
    return text


def _scrub_own_messages(conn: Connection, rows: list[ParticipantRow]) -> int:
    by_id = {r.id: r for r in rows}
    changes = []
    carried: set[str] = set()
    for message in conn.execute(
        select(
            OUTBOX.c.id,
            OUTBOX.c.participant_id,
            OUTBOX.c.recipient_role,
            OUTBOX.c.recipient,
            OUTBOX.c.subject,
            OUTBOX.c.status,
            OUTBOX.c.last_error,
            OUTBOX.c.attachment_digest,
        ).where(OUTBOX.c.participant_id.in_(list(by_id)))
    ):
        if message.attachment_digest is not None:
            carried.add(message.attachment_digest)
        row = by_id[message.participant_id]
        pairs = _replacements(row)
        if message.recipient_role == "participant":
            recipient = _pseudonym_address(row.id)
        elif message.recipient_role == "admin":
            recipient = message.recipient
        else:
            recipient = f"({message.recipient_role}, slettet)"
        pending = message.status == "pending"
        changes.append(
            {
                "b_id": message.id,
                "b_recipient": recipient,
                "b_subject": _replace_all(message.subject, pairs),
                "b_status": "dropped" if pending else message.status,
                "b_error": "participant erased before delivery"
                if pending
                else _replace_all(message.last_error, pairs),
            }
        )
    if changes:
        conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == bindparam("b_id"))
            .values(
                recipient=bindparam("b_recipient"),
                subject=bindparam("b_subject"),
                status=bindparam("b_status"),
                last_error=bindparam("b_error"),
                body_text="",
                body_html="",
                attachment=None,
                attachment_digest=None,
                attachment_name=None,
                attachment_type=None,
                claimed_until=None,
            ),
            changes,
        )
    forget(conn, carried)
    return len(changes)


_QUOTING = ("subject", "body_text", "body_html", "recipient", "last_error")


def _scrub_quotes(conn: Connection, rows: list[ParticipantRow]) -> list[int]:
    """Other messages (the administrators' digest, other people's mail) may quote an erased
    participant's name or address; replace those quotes by the pseudonym. A group
    announcement lists the other members as "name, workplace, municipality": there the
    workplace goes with the name. Returns the ids of the messages changed."""
    erased = {r.id for r in rows}
    changed: list[int] = []
    for row in rows:
        names = [row.name, str(escape(row.name))]
        listed = (
            [
                f"{name}, {workplace}"
                for name, workplace in {
                    (row.name, row.workplace),
                    (str(escape(row.name)), str(escape(row.workplace))),
                }
            ]
            if row.workplace and row.workplace.strip()
            else []
        )
        emails = [row.email]
        address = formataddr((row.name, row.email))
        # A namesake's own messages name the namesake: there only the address is replaced.
        namesakes = set(
            conn.execute(
                select(PARTICIPANTS.c.id).where(
                    PARTICIPANTS.c.name == row.name, PARTICIPANTS.c.id.not_in(erased)
                )
            ).scalars()
        )
        needles = [text for text in {*names, *emails} if text.strip()]
        if not needles:
            continue
        quoting = or_(
            *(
                OUTBOX.c[column].contains(text, autoescape=True)
                for text in needles
                for column in _QUOTING
            )
        )
        candidates = conn.execute(
            select(OUTBOX.c.id, OUTBOX.c.participant_id, *(OUTBOX.c[c] for c in _QUOTING)).where(
                or_(OUTBOX.c.participant_id.is_(None), OUTBOX.c.participant_id.not_in(erased)),
                quoting,
            )
        ).all()
        changes = []
        for message in candidates:
            pairs = [(address, _pseudonym_address(row.id))]
            pairs += [(email, pseudonym_email(row.id)) for email in emails]
            if message.participant_id not in namesakes:
                pairs += [(name, pseudonym(row.id)) for name in [*listed, *names]]
            pairs.sort(key=lambda pair: -len(pair[0]))
            changes.append(
                {"b_id": message.id}
                | {
                    f"b_{column}": _replace_all(message._mapping[column], pairs)
                    for column in _QUOTING
                }
            )
        if changes:
            conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == bindparam("b_id"))
                .values({column: bindparam(f"b_{column}") for column in _QUOTING}),
                changes,
            )
            changed += [change["b_id"] for change in changes]
    return list(dict.fromkeys(changed))


# -- copies outside the database ----------------------------------------------------------------


def _erase_copies(
    conn: Connection, rows: list[ParticipantRow], quoted: list[int], channel: Channel
) -> MailCopies:
    """Remove the erased participants' ``.eml`` files (and any a crash left half-written),
    rewrite the files of the other messages that quoted them from their scrubbed rows, and
    name the copies out of reach. Runs inside the erasure's transaction, so a file that cannot
    be removed refuses the erasure."""
    from notifications.delivery import EmlChannel, SmtpChannel

    own = conn.execute(
        select(OUTBOX.c.key, OUTBOX.c.rule, OUTBOX.c.status).where(
            OUTBOX.c.participant_id.in_([r.id for r in rows])
        )
    ).all()
    others = (
        conn.execute(
            select(*outbox_columns())
            .select_from(WITH_FILES)
            .where(OUTBOX.c.id.in_(quoted))
            .order_by(OUTBOX.c.id)
        ).all()
        if quoted
        else []
    )
    sent = sum(1 for m in [*own, *others] if m.status == "sent")
    if not isinstance(channel, EmlChannel):
        if not sent:
            return MailCopies()
        way = (
            f"by SMTP ({channel.url})"
            if isinstance(channel, SmtpChannel)
            else (f"through the {channel.name} channel")
        )
        return MailCopies(
            unreachable=(
                f"Not reached: {sent} sent message(s) that held their data went {way}; the "
                "copies delivered to mail servers and mailboxes cannot be erased from here.",
            )
        )
    removed = missing = rewritten = 0
    for message in own:
        path = channel.path_for_key(message.rule, message.key)
        removed += _remove_stale(path)
        if _remove(path):
            removed += 1
        elif message.status == "sent":
            missing += 1
    for message in others:
        path = channel.path_for_key(message.rule, message.key)
        _remove_stale(path)
        if _rewrite(path, message):
            rewritten += 1
        elif message.status == "sent":
            missing += 1
    unreachable: tuple[str, ...] = ()
    if missing:
        unreachable = (
            f"Not reached: {missing} sent message(s) that held their data have no file in "
            f"{channel.directory}; copies sent another way or moved from there cannot be "
            "erased from here.",
        )
    return MailCopies(str(channel.directory), removed, rewritten, unreachable)


def _file_error(path: Path, exc: OSError) -> LpsError:
    return LpsError(
        f"cannot erase the mail file {path}: {exc.strerror or exc}; the participant was not "
        "erased; fix the folder and run the erasure again"
    )


def _remove(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise _file_error(path, exc) from None
    return True


def _remove_stale(path: Path) -> int:
    """Remove the temporary files a crash may have left for ``path``; how many there were."""
    stale = glob.glob(glob.escape(str(path.with_name(f".{path.name}."))) + "*.tmp")
    return sum(_remove(Path(name)) for name in stale)


def _rewrite(path: Path, message: Any) -> bool:
    """Write ``path`` again from the scrubbed ``message`` row, with the Date and the domain of
    its Message-ID as they were; ``False`` when there is no such file."""
    from notifications.delivery import compose
    from notifications.files import write_file
    from workflow.outgoing import outgoing_mail

    try:
        old = path.read_bytes()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise _file_error(path, exc) from None
    header = BytesHeaderParser().parsebytes(old)
    try:
        sent = parsedate_to_datetime(str(header["Date"]))
    except (TypeError, ValueError):
        sent = message.sent_at or message.created_at
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    domain = str(header["Message-ID"] or "").strip().rstrip(">").rpartition("@")[2]
    mail = outgoing_mail(message)
    composed = compose(mail, domain=domain, date=sent) if domain else compose(mail, date=sent)
    try:
        write_file(path, composed.data)
    except OSError as exc:
        raise _file_error(path, exc) from None
    return True


def _merge_unreachable(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*first, *second)))


# -- retention ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeCandidate:
    """A participant whose path ended before the retention date."""

    participant_id: int
    cohort: str
    state: str
    ended_on: date

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.participant_id,
            "cohort": self.cohort,
            "state": self.state,
            "ended_on": self.ended_on.isoformat(),
        }


@dataclass(frozen=True)
class PurgeReport:
    """Who a purge erased, or with ``dry_run`` would erase."""

    before: date
    dry_run: bool
    candidates: list[PurgeCandidate]
    erased: list[int] = field(default_factory=list)
    mail: MailCopies = field(default_factory=MailCopies)

    def as_json(self) -> dict[str, Any]:
        return {
            "completed_before": self.before.isoformat(),
            "dry_run": self.dry_run,
            "candidates": [c.as_json() for c in self.candidates],
            "erased": self.erased,
            "mail": self.mail.as_json(),
        }


def purge_candidates(runtime: Runtime, before: date) -> list[PurgeCandidate]:
    """Participants not yet erased whose path ended (completed, withdrawn, deferred) before
    ``before``: the day they entered that state, or the date recorded for it with ``--on``."""
    with runtime.db.reading() as conn:
        rows = conn.execute(
            select(
                PARTICIPANTS.c.id,
                PARTICIPANTS.c.state,
                COHORTS.c.code,
                AUDIT.c.at,
                AUDIT.c.data,
            )
            .join(COHORTS, COHORTS.c.id == PARTICIPANTS.c.cohort_id)
            .join(
                AUDIT,
                (AUDIT.c.participant_id == PARTICIPANTS.c.id)
                & (AUDIT.c.to_state == PARTICIPANTS.c.state)
                & (AUDIT.c.from_state != PARTICIPANTS.c.state),
            )
            .where(
                PARTICIPANTS.c.state.in_(sorted(FINAL_STATES)),
                PARTICIPANTS.c.erased_at.is_(None),
            )
            .order_by(PARTICIPANTS.c.id, AUDIT.c.seq)
        ).all()
    ended: dict[int, PurgeCandidate] = {}
    for r in rows:
        if r.id in ended:
            continue
        recorded = (r.data or {}).get("on")
        on = date.fromisoformat(recorded) if recorded else r.at.astimezone(LOCAL_TZ).date()
        ended[r.id] = PurgeCandidate(r.id, r.code, r.state, on)
    return [c for c in ended.values() if c.ended_on < before]


def _forget_unnamed(runtime: Runtime) -> None:
    # Each erasure deletes the files its messages named; this catches any other a message no
    # longer names, so that none is kept for ever.
    with runtime.db.transaction() as conn:
        forget(conn)


def purge(
    runtime: Runtime,
    before: date,
    *,
    dry_run: bool = False,
    reason: str | None = None,
    progress: Callable[[int], None] | None = None,
    channel: Channel | None = None,
) -> PurgeReport:
    """Erase everyone whose path ended before ``before`` (retention), their mail files with
    them as in :func:`erase_participant`, and delete the shared files (a calendar) that no
    message names any more. Each batch is one transaction; a participant changed
    meanwhile by someone else is left alone and reported in :class:`BulkRefused` after the
    others are erased."""
    candidates = purge_candidates(runtime, before)
    report = PurgeReport(before, dry_run, candidates)
    if dry_run:
        return report
    if not candidates:
        _forget_unnamed(runtime)
        return report
    if channel is None:
        channel = runtime.settings.channel()
    copies = MailCopies()
    note = (reason or "").strip() or f"retention: path ended before {before.isoformat()}"
    refused: dict[str, list[str]] = {}
    batch = 200
    for start in range(0, len(candidates), batch):
        ids = [c.participant_id for c in candidates[start : start + batch]]
        now = runtime.now()
        with runtime.db.reading() as conn:
            rows = [
                ParticipantRow.from_row(r)
                for r in conn.execute(select(PARTICIPANTS).where(PARTICIPANTS.c.id.in_(ids)))
            ]
            cohorts = load_cohorts(conn, {r.cohort_id for r in rows})
        steps: list[Step] = []
        for row in rows:
            problems = erase_refusals(row, note)
            if problems:
                refused[f"#{row.id}"] = problems
                continue
            steps.append(_erase_step(row, cohorts[row.cohort_id], now, runtime.actor, note))
        with runtime.db.transaction() as conn:
            conflicts = {id(step) for step in write(conn, steps, raise_conflict=False)}
            written = [step for step in steps if id(step) not in conflicts]
            if written:
                erased_rows = [step.row for step in written]
                _, _, quoted = _scrub(conn, erased_rows, now)
                copies = copies + _erase_copies(conn, erased_rows, quoted, channel)
        for step in steps:
            if id(step) in conflicts:
                refused[f"#{step.row.id}"] = ["changed by someone else at the same time; try again"]
            else:
                report.erased.append(step.row.id)
        if progress:
            progress(len(ids))
    report = replace(report, mail=copies)
    _forget_unnamed(runtime)
    if refused:
        raise BulkRefused(refused, len(report.erased))
    return report
