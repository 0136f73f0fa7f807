"""The hash-chained audit trail: each participant's entries form a chain, and the
participant row holds the chain's head, so an edited, removed or inserted entry shows."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

__all__ = [
    "GENESIS",
    "entry_hash",
    "note_digest",
]


GENESIS = "0" * 64


def note_digest(note: str | None) -> str:
    return hashlib.sha256((note or "").encode("utf-8")).hexdigest()


def entry_hash(
    *,
    prev_hash: str,
    participant_id: int,
    seq: int,
    at: datetime,
    actor: str,
    event: str,
    from_state: str | None,
    to_state: str,
    digest: str,
    data: dict[str, Any],
    channel: str | None = None,
) -> str:
    """The hash of one entry; it covers the note only through its digest, so a note can be
    erased for privacy while the chain still verifies. The channel is covered when it was
    kept (entries written before it was have none, and keep the hash they had)."""
    fields: list[Any] = [
        prev_hash,
        participant_id,
        seq,
        at.isoformat(timespec="microseconds"),
        actor,
        event,
        from_state,
        to_state,
        digest,
        data,
    ]
    if channel is not None:
        fields.append(channel)
    payload = json.dumps(
        fields,
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
