"""What can go wrong between an outbox row and a recipient's mailbox."""

from __future__ import annotations

from typing import Literal

from states.errors import LpsError

__all__ = ["DeliveryError", "FailureKind", "WireFormatError"]

FailureKind = Literal["message", "connection", "configuration", "unconfirmed"]


class DeliveryError(LpsError):
    """A message could not be delivered.

    ``transient`` is true when sending the same message again later may succeed
    (4xx replies, network trouble) and false when it will not without a change
    (5xx replies, bad credentials, certificate problems).  ``code`` is the SMTP
    reply code when the server gave one.  The text never contains a password.

    ``kind`` says what failed: ``"message"`` this message (a refusal);
    ``"connection"`` the way to the server (unreachable, not answering, gone
    before the message was sent), which the next message will likely meet too;
    ``"configuration"`` the channel's settings (a rejected login, TLS the server
    does not offer or a certificate not trusted), which no retry mends; and
    ``"unconfirmed"`` a message whose content was sent but whose reception the
    server never confirmed, so that it may have arrived.
    """

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        code: int | None = None,
        kind: FailureKind = "message",
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code
        self.kind: FailureKind = kind


class WireFormatError(LpsError, ValueError):
    """A message that cannot be written as RFC 5322 bytes: a naive date, an address that is
    not exactly one address, a header value of more than one line, a malformed attachment."""
