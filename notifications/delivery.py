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

import copy
import ipaddress
import os
import re
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from notifications.errors import DeliveryError, FailureKind
from notifications.files import write_file
from notifications.mail import Attachment, OutgoingMail
from notifications.wire import Composed, compose, key_digest, message_id_for

__all__ = [
    "Attachment",
    "Channel",
    "Composed",
    "DeliveryError",
    "EmlChannel",
    "OutgoingMail",
    "SmtpChannel",
    "as_composed",
    "build_message",
    "channel_from_env",
    "compose",
    "describe_channel",
    "message_id_for",
    "redact_url",
]

DEFAULT_TIMEOUT = 30.0
REDACTED = "***"

TlsMode = Literal["none", "starttls", "implicit"]


class Channel(Protocol):
    """Something that delivers built messages.

    ``replaces_on_resend`` is true when sending the same message again replaces the first
    copy instead of adding a second (a file named by the key): the sweep may then record a
    whole batch as sent at once, after :meth:`flush`. Otherwise each message is recorded
    as sent on its own, so a crash can repeat at most the one in flight.
    """

    name: str
    replaces_on_resend: bool

    def send(self, message: Composed | Message) -> None:
        """Deliver ``message``; raise :class:`DeliveryError` on failure."""
        ...

    def flush(self) -> None:
        """Make every message sent so far durable; raise :class:`DeliveryError` if that
        fails."""
        ...

    def close(self) -> None:
        """Release connections or other resources; the channel may be reused after."""
        ...


def build_message(mail: OutgoingMail, *, domain: str | None = None, date: datetime) -> Message:
    """Build the MIME message for ``mail``, as an :class:`email.message.Message`.

    The result is ``multipart/alternative`` (plain text and HTML, UTF-8), wrapped
    in ``multipart/mixed`` when there are attachments.  ``Message-ID`` comes from
    :func:`message_id_for`, in ``domain`` or else the sender's; ``X-LPS-Rule`` and
    ``X-LPS-Key`` carry the rule name and the key.  ``date`` must be timezone-aware.
    The same arguments always give the same bytes: those of :func:`compose`, which
    channels are given.

    Raises ``ValueError`` for a naive date, a sender or recipient that is not
    exactly one address, or a malformed attachment content type.
    """
    return message_from_bytes(compose(mail, domain=domain, date=date).data)


def as_composed(message: Composed | Message) -> Composed:
    """``message`` in the form channels send; a :class:`Message` is flattened and its
    envelope read from its headers (Bcc recipients are not shown to the others)."""
    if isinstance(message, Composed):
        return message
    recipients = tuple(_recipients(message))
    if message.get("Bcc") is not None:
        message = copy.copy(message)
        del message["Bcc"]
    senders = getaddresses([str(v) for v in message.get_all("From", [])])
    key = _decoded(message, "X-LPS-Key") or _decoded(message, "Message-ID")
    return Composed(
        key=key,
        rule=_decoded(message, "X-LPS-Rule"),
        message_id=str(message.get("Message-ID") or ""),
        sender=senders[0][1] if senders else "",
        recipients=recipients,
        data=message.as_bytes(policy=compat32),
    )


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
    allow_plain_auth: bool = False


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine itself (``localhost``, 127.0.0.0/8, ``::1``),
    so that what is sent to it never crosses a network. Names are not resolved."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _plain_auth_refused(username: str | None, tls: TlsMode, host: str, allowed: bool) -> bool:
    return username is not None and tls == "none" and not allowed and not is_loopback(host)


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
    allow_plain_auth = False
    timeout = DEFAULT_TIMEOUT
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in ("starttls", "allow_plain_auth") and value.lower() in _TRUE | _FALSE:
            if name == "starttls":
                starttls = value.lower() in _TRUE
            else:
                allow_plain_auth = value.lower() in _TRUE
        elif name in ("starttls", "allow_plain_auth"):
            raise ValueError(f"{setting} option {name} must be 1 or 0, got {value!r}")
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
                f"{setting} has unknown option {name!r}; "
                "the options are starttls, timeout and allow_plain_auth"
            )
    implicit = parts.scheme.lower() == "smtps"
    if implicit and starttls:
        raise ValueError(
            f"{setting} combines smtps:// (TLS from the start) with starttls=1; "
            "use either smtps://host or smtp://host?starttls=1"
        )
    tls: TlsMode = "implicit" if implicit else "starttls" if starttls else "none"
    if _plain_auth_refused(username, tls, parts.hostname, allow_plain_auth):
        raise ValueError(
            f"{setting} would send the password unencrypted to {parts.hostname}, got {shown!r}; "
            "use smtps:// or ?starttls=1, or add ?allow_plain_auth=1 if the network to the "
            "server is trusted"
        )
    return _SmtpSettings(parts.hostname, port, username, password, tls, timeout, allow_plain_auth)


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())


class SmtpChannel:
    """Delivers messages to an SMTP server over one reused connection.

    The connection is opened on the first :meth:`send` and kept until
    :meth:`close`; if the server dropped it in between, the next send reconnects
    once.  ``tls`` is ``"none"``, ``"starttls"`` or ``"implicit"`` (SMTPS); the
    default port follows from it (25, 587, 465).  A login over a connection
    without TLS is refused unless the server is this machine itself or
    ``allow_plain_auth`` is set.  A message whose content went out but whose
    reception the server never confirmed is not sent again here: that is the
    caller's decision (:class:`DeliveryError` of kind ``"unconfirmed"``).
    Not thread-safe.
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
        allow_plain_auth: bool = False,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("SMTP username and password must be given together")
        # smtplib encodes AUTH exchanges as ASCII and would fail only at send time.
        if not ((username or "").isascii() and (password or "").isascii()):
            raise ValueError("SMTP username and password must be ASCII characters only")
        if _plain_auth_refused(username, tls, host, allow_plain_auth):
            raise ValueError(
                f"SMTP login to {host} would send the password unencrypted; use TLS, "
                "or allow it with allow_plain_auth if the network to the server is trusted"
            )
        self.allow_plain_auth = allow_plain_auth
        self.name = "smtp"
        self.replaces_on_resend = False
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
        percent-decoded.  ``allow_plain_auth=1`` permits a login without TLS to a
        server other than this machine.  An invalid URL raises ``ValueError`` with
        one line that names ``setting``, says what is wrong and never shows the
        password.
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
            allow_plain_auth=s.allow_plain_auth,
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
        if self.allow_plain_auth:
            options.append("allow_plain_auth=1")
        query = f"?{'&'.join(options)}" if options else ""
        return f"{scheme}://{auth}{host}:{self.port}{query}"

    def __repr__(self) -> str:
        return f"SmtpChannel({self.url!r})"

    def send(self, message: Composed | Message) -> None:
        """Send ``message`` to the recipients in its To/Cc/Bcc headers.

        Raises :class:`DeliveryError`: transient for 4xx replies and network
        errors, permanent for 5xx replies, rejected logins and TLS failures;
        its ``kind`` tells a refused message from a server out of reach, wrong
        settings, or a message sent but never confirmed (never sent twice here).
        """
        mail = as_composed(message)
        if not mail.recipients:
            raise DeliveryError(f"message {mail.message_id} has no recipients", transient=False)
        reused = self._connection is not None
        try:
            try:
                refused = self._transmit(mail)
            except smtplib.SMTPServerDisconnected as exc:
                self._connection = None
                # An idle connection is often closed by the server (timeout,
                # restart); one fresh attempt covers that without hiding outages.
                # A server that does not answer in time is not asked twice.
                if not reused or isinstance(exc.__context__, TimeoutError):
                    raise
                refused = self._transmit(mail)
        except _Unconfirmed as exc:
            self.close()
            raise self._failure(exc, mail) from exc.__cause__
        except (smtplib.SMTPException, OSError) as exc:
            if self._connection is not None and self._connection.sock is None:
                self._connection = None
            raise self._failure(exc, mail) from exc
        if refused:
            raise self._failure(smtplib.SMTPRecipientsRefused(refused), mail)

    def flush(self) -> None:
        """Nothing to do: the server's reply to each message is its receipt."""

    def close(self) -> None:
        """Say QUIT and close the connection, if one is open."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()

    def _transmit(self, mail: Composed) -> dict[str, tuple[int, bytes]]:
        """``smtplib``'s ``sendmail``, except that a failure once the content is on its way
        raises :class:`_Unconfirmed`: the server may have taken the message."""
        if self._connection is None:
            self._connection = self._connect()
        connection = self._connection
        code, reply = connection.mail(mail.sender)
        if code != 250:
            _reset(connection, code)
            raise smtplib.SMTPSenderRefused(code, reply, mail.sender)
        refused: dict[str, tuple[int, bytes]] = {}
        for recipient in mail.recipients:
            code, reply = connection.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = (code, reply)
                if code == 421:
                    break
        if len(refused) == len(mail.recipients) or code == 421:
            _reset(connection, code)
            raise smtplib.SMTPRecipientsRefused(refused)
        code, reply = connection.docmd("DATA")
        if code != 354:
            _reset(connection, code)
            raise smtplib.SMTPDataError(code, reply)
        wire = _DOT_AT_LINE_START.sub(b"..", mail.data.replace(b"\n", b"\r\n"))
        if not wire.endswith(b"\r\n"):
            wire += b"\r\n"
        try:
            connection.send(wire + b".\r\n")
            code, reply = connection.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Unconfirmed() from exc
        if code != 250:
            _reset(connection, code)
            raise smtplib.SMTPDataError(code, reply)
        return refused

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

    def _failure(self, exc: BaseException, mail: Composed) -> DeliveryError:
        server = f"SMTP server {self.host}:{self.port}"
        what = f"message {mail.message_id} to {', '.join(mail.recipients)}"
        code: int | None = None
        kind: FailureKind = "message"
        if isinstance(exc, _Unconfirmed):
            causes = (exc.__cause__, getattr(exc.__cause__, "__context__", None))
            if any(isinstance(cause, TimeoutError) for cause in causes):
                how = f"did not confirm {what} within {self.timeout:g}s of receiving it"
            else:
                how = f"closed the connection after receiving {what}, before confirming it"
            text = f"{server} {how}; it may have arrived"
            transient = True
            kind = "unconfirmed"
        elif isinstance(exc, smtplib.SMTPRecipientsRefused):
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
            kind = "configuration"
        elif isinstance(exc, smtplib.SMTPResponseException):
            code = exc.smtp_code
            text = f"{server} refused {what}: {code} {_reply_text(exc.smtp_error)}"
            transient = not 500 <= code < 600
            if code == 530:  # a login is required: the settings lack one
                kind = "configuration"
            elif code == 421 or isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPHeloError):
                kind = "connection"
        elif isinstance(exc, smtplib.SMTPServerDisconnected):
            if isinstance(exc.__context__, TimeoutError):
                text = f"{server} did not answer within {self.timeout:g}s while sending {what}"
            else:
                text = f"{server} closed the connection while sending {what}: {exc}"
            transient = True
            kind = "connection"
        elif isinstance(exc, smtplib.SMTPException):
            # Missing STARTTLS/AUTH support and the like: only a change of
            # configuration helps.  (SMTPException is an OSError, so check first.)
            text = f"{server} cannot take {what}: {exc}"
            transient = False
            kind = "configuration"
        elif isinstance(exc, ssl.SSLCertVerificationError):
            text = f"TLS certificate of {server} was not accepted: {exc.verify_message or exc}"
            transient = False
            kind = "configuration"
        else:
            text = f"cannot reach {server}: {getattr(exc, 'strerror', None) or exc}"
            transient = True
            kind = "connection"
        if self._password:
            text = text.replace(self._password, REDACTED)
        return DeliveryError(text, transient=transient, code=code, kind=kind)


class _Unconfirmed(Exception):
    """The connection failed after a message's content was sent (the cause says how)."""


_DOT_AT_LINE_START = re.compile(rb"(?m)^\.")


def _reset(connection: smtplib.SMTP, code: int) -> None:
    """Leave the connection ready for the next message after a refusal, as ``sendmail``
    does: closed after a 421 (the server is closing it), else reset."""
    if code == 421:
        connection.close()
        return
    try:
        connection.rset()
    except (smtplib.SMTPException, OSError):
        connection.close()


def _decoded(message: Message, name: str) -> str:
    value = message.get(name)
    return str(make_header(decode_header(str(value)))) if value is not None else ""


def _recipients(message: Message) -> list[str]:
    fields = [str(v) for name in ("To", "Cc", "Bcc") for v in message.get_all(name, [])]
    return [address for _, address in getaddresses(fields) if address]


_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


@lru_cache(maxsize=256)
def _file_safe(rule: str) -> str:
    return _UNSAFE_FILENAME.sub("_", rule).strip("._") or "mail"


class EmlChannel:
    """Writes each message to ``{directory}/{rule}-{sha256(key)[:16]}.eml``.

    The name depends only on the rule and the key (the ``X-LPS-Rule`` and
    ``X-LPS-Key`` headers), so sending the same mail again replaces its file
    instead of adding one.  Files are written whole to a temporary name and renamed,
    so readers never see half a message and a full disk is an error, not a cut-off
    file.  They are made durable together by :meth:`flush` (and :meth:`close`): one
    sync for a batch instead of one ``fsync`` a file.  The directory is created when a
    send finds it missing.
    """

    def __init__(self, directory: Path) -> None:
        self.name = "eml"
        self.replaces_on_resend = True
        self.directory = Path(directory)
        self._unsynced: list[Path] = []

    def path_for(self, message: Composed | Message) -> Path:
        """Return the file ``message`` is (or would be) written to.

        Raises ``ValueError`` when the message has neither a key (``X-LPS-Key``)
        nor a ``Message-ID`` to name it by.
        """
        if isinstance(message, Composed):
            key, rule = message.key or message.message_id, message.rule
        else:
            key = _decoded(message, "X-LPS-Key") or _decoded(message, "Message-ID")
            rule = _decoded(message, "X-LPS-Rule")
        if not key:
            raise ValueError("message has neither an X-LPS-Key nor a Message-ID header")
        return self.path_for_key(rule, key)

    def path_for_key(self, rule: str, key: str) -> Path:
        """The file a message with this rule and key (an outbox row's) is written to."""
        return self.directory / f"{_file_safe(rule)}-{key_digest(key)[:16]}.eml"

    def send(self, message: Composed | Message) -> None:
        """Write ``message`` whole, through a temporary file renamed into place; raise
        :class:`DeliveryError` if that fails (a full disk included), leaving no file."""
        mail = as_composed(message)
        try:
            path = self.path_for(mail)
        except ValueError as exc:
            raise DeliveryError(f"cannot name the .eml file: {exc}", transient=False) from exc
        try:
            try:
                write_file(path, mail.data, fsync=False)
            except FileNotFoundError:
                # Made on the first send, and again if it was removed while a scheduler ran.
                self.directory.mkdir(parents=True, exist_ok=True)
                write_file(path, mail.data, fsync=False)
        except OSError as exc:
            raise DeliveryError(
                f"cannot write {path}: {exc.strerror or exc}",
                transient=not isinstance(exc, PermissionError),
            ) from exc
        self._unsynced.append(path)

    def flush(self) -> None:
        """Make the files written since the last flush durable."""
        if not self._unsynced:
            return
        unsynced, self._unsynced = self._unsynced, []
        try:
            if hasattr(os, "sync"):
                os.sync()
                return
            for path in unsynced:
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())
        except OSError as exc:
            raise DeliveryError(
                f"cannot make the files in {self.directory} durable: {exc.strerror or exc}",
                transient=True,
            ) from exc

    def close(self) -> None:
        """Flush what is still unsynced."""
        self.flush()

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
