"""A real SMTP server for tests that records what it receives and refuses on demand."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

Stage = Literal["MAIL", "RCPT", "DATA"]


@dataclass(frozen=True)
class Received:
    """One accepted message and how it arrived."""

    message: EmailMessage
    raw: bytes
    mail_from: str
    rcpt_tos: tuple[str, ...]
    peer: tuple[str, int]
    """Client address and port: equal peers mean the same connection."""
    tls: bool
    login: str | None


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Create a certificate and key for 127.0.0.1/localhost with the openssl tool.

    Raises ``FileNotFoundError`` when openssl is not installed.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("openssl is not installed")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    def _refusal(self, stage: Stage) -> str | None:
        code = self.sink.refusal_code
        if code is None or self.sink.refusal_stage != stage:
            return None
        if self.sink.refusal_reason is not None:
            return f"{code} {self.sink.refusal_reason}"
        kind = "4.3.0 Temporarily refused" if 400 <= code < 500 else "5.7.1 Refused"
        return f"{code} {kind} by the test server"

    async def _hang(self, stage: Stage) -> None:
        # Polled rather than awaited on an event: the flag is set from the test's thread.
        while self.sink.hang_at == stage:
            await asyncio.sleep(0.01)

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        await self._hang("MAIL")
        refusal = self._refusal("MAIL")
        if refusal:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        await self._hang("RCPT")
        refusal = self._refusal("RCPT")
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        refusal = self._refusal("DATA")
        if refusal:
            return refusal
        raw = envelope.original_content or b""
        # Parse with local line endings, as a mail client shows the message.
        message = BytesParser(policy=policy.default).parsebytes(raw.replace(b"\r\n", b"\n"))
        assert isinstance(message, EmailMessage)
        transport: Any = server.transport
        peer: Any = session.peer
        received = Received(
            message=message,
            raw=raw,
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            peer=(peer[0], peer[1]),
            tls=transport.get_extra_info("ssl_object") is not None,
            login=session.auth_data if session.authenticated else None,
        )
        self.sink.received.append(received)
        if self.sink.on_message is not None:
            self.sink.on_message(received)
        # The message is kept, but the client never hears that it was.
        await self._hang("DATA")
        if self.sink.drop_after_data:
            transport.close()
        return "250 Message accepted"


class _TrackingController(Controller):
    """Remembers every server protocol it creates, so connections can be dropped."""

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.servers: list[SMTP] = []

    def factory(self) -> SMTP:
        server: SMTP = super().factory()
        self.servers.append(server)
        return server


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 that keeps what it receives.

    ``username``/``password`` make it require AUTH (also over plain text);
    ``starttls_context`` offers STARTTLS; ``implicit_tls_context`` makes it an
    SMTPS server.  The port stays the same across :meth:`stop` and :meth:`start`.

    Misbehaviour on demand: ``delay`` seconds before each answer to a message's
    content (a slow server); ``hang_at`` a stage, where it stops answering until
    set back to ``None`` (at ``"DATA"`` after keeping the message); ``drop_after_data``
    keeps each message and closes the connection instead of confirming it;
    ``on_message`` is called with each accepted message, in the server's thread.
    ``login_attempts`` counts the AUTH exchanges.
    """

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls_context: ssl.SSLContext | None = None,
        implicit_tls_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        delay: float = 0.0,
    ) -> None:
        self.host = host
        self.port = free_port(self.host)
        self.delay = delay
        self.hang_at: Stage | None = None
        self.drop_after_data = False
        self.on_message: Callable[[Received], None] | None = None
        self.login_attempts = 0
        self.username = username
        self.password = password
        self.starttls_context = starttls_context
        self.implicit_tls_context = implicit_tls_context
        self.received: list[Received] = []
        self.refusal_code: int | None = None
        self.refusal_stage: Stage = "DATA"
        self.refusal_reason: str | None = None
        self._controller: _TrackingController | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        """The accepted messages, parsed, oldest first."""
        return [received.message for received in self.received]

    @property
    def url(self) -> str:
        """An SMTP URL for this server including the credentials, if any."""
        scheme = "smtps" if self.implicit_tls_context else "smtp"
        auth = ""
        if self.username is not None and self.password is not None:
            auth = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}@"
        query = "?starttls=1" if self.starttls_context else ""
        return f"{scheme}://{auth}{self.host}:{self.port}{query}"

    def refuse_with(
        self, code: int | None, *, stage: Stage = "DATA", reason: str | None = None
    ) -> None:
        """Answer ``code`` (e.g. 451 or 550) at ``stage`` until called with ``None``, with
        ``reason`` as the text after the code if given."""
        self.refusal_code = code
        self.refusal_stage = stage
        self.refusal_reason = reason

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        self.login_attempts += 1
        accepted = (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.username
            and data.password.decode() == self.password
        )
        # handled=False lets aiosmtpd send the 535 reply for a rejected login.
        return AuthResult(
            success=accepted, handled=False, auth_data=self.username if accepted else None
        )

    def start(self) -> None:
        """Start listening; a no-op when already running."""
        if self._controller is not None:
            return
        options: dict[str, Any] = {}
        if self.username is not None:
            options.update(
                authenticator=self._authenticate, auth_required=True, auth_require_tls=False
            )
        if self.starttls_context is not None:
            options.update(tls_context=self.starttls_context, require_starttls=False)
        controller = _TrackingController(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            ssl_context=self.implicit_tls_context,
            **options,
        )
        controller.start()
        self._controller = controller

    def drop_connections(self) -> None:
        """Close every client connection from the server side, as an idle timeout would."""
        controller = self._controller
        if controller is None:
            return

        async def close_all() -> None:
            for server in controller.servers:
                if server.transport is not None and not server.transport.is_closing():
                    server.transport.close()
            # Let the transports finish closing before the caller goes on.
            for _ in range(3):
                await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(close_all(), controller.loop).result(timeout=5)
        controller.servers.clear()

    def stop(self) -> None:
        """Close all connections and stop listening; a no-op when not running."""
        if self._controller is None:
            return
        self.hang_at = None
        self.drop_connections()
        self._controller.stop()
        self._controller = None

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
