"""The files messages carry. A file that holds nobody's personal data (a cohort's calendar) is
stored once in the attachments table, however many messages carry it, and each outbox row names
it by the SHA-256 of its bytes; any other file (a certificate) stays on its message's row, where
row-level security guards it with the rest of the message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import delete, exists, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from workflow.models import ATTACHMENTS, OUTBOX

__all__ = [
    "CARRIED",
    "WITH_FILES",
    "Attachment",
    "forget",
    "outbox_columns",
    "shared",
]


class Attachment(NamedTuple):
    """A file a message carries, made for one language. ``digest``, the SHA-256 of ``data`` in
    hex, is given for a file that holds nobody's personal data (see :func:`shared`): only such
    a file is stored once for every message that carries it."""

    name: str
    content_type: str
    data: bytes
    digest: str | None = None


def shared(name: str, content_type: str, data: bytes) -> Attachment:
    """A file that holds nobody's personal data, to be stored once however many messages carry
    it; made once per distinct file, since its digest hashes every byte."""
    return Attachment(name, content_type, data, hashlib.sha256(data).hexdigest())


# The outbox with the shared file each row names, if any.
WITH_FILES = OUTBOX.outerjoin(ATTACHMENTS, ATTACHMENTS.c.digest == OUTBOX.c.attachment_digest)

# A row's file: its own bytes where it has them (every row written before files were shared
# does), else those of the shared file it names. Selected from :data:`WITH_FILES`.
CARRIED: ColumnElement[Any] = func.coalesce(OUTBOX.c.attachment, ATTACHMENTS.c.data).label(
    "attachment"
)


def outbox_columns(*names: str) -> list[ColumnElement[Any]]:
    """The outbox columns ``names`` (all of them when none are named), ``attachment`` being
    the file the row carries (:data:`CARRIED`), to select from :data:`WITH_FILES`."""
    chosen = names or tuple(column.name for column in OUTBOX.c)
    return [CARRIED if name == "attachment" else OUTBOX.c[name] for name in chosen]


def forget(conn: Connection, digests: Iterable[str] | None = None) -> int:
    """Delete the shared files among ``digests`` (every stored one when ``None``) that no
    outbox row names any more; returns how many were deleted.

    A connection held by row-level security does not see every row that may name a file; the
    foreign key does, and refuses to delete a file still named, so such a file is kept."""
    unnamed = ~exists().where(OUTBOX.c.attachment_digest == ATTACHMENTS.c.digest)
    if digests is not None:
        wanted = sorted(set(digests))
        if not wanted:
            return 0
        unnamed = unnamed & ATTACHMENTS.c.digest.in_(wanted)
    try:
        with conn.begin_nested():
            return int(conn.execute(delete(ATTACHMENTS).where(unnamed)).rowcount)
    except IntegrityError:
        pass
    deleted = 0
    for digest in conn.execute(select(ATTACHMENTS.c.digest).where(unnamed)).scalars().all():
        try:
            with conn.begin_nested():
                deleted += conn.execute(
                    delete(ATTACHMENTS).where(ATTACHMENTS.c.digest == digest, unnamed)
                ).rowcount
        except IntegrityError:
            continue
    return deleted
