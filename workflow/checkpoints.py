"""Signed checkpoints of the audit trail: every chain's length and head, signed with the
audit key, so that a chain cut short or a participant deleted shows even when each entry
left is intact.

One is written on every sweep and on demand (``lps audit checkpoint``); the database keeps
only the newest. A checkpoint never forgets: a chain that is shorter than in the previous
checkpoint, or gone, keeps the previous length and head, so a loss stays visible. A copy
written to a file outside the database's reach detects also a checkpoint row deleted or put
back from an older copy.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.engine import Connection

from workflow.audit import key_id, sign
from workflow.clock import Clock, parse_moment
from workflow.db import Database
from workflow.errors import InvalidInput
from workflow.models import AUDIT, AUDIT_CHECKPOINTS, PARTICIPANTS

__all__ = [
    "FORMAT",
    "Checkpoint",
    "NoAuditKey",
    "newest_checkpoint",
    "read_checkpoint",
    "take_checkpoint",
    "write_checkpoint",
]

FORMAT = "lps-audit-checkpoint/1"


class NoAuditKey(InvalidInput):
    """A checkpoint is signed with the audit key, and none is set."""


@dataclass(frozen=True)
class Checkpoint:
    """Every chain's (length, head) at one moment, and the signature over them."""

    at: datetime
    key_id: str
    chains: dict[int, tuple[int, str]]
    signature: str = ""

    @property
    def participants(self) -> int:
        return len(self.chains)

    @property
    def entries(self) -> int:
        return sum(seq for seq, _ in self.chains.values())

    def body(self) -> bytes:
        """The signed bytes: one canonical JSON document."""
        return json.dumps(
            {
                "format": FORMAT,
                "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"),
                "key_id": self.key_id,
                "chains": {
                    str(pid): [seq, head] for pid, (seq, head) in sorted(self.chains.items())
                },
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode("ascii")

    def with_signature(self, key: str) -> Checkpoint:
        return Checkpoint(self.at, self.key_id, self.chains, sign(key, self.body()))

    def signed_by(self, key: str) -> bool:
        """Whether ``key`` signed this checkpoint as it is."""
        return self.key_id == key_id(key) and hmac.compare_digest(
            self.signature, sign(key, self.body())
        )

    def to_text(self) -> str:
        """The checkpoint as a file holds it: its body and its signature."""
        document = json.loads(self.body())
        document["signature"] = self.signature
        return json.dumps(document, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_text(cls, text: str, *, source: str) -> Checkpoint:
        """A checkpoint read back from :meth:`to_text`; anything else raises
        :class:`InvalidInput` naming ``source``."""
        problem = f"{source} is not an lps audit checkpoint"
        try:
            document = json.loads(text)
        except ValueError:
            raise InvalidInput(f"{problem}: it is not JSON") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise InvalidInput(f'{problem}: it has no "format": "{FORMAT}"')
        try:
            at = parse_moment(str(document["at"]), name=f"the moment in {source}")
            chains: dict[int, tuple[int, str]] = {}
            for pid, value in dict(document["chains"]).items():
                seq, head = value
                if not isinstance(seq, int) or not isinstance(head, str):
                    raise ValueError
                chains[int(pid)] = (seq, head)
            return cls(at, str(document["key_id"]), chains, str(document["signature"]))
        except (KeyError, TypeError, ValueError):
            raise InvalidInput(
                f"{problem}: its chains, moment or signature are malformed"
            ) from None


def _from_row(row: Any) -> Checkpoint:
    document = json.loads(row.body)
    chains = {int(pid): (int(seq), str(head)) for pid, (seq, head) in document["chains"].items()}
    return Checkpoint(row.at, row.key_id, chains, row.signature)


def newest_checkpoint(conn: Connection) -> Checkpoint | None:
    """The newest checkpoint the database holds, or ``None``."""
    row = conn.execute(
        select(AUDIT_CHECKPOINTS).order_by(AUDIT_CHECKPOINTS.c.id.desc()).limit(1)
    ).first()
    if row is None:
        return None
    try:
        return _from_row(row)
    except (KeyError, TypeError, ValueError):
        # Unreadable is unsigned: verification reports it as not signed.
        return Checkpoint(row.at, row.key_id, {}, "")


def _hashes_at(conn: Connection, where: list[tuple[int, int]]) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for start in range(0, len(where), 500):
        batch = where[start : start + 500]
        found += [
            (row.participant_id, row.hash)
            for row in conn.execute(
                select(AUDIT.c.participant_id, AUDIT.c.hash).where(
                    tuple_(AUDIT.c.participant_id, AUDIT.c.seq).in_(batch)
                )
            )
        ]
    missing = {pid for pid, _ in where} - {pid for pid, _ in found}
    return found + [(pid, "") for pid in missing]


def write_checkpoint(
    conn: Connection, key: str, now: datetime, *, if_moved: bool = False
) -> Checkpoint:
    """Sign and store a checkpoint of every chain in the caller's transaction, keeping what
    the previous one (if signed by ``key``) recorded of chains now shorter or gone. With
    ``if_moved`` (the sweep's), a previous one that still says all is kept as it is."""
    chains: dict[int, tuple[int, str]] = {
        row.id: (row.audit_seq, row.audit_head)
        for row in conn.execute(
            select(PARTICIPANTS.c.id, PARTICIPANTS.c.audit_seq, PARTICIPANTS.c.audit_head)
        )
    }
    previous = newest_checkpoint(conn)
    if previous is not None and previous.signed_by(key):
        grown: list[tuple[int, int]] = []
        for pid, (seq, head) in previous.chains.items():
            now_seq, now_head = chains.get(pid, (-1, ""))
            if now_seq < seq or (now_seq == seq and now_head != head):
                chains[pid] = (seq, head)
            elif now_seq > seq > 0:
                grown.append((pid, seq))
        # A chain that grew must still pass through the head it had.
        for pid, entry_hash in _hashes_at(conn, grown):
            seq, head = previous.chains[pid]
            if entry_hash != head:
                chains[pid] = (seq, head)
        if if_moved and chains == previous.chains:
            # A sweep that moved nothing rewrites no megabytes of the same.
            return previous
    checkpoint = Checkpoint(now, key_id(key), chains).with_signature(key)
    conn.execute(delete(AUDIT_CHECKPOINTS))
    conn.execute(
        insert(AUDIT_CHECKPOINTS).values(
            at=now,
            participants=checkpoint.participants,
            entries=checkpoint.entries,
            key_id=checkpoint.key_id,
            body=checkpoint.body().decode("ascii"),
            signature=checkpoint.signature,
        )
    )
    return checkpoint


def take_checkpoint(database: Database, clock: Clock) -> Checkpoint:
    """Write a checkpoint now, as its own unit of work; without an audit key raises
    :class:`NoAuditKey`."""
    if not database.audit_key:
        raise NoAuditKey(
            "a checkpoint is signed with the audit key, and none is set; set LPS_AUDIT_KEY "
            "(keep it outside the database)"
        )
    with database.transaction() as conn:
        return write_checkpoint(conn, database.audit_key, clock.now())


def read_checkpoint(path: Path) -> Checkpoint:
    """A checkpoint file written by ``lps audit checkpoint --output``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not text"
        raise InvalidInput(f"cannot read the checkpoint {path}: {reason}") from None
    return Checkpoint.from_text(text, source=str(path))
