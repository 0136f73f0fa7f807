"""Checking the audit trail: every chain intact, every trail replaying to its state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from states.errors import LpsError
from states.programme import BUILTIN, Programme, replay
from workflow.audit import GENESIS, entry_hash, note_digest
from workflow.db import Database
from workflow.programmes import programme_of
from workflow.records import AUDIT, PARTICIPANTS

__all__ = [
    "AuditProblem",
    "VerifyReport",
    "verify_audit",
]


@dataclass(frozen=True)
class AuditProblem:
    participant_id: int
    seq: int | None
    message: str

    def __str__(self) -> str:
        where = f"participant #{self.participant_id}"
        if self.seq is not None:
            where += f", entry {self.seq}"
        return f"{where}: {self.message}"


@dataclass
class VerifyReport:
    participants: int = 0
    entries: int = 0
    problems: list[AuditProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_audit(
    database: Database, *, progress: Callable[[int], None] | None = None
) -> VerifyReport:
    """Recompute every participant's hash chain and replay it against the participant row."""
    report = VerifyReport()
    with database.reading() as conn:
        heads = {
            row.id: row
            for row in conn.execute(
                select(
                    PARTICIPANTS.c.id,
                    PARTICIPANTS.c.state,
                    PARTICIPANTS.c.audit_seq,
                    PARTICIPANTS.c.audit_head,
                    PARTICIPANTS.c.definition_version,
                )
            )
        }
        entries = conn.execution_options(yield_per=5000).execute(
            select(AUDIT).order_by(AUDIT.c.participant_id, AUDIT.c.seq)
        )
        seen: set[int] = set()
        for participant_id, chain in _chains(entries):
            seen.add(participant_id)
            report.participants += 1
            report.entries += len(chain)
            head = heads.get(participant_id)
            if head is None:
                report.problems.append(
                    AuditProblem(
                        participant_id, None, "entries for a participant that does not exist"
                    )
                )
                continue
            report.problems += _check_chain(participant_id, chain, head)
            if progress:
                progress(1)
        for participant_id, head in heads.items():
            if participant_id not in seen and head.audit_seq:
                report.participants += 1
                report.problems.append(
                    AuditProblem(participant_id, None, f"all {head.audit_seq} entries are missing")
                )
    return report


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


def _check_chain(participant_id: int, chain: list[Any], head: Any) -> list[AuditProblem]:
    problems: list[AuditProblem] = []
    previous = GENESIS
    for expected_seq, entry in enumerate(chain, start=1):
        if entry.seq != expected_seq:
            problems.append(
                AuditProblem(
                    participant_id,
                    entry.seq,
                    f"expected entry {expected_seq} here: an entry was deleted or inserted",
                )
            )
            return problems
        if entry.prev_hash != previous:
            problems.append(
                AuditProblem(participant_id, entry.seq, "does not link to the entry before it")
            )
            return problems
        if entry.note is not None and note_digest(entry.note) != entry.note_digest:
            problems.append(AuditProblem(participant_id, entry.seq, "its note was edited"))
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
        )
        if recomputed != entry.hash:
            problems.append(
                AuditProblem(
                    participant_id, entry.seq, "its content does not match its hash: edited"
                )
            )
            return problems
        previous = entry.hash
    if len(chain) != head.audit_seq or previous != head.audit_head:
        problems.append(
            AuditProblem(
                participant_id,
                None,
                f"the participant's chain ends at entry {head.audit_seq}, "
                f"but {len(chain)} entries are there: an entry was deleted or added at the end",
            )
        )
        return problems
    try:
        state = _replay(chain, head.definition_version)
    except (ValueError, LpsError) as error:
        problems.append(AuditProblem(participant_id, None, f"does not replay: {error}"))
        return problems
    if state != head.state:
        problems.append(
            AuditProblem(
                participant_id,
                None,
                f"the trail replays to {state}, but the participant is {head.state}",
            )
        )
    return problems
