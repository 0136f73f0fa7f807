"""Checking the audit trail: every chain intact, every trail replaying to its state, and,
with the audit key, every entry sealed and every chain as long as the checkpoints say."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from states.errors import LpsError
from states.facts import Facts
from states.programme import BUILTIN, LOCAL_TZ, Programme, replay
from workflow.audit import GENESIS, entry_hash, facts_digest, key_id, note_digest
from workflow.checkpoints import Checkpoint, NoAuditKey, newest_checkpoint
from workflow.db import Database
from workflow.programmes import programme_of
from workflow.records import AUDIT, PARTICIPANTS

__all__ = [
    "AuditProblem",
    "VerifyReport",
    "verify_audit",
]

_ERASE_EVENT = "erase"


@dataclass(frozen=True)
class AuditProblem:
    participant_id: int | None
    seq: int | None
    message: str

    def __str__(self) -> str:
        if self.participant_id is None:
            return self.message
        where = f"participant #{self.participant_id}"
        if self.seq is not None:
            where += f", entry {self.seq}"
        return f"{where}: {self.message}"


@dataclass
class VerifyReport:
    participants: int = 0
    entries: int = 0
    problems: list[AuditProblem] = field(default_factory=list)
    sealed: bool = False
    """Whether an audit key was given to check the entries' seals with."""
    checkpoints: list[str] = field(default_factory=list)
    """The checkpoints the chains were held against, by what names them."""
    notes: list[str] = field(default_factory=list)
    """What verification could not check, and why."""
    writers: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Entries by (database role, on behalf of); the role is '' in entries from before
    roles were recorded."""

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Anchor:
    label: str
    checkpoint: Checkpoint


def verify_audit(
    database: Database,
    *,
    checkpoint: Checkpoint | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Recompute every participant's hash chain and replay it against the participant row.

    With the database's audit key each entry's seal is checked and every chain is held
    against the newest checkpoint in the database and ``checkpoint`` (one kept outside);
    checking ``checkpoint`` without a key raises :class:`~workflow.checkpoints.NoAuditKey`.
    """
    key = database.audit_key
    if checkpoint is not None and not key:
        raise NoAuditKey("a checkpoint is checked with the audit key; set LPS_AUDIT_KEY")
    report = VerifyReport(sealed=bool(key))
    with database.reading() as conn:
        anchors = _anchors(report, key, newest_checkpoint(conn), checkpoint)
        heads = {
            row.id: row
            for row in conn.execute(
                select(
                    PARTICIPANTS.c.id,
                    PARTICIPANTS.c.state,
                    PARTICIPANTS.c.audit_seq,
                    PARTICIPANTS.c.audit_head,
                    PARTICIPANTS.c.facts,
                    PARTICIPANTS.c.definition_version,
                )
            )
        }
        entries = conn.execution_options(yield_per=5000).execute(
            select(AUDIT).order_by(AUDIT.c.participant_id, AUDIT.c.seq)
        )
        everyone = _sees_everyone(conn)
        if not everyone:
            report.notes.append(
                "this role sees the participants of its municipalities only: their chains "
                "were checked, a participant deleted elsewhere cannot show here"
            )
        seen: set[int] = set()
        for participant_id, chain in _chains(entries):
            seen.add(participant_id)
            report.participants += 1
            report.entries += len(chain)
            report.writers.update((e.role or "", e.actor) for e in chain)
            head = heads.get(participant_id)
            if head is None:
                report.problems.append(
                    AuditProblem(
                        participant_id, None, "entries for a participant that does not exist"
                    )
                )
                continue
            report.problems += _check_chain(participant_id, chain, head, key, anchors)
            if progress:
                progress(1)
        for participant_id, head in heads.items():
            if participant_id not in seen and head.audit_seq:
                report.participants += 1
                report.problems.append(
                    AuditProblem(participant_id, None, f"all {head.audit_seq} entries are missing")
                )
    for anchor in anchors if everyone else ():
        for participant_id, (seq, _) in sorted(anchor.checkpoint.chains.items()):
            if seq and participant_id not in heads and participant_id not in seen:
                report.problems.append(
                    AuditProblem(
                        participant_id,
                        None,
                        f"is missing, but {anchor.label} recorded {seq} entries of theirs: "
                        "the participant was deleted",
                    )
                )
    return report


def _sees_everyone(conn: Connection) -> bool:
    """Whether row-level security lets this connection see every participant."""
    if conn.dialect.name != "postgresql":
        return True
    return bool(
        conn.exec_driver_sql(
            "SELECT rolsuper OR rolbypassrls OR lps_sees_all() FROM pg_roles "
            "WHERE rolname = session_user"
        ).scalar()
    )


def _anchors(
    report: VerifyReport, key: str | None, stored: Checkpoint | None, given: Checkpoint | None
) -> list[_Anchor]:
    if not key:
        report.notes.append(
            "no audit key (LPS_AUDIT_KEY): whoever can write the tables could recompute a "
            "chain, and no checkpoint was checked"
        )
        return []
    anchors: list[_Anchor] = []
    for where, found in (("in the database", stored), ("file", given)):
        if found is None:
            continue
        moment = found.at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
        label = f"the checkpoint {where} of {moment}"
        if where == "file":
            label = f"the checkpoint file of {moment}"
        if found.signed_by(key):
            anchors.append(_Anchor(label, found))
            report.checkpoints.append(label)
        else:
            report.problems.append(
                AuditProblem(
                    None,
                    None,
                    f"{label} is not signed with the audit key: it was edited or forged, or "
                    "LPS_AUDIT_KEY is not the key it was written with",
                )
            )
    if stored is None:
        report.notes.append(
            "the database holds no checkpoint: a chain cut short or a participant deleted "
            "shows only against a checkpoint file (run `lps audit checkpoint`)"
        )
    return anchors


def _chains(rows: Any) -> Iterator[tuple[int, list[Any]]]:
    current: int | None = None
    chain: list[Any] = []
    for row in rows:
        if row.participant_id != current:
            if current is not None:
                yield current, chain
            current, chain = row.participant_id, []
        chain.append(row)
    if current is not None:
        yield current, chain


MIGRATE = "migrate"


def _replay(chain: list[Any], current: str) -> str | None:
    """Replay a trail against the version each entry was written under: the version of
    enrolment up to the first ``migrate`` entry, then the version that entry moved to."""
    migrations = [e for e in chain if e.event == MIGRATE]
    version = str((migrations[0].data or {}).get("from_version")) if migrations else current
    state: str | None = None
    segment: list[tuple[str, str | None, str | None]] = []
    start = 1
    for index, entry in enumerate(chain, start=1):
        if entry.event != MIGRATE:
            segment.append((entry.event, entry.from_state, entry.to_state))
            continue
        if segment:
            state = replay(segment, _programme(version), start=state, first=start)
        if entry.from_state != state:
            raise ValueError(
                f"entry {index} (migrate) starts from {entry.from_state}, expected {state}"
            )
        version = str((entry.data or {}).get("to_version"))
        if entry.to_state not in _programme(version).state_by_name:
            raise ValueError(f"entry {index} (migrate) ends in {entry.to_state}, not in {version}")
        state, segment, start = entry.to_state, [], index + 1
    if segment:
        state = replay(segment, _programme(version), start=state, first=start)
    return state


def _programme(version: str) -> Programme:
    return programme_of(version) or BUILTIN


def _covered(participant_id: int, anchors: list[_Anchor]) -> int:
    return max((a.checkpoint.chains.get(participant_id, (0, ""))[0] for a in anchors), default=0)


def _check_chain(
    participant_id: int, chain: list[Any], head: Any, key: str | None, anchors: list[_Anchor]
) -> list[AuditProblem]:
    problems: list[AuditProblem] = []

    def problem(seq: int | None, message: str) -> list[AuditProblem]:
        problems.append(AuditProblem(participant_id, seq, message))
        return problems

    erased_at = next((e.seq for e in chain if e.event == _ERASE_EVENT), None)
    covered = _covered(participant_id, anchors) if key else 0
    sealed_since: int | None = None
    previous = GENESIS
    for expected_seq, entry in enumerate(chain, start=1):
        if entry.seq != expected_seq:
            return problem(
                entry.seq, f"expected entry {expected_seq} here: an entry was deleted or inserted"
            )
        if entry.prev_hash != previous:
            return problem(entry.seq, "does not link to the entry before it")
        if entry.note is not None and note_digest(entry.note) != entry.note_digest:
            problem(entry.seq, "its note was edited")
        blanked = entry.note is None and entry.note_digest != note_digest(None)
        if blanked and (erased_at is None or entry.seq > erased_at):
            problem(
                entry.seq,
                f"its note was removed, but participant #{participant_id} was never erased",
            )
        if entry.key_id:
            if not key:
                return problem(
                    entry.seq, "is sealed with an audit key; set LPS_AUDIT_KEY to check it"
                )
            if entry.key_id != key_id(key):
                return problem(
                    entry.seq,
                    "is sealed with another audit key than LPS_AUDIT_KEY: set the key it was "
                    "written with",
                )
            sealed_since = sealed_since or entry.seq
        elif key and sealed_since is not None:
            return problem(
                entry.seq,
                f"is not sealed with the audit key, though entry {sealed_since} before it is: "
                "it was rewritten by someone without the key",
            )
        elif key and entry.seq > covered:
            return problem(
                entry.seq,
                "is not sealed with the audit key, and no checkpoint covers it: it was written "
                "or rewritten without the key (after first setting LPS_AUDIT_KEY, run "
                "`lps audit checkpoint` once to anchor the older entries)",
            )
        recomputed = entry_hash(
            prev_hash=entry.prev_hash,
            participant_id=entry.participant_id,
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            event=entry.event,
            from_state=entry.from_state,
            to_state=entry.to_state,
            digest=entry.note_digest,
            data=dict(entry.data or {}),
            role=entry.role,
            facts=entry.facts_digest,
            key=key if entry.key_id else None,
            channel=entry.channel,
        )
        if recomputed != entry.hash:
            return problem(entry.seq, "its content does not match its hash: edited")
        previous = entry.hash
    for anchor in anchors:
        seq, anchored = anchor.checkpoint.chains.get(participant_id, (0, ""))
        if seq > len(chain):
            return problem(
                None,
                f"{anchor.label} recorded {seq} entries, but {len(chain)} are there: "
                "the chain was cut short",
            )
        if seq and chain[seq - 1].hash != anchored:
            return problem(seq, f"differs from {anchor.label}: the chain was rewritten")
    if len(chain) != head.audit_seq or previous != head.audit_head:
        return problem(
            None,
            f"the participant's chain ends at entry {head.audit_seq}, "
            f"but {len(chain)} entries are there: an entry was deleted or added at the end",
        )
    sealed_facts = chain[-1].facts_digest
    if sealed_facts is not None:
        recorded = facts_digest(Facts.from_json(head.facts or {}).to_json())
        if recorded != sealed_facts:
            problem(None, "the recorded facts are not those its last entry sealed: edited")
    try:
        state = _replay(chain, head.definition_version)
    except (ValueError, LpsError) as error:
        return problem(None, f"does not replay: {error}")
    if state != head.state:
        problem(None, f"the trail replays to {state}, but the participant is {head.state}")
    return problems
