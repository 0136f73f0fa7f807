"""The ASGI application of ``lps serve``: the pages behind the personal links.

Opening a link (GET or HEAD) only reads. Its form carries a token signed for that page; only a
POST with it records, through :meth:`~workflow.engine.Workflow.submit_link`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.texts import FIELD_ERRORS, TEXTS, field_of, reason_text
from workflow.definition import date_text, moment_text, state_label
from workflow.engine import Workflow
from workflow.errors import ConcurrentChange, GuardFailed, LpsError
from workflow.selfservice import AlreadyRecorded, FormInvalid, LinkClosed, LinkPage

__all__ = [
    "FORM_LIFETIME",
    "SECURITY_HEADERS",
    "RateLimit",
    "create_app",
    "form_token",
    "form_token_valid",
]

log = logging.getLogger("lps.web")

# How long a page's form may be sent after the page was opened.
FORM_LIFETIME = 12 * 3600

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass
class RateLimit:
    """A token bucket per client: ``burst`` requests at once, then ``per_second``."""

    burst: int = 30
    per_second: float = 0.5
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) > 100_000:
                self._buckets.clear()
            tokens, then = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.per_second)
            if tokens < 1:
                self._buckets[client] = (tokens, now)
                return False
            self._buckets[client] = (tokens - 1, now)
            return True


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("web", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    return env


@cache
def _stylesheet() -> bytes:
    from importlib import resources

    return (resources.files("web") / "static" / "lps.css").read_bytes()


class _Guard:
    """Per-client rate limiting, the security headers on every response, and a log line
    that names the kind of page but never its path (which holds the token). Plain ASGI:
    Starlette's BaseHTTPMiddleware costs more than a page."""

    def __init__(self, app: ASGIApp, limit: RateLimit | None):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [0]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                MutableHeaders(scope=message).update(SECURITY_HEADERS)
            await send(message)

        client = (scope.get("client") or ("-", 0))[0]
        if self.limit is not None and not self.limit.allow(client):
            refused = _page("closed.html", "da", status=429, what="busy")
            refused.headers["Retry-After"] = "10"
            await refused(scope, receive, sending)
        else:
            await self.app(scope, receive, sending)
        path = scope.get("path", "")
        kind = "link" if path.startswith("/l/") else path[:40]
        log.info(
            "%s %s %d %.1fms",
            scope.get("method", "-"),
            kind,
            status[0],
            (time.perf_counter() - started) * 1000,
        )


def _page(template: str, language: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    texts = TEXTS[language]
    html = (
        _environment()
        .get_template(template)
        .render(
            language=language,
            t=texts,
            date_text=lambda d: date_text(d, language),
            moment_text=lambda m: moment_text(m, language),
            state_label=lambda s: state_label(s, language),
            **context,
        )
    )
    return HTMLResponse(html, status_code=status)


def _actor(actor: str | None, language: str) -> str:
    texts = TEXTS[language]
    role = (actor or "").split(":", 1)[0]
    who = texts.get(f"{role}_actor", texts["admin_actor"])
    return f"{who} (link)" if (actor or "").endswith(" via link") else who


def form_token(secret: bytes, key: str, issued: int) -> str:
    """The token of a page's form: when it was issued, signed with the page's key."""
    mac = hmac.new(secret, f"{key}:{issued}".encode(), hashlib.sha256).hexdigest()
    return f"{issued}.{mac}"


def form_token_valid(secret: bytes, key: str, given: str, now: int) -> bool:
    """Whether ``given`` is the form token of the page with ``key``, issued at most
    :data:`FORM_LIFETIME` seconds before ``now``."""
    issued_text, _, _mac = given.partition(".")
    if not issued_text.isdigit() or len(given) > 100:
        return False
    issued = int(issued_text)
    if not 0 <= now - issued <= FORM_LIFETIME:
        return False
    return hmac.compare_digest(form_token(secret, key, issued), given)


def create_app(
    workflow: Workflow,
    *,
    form_secret: bytes | None = None,
    rate_limit: RateLimit | None = None,
) -> Starlette:
    """The application on ``workflow``'s database. ``form_secret`` signs the pages' form
    tokens (random per process unless given); ``rate_limit`` is per client (default:
    :class:`RateLimit`)."""
    secret = form_secret or secrets.token_bytes(32)
    limit = rate_limit if rate_limit is not None else RateLimit()

    def now() -> int:
        return int(workflow.now().timestamp())

    def shown(
        page: LinkPage,
        *,
        status: int = 200,
        errors: Mapping[str, str] | None = None,
        general: list[str] | None = None,
        values: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        language = page.language
        template = {
            "open": "form.html",
            "used": "done.html",
            "submitted": "done.html",
        }[page.status]
        if page.purpose == "overview":
            template = "overview.html"
        return _page(
            template,
            language,
            status=status,
            page=page,
            errors=errors or {},
            general=general or [],
            values=values or {},
            form_token=form_token(secret, page.key, now()),
            by=_actor(page.recorded_by, language),
        )

    def closed(status: int = 404, what: str = "closed") -> HTMLResponse:
        return _page("closed.html", "da", status=status, what=what)

    async def link(request: Request) -> Response:
        token = request.path_params["token"]
        if request.method in ("GET", "HEAD"):
            try:
                page = await run_in_threadpool(workflow.open_link, token)
            except LinkClosed:
                return closed()
            return shown(page)
        try:
            form = await request.form()
        except ClientDisconnect:
            # Nobody is left to answer; nothing was read, so nothing is recorded.
            return Response(status_code=400)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            page = await run_in_threadpool(workflow.open_link, token)
        except LinkClosed:
            return closed()
        if not form_token_valid(secret, page.key, fields.pop("form_token", ""), now()):
            return closed(403, "expired_form")
        if page.purpose == "overview":
            return shown(page, status=405)
        try:
            done = await run_in_threadpool(workflow.submit_link, token, fields)
        except LinkClosed:
            return closed()
        except AlreadyRecorded as already:
            return shown(already.page, status=409)
        except FormInvalid as invalid:
            errors = {
                name: FIELD_ERRORS[page.language][what] for name, what in invalid.errors.items()
            }
            return shown(page, status=422, errors=errors, values=fields)
        except GuardFailed as refused:
            by_field: dict[str, str] = {}
            general: list[str] = []
            for reason in refused.reasons:
                text = reason_text(str(reason), page.language)
                where = field_of(str(reason))
                if where is not None and where not in by_field:
                    by_field[where] = text
                else:
                    general.append(text)
            return shown(page, status=422, errors=by_field, general=general, values=fields)
        except ConcurrentChange:
            return closed(503, "busy")
        return shown(done.page, status=200)

    async def stylesheet(request: Request) -> Response:
        return Response(_stylesheet(), media_type="text/css")

    async def nothing(request: Request) -> Response:
        return closed()

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("error %s on a %s request", type(exc).__name__, request.method)
        return _page("closed.html", "da", status=500, what="busy")

    async def lps_error(request: Request, exc: Exception) -> Response:
        log.warning("refused: %s", type(exc).__name__)
        return _page("closed.html", "da", status=400, what="closed")

    return Starlette(
        routes=[
            Route("/l/{token}", link, methods=["GET", "HEAD", "POST"]),
            Route("/static/lps.css", stylesheet, methods=["GET", "HEAD"]),
            Route("/healthz", health, methods=["GET", "HEAD"]),
            Route("/", nothing, methods=["GET", "HEAD"]),
        ],
        middleware=[Middleware(_Guard, limit=limit if limit.burst > 0 else None)],
        exception_handlers={500: server_error, LpsError: lps_error, 404: lambda r, e: closed()},
    )
