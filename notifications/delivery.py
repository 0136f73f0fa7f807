"""Building outgoing e-mails and handing them to a delivery channel.

A message is built once from an :class:`OutgoingMail` and then given to a
:class:`Channel`: :class:`SmtpChannel` talks to a mail server, :class:`EmlChannel`
writes ``.eml`` files for development and review.  :func:`channel_from_env` picks
one from the environment (``LPS_SMTP_URL`` / ``LPS_MAIL_DIR``).

Every message carries a ``Message-ID`` derived from its idempotency key, so a
message that is sent again after a crash or a retry is recognisably the same
message to the receiving side.
"""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.charset import QP, Charset
from email.encoders import encode_base64
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, getaddresses
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import parse_qsl, quote, unquote, urlsplit

__all__ = [
    "Attachment",
    "Channel",
    "DeliveryError",
    "EmlChannel",
    "OutgoingMail",
    "SmtpChannel",
    "build_message",
    "channel_from_env",
    "describe_channel",
    "message_id_for",
    "redact_url",
]

DEFAULT_DOMAIN = "lps.invalid"
# Quoted-printable keeps the body 7-bit clean, so servers without 8BITMIME accept it, while
# mostly-ASCII Danish text stays readable in the raw file.
_QP_UTF8 = Charset("utf-8")
_QP_UTF8.body_encoding = QP
DEFAULT_TIMEOUT = 30.0
REDACTED = "***"

TlsMode = Literal["none", "starttls", "implicit"]


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


class DeliveryError(Exception):
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


class Channel(Protocol):
    """Something that delivers built messages."""

    name: str

    def send(self, message: Message) -> None:
        """Deliver ``message``; raise :class:`DeliveryError` on failure."""
        ...

    def close(self) -> None:
        """Release connections or other resources; the channel may be reused after."""
        ...


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def message_id_for(key: str, domain: str = DEFAULT_DOMAIN) -> str:
    """Return the ``Message-ID`` (with angle brackets) for an idempotency key."""
    return f"<{_sha256(key)[:32]}@{domain}>"


def _single_address(field: str, value: str) -> str:
    """``value`` as one encoded address header, or ``ValueError`` when it is not exactly one
    address with a local part and a domain."""
    if "\n" in value or "\r" in value:
        raise ValueError(f"{field} must be exactly one e-mail address, got {value!r}")
    found = getaddresses([value])
    if len(found) != 1:
        raise ValueError(f"{field} must be exactly one e-mail address, got {value!r}")
    name, address = found[0]
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or " " in address:
        raise ValueError(f"{field} must be exactly one e-mail address, got {value!r}")
    return formataddr((name, address), charset="utf-8")


def _header_text(field: str, value: str) -> str | Header:
    if "\n" in value or "\r" in value:
        raise ValueError(f"{field} must be one line, got {value!r}")
    if value.isascii():
        return value
    # A Header object, not its encoded string, so that folding counts the header's name.
    return Header(value, "utf-8", header_name=field.capitalize())


def _split_content_type(content_type: str) -> tuple[str, str, dict[str, str]]:
    main, *raw_params = (part.strip() for part in content_type.split(";"))
    maintype, slash, subtype = main.lower().partition("/")
    if not slash or not maintype or not subtype:
        raise ValueError(f"attachment content type must look like 'type/subtype', got {main!r}")
    params: dict[str, str] = {}
    for raw in raw_params:
        name, _, value = raw.partition("=")
        if name.strip():
            params[name.strip().lower()] = value.strip().strip('"')
    return maintype, subtype, params


def build_message(mail: OutgoingMail, *, domain: str = DEFAULT_DOMAIN, date: datetime) -> Message:
    """Build the MIME message for ``mail``.

    The result is ``multipart/alternative`` (plain text and HTML, UTF-8), wrapped
    in ``multipart/mixed`` when there are attachments.  ``Message-ID`` comes from
    :func:`message_id_for`; ``X-LPS-Rule`` and ``X-LPS-Key`` carry the rule name
    and the key.  ``date`` must be timezone-aware.  The same arguments always
    give the same bytes.

    Raises ``ValueError`` for a naive date, a sender or recipient that is not
    exactly one address, or a malformed attachment content type.
    """
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError(f"date must be timezone-aware, got {date.isoformat()}")
    # The compat32 MIME classes: the same standard output as Message at a fraction of
    # the cost, which matters when a sweep sends thousands of reminders.
    sender = _single_address("sender", mail.sender)
    recipient = _single_address("recipient", mail.recipient)
    subject = _header_text("subject", mail.subject)
    alternative = MIMEMultipart("alternative")
    alternative.attach(MIMEText(mail.text, "plain", _QP_UTF8))  # type: ignore[arg-type]
    alternative.attach(MIMEText(mail.html, "html", _QP_UTF8))  # type: ignore[arg-type]
    message: Message = alternative
    if mail.attachments:
        message = MIMEMultipart("mixed")
        message.attach(alternative)
        for attachment in mail.attachments:
            maintype, subtype, params = _split_content_type(attachment.content_type)
            file_part = MIMEBase(maintype, subtype)
            for name, value in params.items():
                file_part.set_param(name, value)
            file_part.set_payload(attachment.data)
            encode_base64(file_part)
            file_part.add_header("Content-Disposition", "attachment", filename=attachment.filename)
            message.attach(file_part)
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject  # type: ignore[assignment]
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id_for(mail.key, domain)
    message["X-LPS-Rule"] = mail.rule
    message["X-LPS-Key"] = mail.key
    # Fixed boundaries make the same mail serialise to the same bytes on every
    # retry; "=_" cannot occur in quoted-printable or base64 bodies.
    for number, part in enumerate(p for p in message.walk() if p.is_multipart()):
        part.set_boundary(f"=_lps_{_sha256(mail.key)[:24]}_{number}")
    return message


_SECRET_PARAM = re.compile(r"(?i)(^|[?&;\s])([\w.-]*(?:pass|pwd|secret|token)[\w.-]*=)([^&;\s#]*)")


def redact_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***``; use it wherever a URL is shown.

    Works for any scheme (``smtp://user:pw@host``, ``postgresql://...``) and also
    hides password-like parameters (``?password=...``, ``password=...`` in a
    key=value connection string).  A password with unencoded ``/``, ``?``, ``#``
    or ``@`` makes the URL ambiguous; then more is hidden rather than less.
    Never raises.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    end = min((i for i in (rest.find(c) for c in "/?#") if i != -1), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        userinfo = authority[: authority.rfind("@")]
    elif "@" in tail and not authority.startswith("["):
        # No "@" before the first delimiter but one after it: most likely a
        # password holding "/", "?" or "#", so treat the colon as its start.
        userinfo = authority
    else:
        userinfo = ""
    user, colon, _ = userinfo.partition(":")
    if colon:
        at = end + tail.rfind("@") if "@" in tail else authority.rfind("@")
        rest = f"{user}:{REDACTED}{rest[at:]}"
    return _SECRET_PARAM.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", f"{scheme}{sep}{rest}")


@dataclass(frozen=True)
class _SmtpSettings:
    host: str
    port: int | None
    username: str | None
    password: str | None
    tls: TlsMode
    timeout: float


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse_smtp_url(url: str, setting: str) -> _SmtpSettings:
    shown = redact_url(url)
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("smtp", "smtps"):
        raise ValueError(f"{setting} must start with smtp:// or smtps://, got {shown!r}")
    end = min((i for i in (rest.find(c) for c in "/?#") if i != -1), default=len(rest))
    if "@" not in rest[:end] and "@" in rest[end:]:
        raise ValueError(
            f"{setting} must percent-encode / ? # @ in the user name and password "
            f"(%2F %3F %23 %40), got {shown!r}"
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"{setting} is not a valid URL ({exc}), got {shown!r}") from None
    bad_port = ValueError(
        f"{setting} has an invalid port, got {shown!r}; "
        "use a number from 1 to 65535, e.g. smtp://mail.example.dk:587"
    )
    try:
        port = parts.port
    except ValueError:
        raise bad_port from None
    if port == 0:
        raise bad_port
    if not parts.hostname:
        raise ValueError(
            f"{setting} has no host name, got {shown!r}; expected smtp://user:password@host:port"
        )
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError(
            f"{setting} must not have a path or fragment, got {shown!r}; "
            "expected smtp://user:password@host:port?starttls=1"
        )
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if username is not None and password is None:
        raise ValueError(
            f"{setting} has a user name but no password, got {shown!r}; "
            "use smtp://user:password@host:port"
        )
    if password is not None and username is None:
        raise ValueError(
            f"{setting} has a password but no user name, got {shown!r}; "
            "use smtp://user:password@host:port"
        )
    if not ((username or "").isascii() and (password or "").isascii()):
        raise ValueError(
            f"{setting} user name and password must be ASCII characters only, got {shown!r}"
        )
    starttls = False
    timeout = DEFAULT_TIMEOUT
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "starttls" and value.lower() in _TRUE | _FALSE:
            starttls = value.lower() in _TRUE
        elif name == "starttls":
            raise ValueError(f"{setting} option starttls must be 1 or 0, got {value!r}")
        elif name == "timeout":
            try:
                timeout = float(value)
                valid = 0 < timeout < float("inf")
            except ValueError:
                valid = False
            if not valid:
                raise ValueError(
                    f"{setting} option timeout must be a positive number of seconds, got {value!r}"
                )
        else:
            raise ValueError(
                f"{setting} has unknown option {name!r}; the options are starttls and timeout"
            )
    implicit = parts.scheme.lower() == "smtps"
    if implicit and starttls:
        raise ValueError(
            f"{setting} combines smtps:// (TLS from the start) with starttls=1; "
            "use either smtps://host or smtp://host?starttls=1"
        )
    tls: TlsMode = "implicit" if implicit else "starttls" if starttls else "none"
    return _SmtpSettings(parts.hostname, port, username, password, tls, timeout)


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())


class SmtpChannel:
    """Delivers messages to an SMTP server over one reused connection.

    The connection is opened on the first :meth:`send` and kept until
    :meth:`close`; if the server dropped it in between, the next send reconnects
    once.  ``tls`` is ``"none"``, ``"starttls"`` or ``"implicit"`` (SMTPS); the
    default port follows from it (25, 587, 465).  Not thread-safe.
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: TlsMode = "none",
        timeout: float = DEFAULT_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("SMTP username and password must be given together")
        # smtplib encodes AUTH exchanges as ASCII and would fail only at send time.
        if not ((username or "").isascii() and (password or "").isascii()):
            raise ValueError("SMTP username and password must be ASCII characters only")
        self.name = "smtp"
        self.host = host
        self.port = port if port is not None else {"none": 25, "starttls": 587}.get(tls, 465)
        self.username = username
        self._password = password
        self.tls: TlsMode = tls
        self.timeout = timeout
        self._ssl_context = ssl_context
        self._connection: smtplib.SMTP | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        setting: str = "LPS_SMTP_URL",
    ) -> SmtpChannel:
        """Create a channel from ``smtp://user:pass@host:port?starttls=1&timeout=10``.

        ``smtps://`` means TLS from the start.  User name and password are
        percent-decoded.  An invalid URL raises ``ValueError`` with one line that
        names ``setting``, says what is wrong and never shows the password.
        """
        s = _parse_smtp_url(url.strip(), setting)
        return cls(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            tls=s.tls,
            timeout=s.timeout,
            ssl_context=ssl_context,
        )

    @property
    def url(self) -> str:
        """The channel as a URL with the password shown as ``***``."""
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        auth = f"{quote(self.username, safe='')}:{REDACTED}@" if self.username is not None else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        options = ["starttls=1"] if self.tls == "starttls" else []
        if self.timeout != DEFAULT_TIMEOUT:
            options.append(f"timeout={self.timeout:g}")
        query = f"?{'&'.join(options)}" if options else ""
        return f"{scheme}://{auth}{host}:{self.port}{query}"

    def __repr__(self) -> str:
        return f"SmtpChannel({self.url!r})"

    def send(self, message: Message) -> None:
        """Send ``message`` to the recipients in its To/Cc/Bcc headers.

        Raises :class:`DeliveryError`: transient for 4xx replies and network
        errors, permanent for 5xx replies, rejected logins and TLS failures.
        """
        if not _recipients(message):
            raise DeliveryError(
                f"message {message.get('Message-ID', '')} has no recipients", transient=False
            )
        reused = self._connection is not None
        try:
            try:
                refused = self._transmit(message)
            except smtplib.SMTPServerDisconnected:
                self._connection = None
                # An idle connection is often closed by the server (timeout,
                # restart); one fresh attempt covers that without hiding outages.
                if not reused:
                    raise
                refused = self._transmit(message)
        except (smtplib.SMTPException, OSError) as exc:
            if self._connection is not None and self._connection.sock is None:
                self._connection = None
            raise self._failure(exc, message) from exc
        if refused:
            raise self._failure(smtplib.SMTPRecipientsRefused(refused), message)

    def close(self) -> None:
        """Say QUIT and close the connection, if one is open."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()

    def _transmit(self, message: Message) -> dict[str, tuple[int, bytes]]:
        if self._connection is None:
            self._connection = self._connect()
        return self._connection.send_message(message)

    def _connect(self) -> smtplib.SMTP:
        context = self._ssl_context or ssl.create_default_context()
        connection: smtplib.SMTP
        if self.tls == "implicit":
            connection = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=context
            )
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            connection.ehlo_or_helo_if_needed()
            if self.tls == "starttls":
                connection.starttls(context=context)
                connection.ehlo_or_helo_if_needed()
            if self.username is not None and self._password is not None:
                connection.login(self.username, self._password)
        except BaseException:
            connection.close()
            raise
        return connection

    def _failure(self, exc: BaseException, message: Message) -> DeliveryError:
        server = f"SMTP server {self.host}:{self.port}"
        what = f"message {message.get('Message-ID', '')} to {', '.join(_recipients(message))}"
        code: int | None = None
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            replies = list(exc.recipients.items())
            code = replies[0][1][0] if replies else None
            detail = "; ".join(f"{rcpt}: {c} {_reply_text(text)}" for rcpt, (c, text) in replies)
            text = f"{server} refused {what}: {detail}"
            transient = all(400 <= c < 500 for _, (c, _text) in replies)
        elif isinstance(exc, smtplib.SMTPAuthenticationError):
            code = exc.smtp_code
            text = (
                f"{server} rejected the login as {self.username!r}: "
                f"{code} {_reply_text(exc.smtp_error)}"
            )
            transient = 400 <= code < 500
        elif isinstance(exc, smtplib.SMTPResponseException):
            code = exc.smtp_code
            text = f"{server} refused {what}: {code} {_reply_text(exc.smtp_error)}"
            transient = not 500 <= code < 600
        elif isinstance(exc, smtplib.SMTPServerDisconnected):
            text = f"{server} closed the connection while sending {what}: {exc}"
            transient = True
        elif isinstance(exc, smtplib.SMTPException):
            # Missing STARTTLS/AUTH support and the like: only a change of
            # configuration helps.  (SMTPException is an OSError, so check first.)
            text = f"{server} cannot take {what}: {exc}"
            transient = False
        elif isinstance(exc, ssl.SSLCertVerificationError):
            text = f"TLS certificate of {server} was not accepted: {exc.verify_message or exc}"
            transient = False
        else:
            text = f"cannot reach {server}: {getattr(exc, 'strerror', None) or exc}"
            transient = True
        if self._password:
            text = text.replace(self._password, REDACTED)
        return DeliveryError(text, transient=transient, code=code)


def _recipients(message: Message) -> list[str]:
    fields = [str(v) for name in ("To", "Cc", "Bcc") for v in message.get_all(name, [])]
    return [address for _, address in getaddresses(fields) if address]


_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


class EmlChannel:
    """Writes each message to ``{directory}/{rule}-{sha256(key)[:16]}.eml``.

    The name depends only on the ``X-LPS-Rule`` and ``X-LPS-Key`` headers, so
    sending the same mail again replaces its file instead of adding one.  Files
    are written to a temporary name and renamed, so readers never see half a
    message.  The directory is created on the first send.
    """

    def __init__(self, directory: Path) -> None:
        self.name = "eml"
        self.directory = Path(directory)

    def path_for(self, message: Message) -> Path:
        """Return the file ``message`` is (or would be) written to.

        Raises ``ValueError`` when the message has neither ``X-LPS-Key`` nor
        ``Message-ID`` to name it by.
        """
        key = str(message.get("X-LPS-Key") or message.get("Message-ID") or "")
        if not key:
            raise ValueError("message has neither an X-LPS-Key nor a Message-ID header")
        rule = _UNSAFE_FILENAME.sub("_", str(message.get("X-LPS-Rule") or "")).strip("._")
        return self.directory / f"{rule or 'mail'}-{_sha256(key)[:16]}.eml"

    def send(self, message: Message) -> None:
        """Write ``message`` atomically; raise :class:`DeliveryError` if that fails."""
        try:
            path = self.path_for(message)
        except ValueError as exc:
            raise DeliveryError(f"cannot name the .eml file: {exc}", transient=False) from exc
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(message.as_bytes())
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise DeliveryError(
                f"cannot write {path}: {exc.strerror or exc}",
                transient=not isinstance(exc, PermissionError),
            ) from exc

    def close(self) -> None:
        """Nothing to release; present to satisfy :class:`Channel`."""

    def __repr__(self) -> str:
        return f"EmlChannel({str(self.directory)!r})"


def channel_from_env(env: Mapping[str, str]) -> Channel:
    """Pick the channel configured in ``env``.

    A non-empty ``LPS_SMTP_URL`` gives an :class:`SmtpChannel` (an invalid one
    raises ``ValueError``); otherwise mail goes to ``.eml`` files in
    ``LPS_MAIL_DIR`` (default ``outbox``).
    """
    url = env.get("LPS_SMTP_URL", "").strip()
    if url:
        return SmtpChannel.from_url(url)
    return EmlChannel(Path(env.get("LPS_MAIL_DIR", "").strip() or "outbox"))


def describe_channel(channel: Channel) -> str:
    """One line saying where mail goes, safe to print or log (no passwords)."""
    if isinstance(channel, SmtpChannel):
        return f"SMTP {channel.url}"
    if isinstance(channel, EmlChannel):
        return f".eml files in {channel.directory}/"
    return f"{channel.name} channel"
