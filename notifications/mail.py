"""What the engine hands to the wire format: one e-mail to one recipient, and its files."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Attachment", "OutgoingMail"]


@dataclass(frozen=True)
class Attachment:
    """A file attached to an outgoing mail.

    ``content_type`` is a MIME type such as ``"application/pdf"`` and may carry
    parameters, e.g. ``"text/calendar; method=REQUEST"``.
    """

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class OutgoingMail:
    """Everything needed to build one e-mail to one recipient.

    ``key`` identifies the mail across retries (e.g. ``"42:welcome:manager:0"``
    for participant, rule, recipient role and occurrence); the ``Message-ID``
    and the ``.eml`` file name are derived from it.
    """

    key: str
    rule: str
    sender: str
    recipient: str
    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = ()
