"""An outbox row as a mail: what delivery sends, and what ``lps outbox show`` prints."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from sqlalchemy import select

from notifications.delivery import Attachment, OutgoingMail, compose
from workflow.attachments import WITH_FILES, outbox_columns
from workflow.errors import NotFound
from workflow.kernel import Runtime
from workflow.queries import LARGEST_ID
from workflow.records import OUTBOX
from workflow.views import MessageView


def outgoing_mail(row: Any) -> OutgoingMail:
    """The mail an outbox row holds (its key, rule, addresses, texts and attachment), the row
    selected with :func:`workflow.attachments.outbox_columns`, which give it its file."""
    attachments = (
        (Attachment(row.attachment_name, row.attachment_type, bytes(row.attachment)),)
        if row.attachment is not None
        else ()
    )
    return OutgoingMail(
        key=row.key,
        rule=row.rule,
        sender=row.sender,
        recipient=row.recipient,
        subject=row.subject,
        text=row.body_text,
        html=row.body_html,
        attachments=attachments,
    )


def message_view(runtime: Runtime, message_id: int) -> MessageView:
    """Outbox message ``message_id`` byte for byte as it was sent (dated when it was
    sent: a message's bytes follow from its row and that moment), or, if not sent, as it
    would be sent now. Raises :class:`NotFound` for an unknown id."""
    with runtime.db.reading() as conn:
        row = (
            conn.execute(
                select(*outbox_columns()).select_from(WITH_FILES).where(OUTBOX.c.id == message_id)
            ).first()
            if 0 < message_id <= LARGEST_ID
            else None
        )
    if row is None:
        raise NotFound(f"no outbox message with id {message_id}; see `lps outbox list`")
    # Sent in UTC, as the clock gives it, whatever zone the database answers in.
    moment: datetime = row.sent_at.astimezone(UTC) if row.sent_at else runtime.now()
    data = compose(outgoing_mail(row), date=moment).data
    parsed = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body(("plain",))
    return MessageView(
        id=row.id,
        status=row.status,
        sent_at=row.sent_at,
        last_error=row.last_error,
        headers=tuple(
            (name, str(value))
            for name, value in parsed.items()
            if name.lower() not in ("mime-version", "content-type")
        ),
        text=str(body.get_content()) if body is not None else "",
        attachments=tuple(
            (part.get_filename() or "", part.get_content_type())
            for part in parsed.iter_attachments()
        ),
        data=data,
    )
