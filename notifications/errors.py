"""What can go wrong between an outbox row and a recipient's mailbox."""

from __future__ import annotations

from states.errors import LpsError

__all__ = ["DeliveryError", "WireFormatError"]


class DeliveryError(LpsError):
    """A message could not be delivered.

    ``transient`` is true when sending the same message again later may succeed
    (4xx replies, network trouble) and false when it will not without a change
    (5xx replies, bad credentials, certificate problems).  ``code`` is the SMTP
    reply code when the server gave one.  The text never contains a password.
    """

    def __init__(self, message: str, *, transient: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code


class WireFormatError(LpsError, ValueError):
    """A message that cannot be written as RFC 5322 bytes: a naive date, an address that is
    not exactly one address, a header value of more than one line, a malformed attachment."""
