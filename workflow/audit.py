"""The hash-chained audit trail: each participant's entries form a chain, and the
participant row holds the chain's head, so an edited, removed or inserted entry shows.

With an audit key (``LPS_AUDIT_KEY``, which the database never holds) each entry's hash is an
HMAC, so whoever can write the tables but lacks the key cannot recompute a chain; the entry
also seals the participant's recorded facts and the database role that wrote it. Entries
written before (``facts_digest`` NULL) keep the plain SHA-256 of their time and still verify.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from workflow.jsontext import canonical

__all__ = [
    "GENESIS",
    "entry_hash",
    "facts_digest",
    "key_id",
    "note_digest",
    "sign",
]


GENESIS = "0" * 64


def note_digest(note: str | None) -> str:
    if not note:
        return _NO_NOTE
    return hashlib.sha256(note.encode("utf-8")).hexdigest()


# Most steps carry no note; its digest is the same every time.
_NO_NOTE = hashlib.sha256(b"").hexdigest()


def facts_digest(facts: Mapping[str, Any]) -> str:
    """The digest of a participant's facts as stored (their JSON document)."""
    return hashlib.sha256(canonical(facts if type(facts) is dict else dict(facts))).hexdigest()


def key_id(key: str | None) -> str:
    """What an entry records of the key that sealed it: '' for none, else a short
    fingerprint that tells keys apart without revealing them."""
    if not key:
        return ""
    return hashlib.sha256(b"lps audit key\x00" + key.encode("utf-8")).hexdigest()[:16]


def sign(key: str, body: bytes) -> str:
    """HMAC-SHA256 of ``body`` with the audit key."""
    return hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()


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
    role: str | None = None,
    facts: str | None = None,
    key: str | None = None,
    channel: str | None = None,
) -> str:
    """The hash of one entry; it covers the note only through its digest, so a note can be
    erased for privacy while the chain still verifies. ``facts`` (the digest of the facts
    the step recorded) and ``role`` are covered when ``facts`` is given, the channel (cli,
    link, scheduler) when it was kept; entries from before either keep the hash they had.
    ``key`` makes the hash an HMAC."""
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
    if facts is not None:
        fields += [role, facts]
    if channel is not None:
        fields.append(channel)
    payload = canonical(fields)
    if key:
        return sign(key, payload)
    return hashlib.sha256(payload).hexdigest()
