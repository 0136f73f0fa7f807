"""The wire form of an outgoing mail: RFC 5322 bytes and the SMTP envelope, built in one pass.

Every message ``lps`` sends has the same shape: ``multipart/alternative`` with a plain-text
and an HTML part in quoted-printable UTF-8, wrapped in ``multipart/mixed`` when a file is
attached. Writing that shape directly, with the C codecs of :mod:`binascii` and
:mod:`base64`, costs a few microseconds a message where building and flattening
:mod:`email` objects costs a millisecond, which is the difference a sweep of ten thousand
reminders feels. :func:`notifications.delivery.build_message` parses these bytes back, so
there is one serialiser.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime, getaddresses
from functools import lru_cache
from urllib.parse import quote

from notifications.errors import WireFormatError
from notifications.mail import Attachment, OutgoingMail

__all__ = [
    "DEFAULT_DOMAIN",
    "NEWLINE",
    "Composed",
    "compose",
    "key_digest",
    "message_id_for",
    "split_content_type",
]


DEFAULT_DOMAIN = "lps.invalid"
# Line ends as the email package writes files; SMTP transmission turns them into CRLF.
NEWLINE = b"\n"
# RFC 2047: a line holding encoded words has at most 76 characters.
_ENCODED_LINE = 76
_FOLD_AT = 78
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
# "Name <local@domain>" or "local@domain", with nothing that could make it two addresses;
# anything else goes through the full parser.
_NAMED = re.compile(
    r'\s*(?:"(?P<quoted>(?:[^"\\\r\n]|\\[^\r\n])*)"|(?P<plain>[^][\\()<>@,:;".\r\n]*?))'
    r"\s*<(?P<address>[^<>\s@,;:\"()\[\]\\]+@[^<>\s@,;:\"()\[\]\\]+)>\s*"
)
_BARE = re.compile(r"\s*(?P<address>[^<>\s@,;:\"()\[\]\\]+@[^<>\s@,;:\"()\[\]\\]+)\s*")
_UNESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True)
class Composed:
    """One message ready to hand to a channel: the envelope and the RFC 5322 bytes, with
    LF line ends as in an ``.eml`` file."""

    key: str
    rule: str
    message_id: str
    sender: str
    recipients: tuple[str, ...]
    data: bytes


def key_digest(text: str) -> str:
    """The hex SHA-256 of a key: the source of its Message-ID, boundaries and file name."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _message_id(digest: str, domain: str) -> str:
    return f"<{digest[:32]}@{domain}>"


def message_id_for(key: str, domain: str = DEFAULT_DOMAIN) -> str:
    """Return the ``Message-ID`` (with angle brackets) for an idempotency key."""
    return _message_id(key_digest(key), domain)


# Every message lps sends is automatic, and says so in three dialects, so that no
# out-of-office reply or vacation notice answers it (and starts a loop with the office):
_AUTOMATIC = (
    # RFC 3834, which conforming responders (Sieve vacation, Gmail, Exchange Online) obey.
    b"Auto-Submitted: auto-generated",
    # Exchange and Outlook ignore RFC 3834 for out-of-office replies and read this instead.
    # Not "All": that also suppresses non-delivery reports, which are how a dead address
    # comes to the office's notice.
    b"X-Auto-Response-Suppress: OOF, AutoReply",
    # Older responders (vacation(1), many list-aware ones) read only this.
    b"Precedence: bulk",
)


def sender_domain(address: str) -> str:
    """The domain of a bare address, in lower case: where its Message-IDs belong."""
    return address.rpartition("@")[2].lower() or DEFAULT_DOMAIN


def compose(mail: OutgoingMail, *, domain: str | None = None, date: datetime) -> Composed:
    """The wire form of ``mail``, sent at ``date`` (timezone-aware).

    The same arguments always give the same bytes: boundaries and ``Message-ID`` come from
    the key, the Message-ID's domain from ``domain`` or else the sender's address, so
    that a resend has the same Message-ID and it belongs to the sender's own domain.
    Every message carries ``Auto-Submitted: auto-generated`` and its kin (see
    ``_AUTOMATIC``). Raises :class:`WireFormatError` (a ``ValueError``) for a naive date,
    a sender or recipient that is not exactly one address, a header that is not one line,
    or a malformed attachment type.
    """
    if date.tzinfo is None or date.utcoffset() is None:
        raise WireFormatError(f"date must be timezone-aware, got {date.isoformat()}")
    sender_header, sender = _address_header("sender", mail.sender)
    recipient_header, recipient = _address_header("recipient", mail.recipient)
    subject = _unstructured("subject", "Subject", mail.subject)
    digest = key_digest(mail.key)
    message_id = _message_id(digest, domain or sender_domain(sender))
    boundary = f"=_lps_{digest[:24]}_"
    alternative = _multipart(
        "alternative",
        f"{boundary}{1 if mail.attachments else 0}",
        [_text_part("plain", mail.text), _text_part("html", mail.html)],
    )
    if mail.attachments:
        body = _multipart(
            "mixed",
            f"{boundary}0",
            [alternative, *(_attachment_part(a) for a in mail.attachments)],
        )
    else:
        body = alternative
    headers = [
        b"MIME-Version: 1.0",
        b"From: " + sender_header,
        b"To: " + recipient_header,
        b"Subject: " + subject,
        b"Date: " + _date_header(date),
        b"Message-ID: " + message_id.encode("ascii"),
        *_AUTOMATIC,
        b"X-LPS-Rule: " + _unstructured("rule", "X-LPS-Rule", mail.rule),
        b"X-LPS-Key: " + _unstructured("key", "X-LPS-Key", mail.key),
    ]
    return Composed(
        key=mail.key,
        rule=mail.rule,
        message_id=message_id,
        sender=sender,
        recipients=(recipient,),
        data=NEWLINE.join(headers) + NEWLINE + body,
    )


def _date_header(date: datetime) -> bytes:
    # Equal moments in other zones compare equal, so the offset is part of the key.
    return _formatted_date(date, date.utcoffset())


@lru_cache(maxsize=16)
def _formatted_date(date: datetime, offset: timedelta | None) -> bytes:
    return format_datetime(date).encode("ascii")


def _multipart(subtype: str, boundary: str, parts: list[bytes]) -> bytes:
    """A multipart entity: its Content-Type header line, a blank line, the parts."""
    delimiter = b"--" + boundary.encode("ascii")
    lines = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"'.encode("ascii"), b""]
    for part in parts:
        lines.append(delimiter)
        lines.append(part)
    lines.append(delimiter + b"--")
    return NEWLINE.join(lines) + NEWLINE


def _text_part(subtype: str, text: str) -> bytes:
    # b2a_qp keeps "\n" as line breaks, encodes trailing white space and "=", and folds at 76.
    encoded = binascii.b2a_qp(
        text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8"), istext=True
    )
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\n'
        "Content-Transfer-Encoding: quoted-printable\n\n".encode("ascii")
        + _dot_safe(encoded)
    )


def _dot_safe(encoded: bytes) -> bytes:
    """A line that is a lone "." ends an SMTP transfer on servers that do not unstuff; QP
    lets us write its dot as "=2E" so the body is the same everywhere."""
    if encoded.startswith(b".") or b"\n." in encoded:
        encoded = re.sub(rb"(^|\n)\.", rb"\1=2E", encoded)
    return encoded


def _attachment_part(attachment: Attachment) -> bytes:
    maintype, subtype, params = split_content_type(attachment.content_type)
    content_type = f"{maintype}/{subtype}" + "".join(
        f"; {name}={_parameter_value(value)}" for name, value in params.items()
    )
    header = (
        f"Content-Type: {content_type}\n"
        "Content-Transfer-Encoding: base64\n"
        f"Content-Disposition: attachment; {_filename(attachment.filename)}\n\n"
    )
    return header.encode("ascii") + base64.encodebytes(attachment.data)


def split_content_type(content_type: str) -> tuple[str, str, dict[str, str]]:
    """("type", "subtype", parameters) of a content type such as ``text/calendar;
    method=REQUEST``; ``ValueError`` when it does not look like ``type/subtype``."""
    main, *raw_params = (part.strip() for part in content_type.split(";"))
    maintype, slash, subtype = main.lower().partition("/")
    if not slash or not maintype or not subtype or not main.isascii() or " " in main:
        raise WireFormatError(
            f"attachment content type must look like 'type/subtype', got {main!r}"
        )
    params: dict[str, str] = {}
    for raw in raw_params:
        name, _, value = raw.partition("=")
        name = name.strip().lower()
        if name:
            if not name.isascii() or not re.fullmatch(r"[a-z0-9!#$&+.^_`|~-]+", name):
                raise WireFormatError(f"attachment content type has a bad parameter name {name!r}")
            params[name] = value.strip().strip('"')
    return maintype, subtype, params


def _parameter_value(value: str) -> str:
    if not value.isascii() or "\r" in value or "\n" in value:
        raise WireFormatError(
            f"attachment content type parameter must be one line of ASCII: {value!r}"
        )
    return '"{}"'.format(value.replace("\\", "\\\\").replace('"', '\\"'))


def _filename(name: str) -> str:
    if "\r" in name or "\n" in name:
        raise WireFormatError(f"attachment file name must be one line, got {name!r}")
    if name.isascii():
        return f"filename={_parameter_value(name)}"
    # RFC 2231, as mail clients expect for a name like "Kursusbevis Søren.pdf".
    return f"filename*=utf-8''{quote(name, safe='')}"


@lru_cache(maxsize=4096)
def _address_header(field: str, value: str) -> tuple[bytes, str]:
    """(encoded header value, bare address) for a header that must hold exactly one address;
    ``ValueError`` otherwise."""
    if "\n" in value or "\r" in value:
        raise WireFormatError(f"{field} must be exactly one e-mail address, got {value!r}")
    named = _NAMED.fullmatch(value)
    if named:
        quoted = named["quoted"]
        name = _UNESCAPE.sub(r"\1", quoted) if quoted is not None else named["plain"] or ""
        address = named["address"]
    elif bare := _BARE.fullmatch(value):
        name, address = "", bare["address"]
    else:
        found = getaddresses([value])
        if len(found) != 1:
            raise WireFormatError(f"{field} must be exactly one e-mail address, got {value!r}")
        name, address = found[0]
        local, at, domain = address.rpartition("@")
        if not at or not local or not domain or " " in address:
            raise WireFormatError(f"{field} must be exactly one e-mail address, got {value!r}")
    if not address.isascii():
        raise WireFormatError(f"{field} must be an ASCII e-mail address, got {value!r}")
    name = " ".join(name.split())
    if not name:
        return address.encode("ascii"), address
    if not name.isascii():
        # One word however long, as formataddr writes it: parsers (Python's among them)
        # keep the folding space between two encoded words inside a display name.
        shown = b"=?utf-8?b?" + base64.b64encode(name.encode("utf-8")) + b"?="
    elif _SPECIALS.search(name):
        shown = '"{}"'.format(name.replace("\\", "\\\\").replace('"', '\\"')).encode("ascii")
    else:
        shown = name.encode("ascii")
    return shown + b" <" + address.encode("ascii") + b">", address


def _unstructured(field: str, header: str, value: str) -> bytes:
    if "\n" in value or "\r" in value:
        raise WireFormatError(f"{field} must be one line, got {value!r}")
    if not value.isascii():
        return _encoded_words(value, len(header) + 2)
    return _fold_words(value, len(header) + 2)


def _fold_words(value: str, used: int) -> bytes:
    """ASCII text folded at white space so that lines stay near 78 characters."""
    if used + len(value) <= _FOLD_AT:
        return value.encode("ascii")
    lines: list[str] = []
    line = ""
    for word in value.split(" "):
        if line and used + len(line) + 1 + len(word) > _FOLD_AT:
            lines.append(line)
            line, used = word, 1
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\n ".join(lines).encode("ascii")


def _encoded_words(value: str, used: int) -> bytes:
    """``value`` as RFC 2047 base64 words holding whole characters, folded so that no line
    passes 76 characters; ``used`` is how much of the first line is taken already."""
    words: list[bytes] = []
    chunk = bytearray()
    room = _word_bytes(used)
    for character in value:
        encoded = character.encode("utf-8")
        if chunk and len(chunk) + len(encoded) > room:
            words.append(bytes(chunk))
            chunk.clear()
            room = _word_bytes(1)
        chunk += encoded
    words.append(bytes(chunk))
    return b"\n ".join(b"=?utf-8?b?" + base64.b64encode(word) + b"?=" for word in words)


def _word_bytes(used: int) -> int:
    """How many bytes fit in one encoded word on a line with ``used`` characters taken."""
    return max(3, (_ENCODED_LINE - used - len("=?utf-8?b??=")) // 4 * 3)
