"""Every setting lps takes from its environment, named in one place.

A face (the CLI, the web pages) builds one frozen :class:`Settings` from the environment with
:meth:`Settings.from_env` and hands it down; nothing below the faces reads ``os.environ``.
:data:`VARIABLES` is the list the README's configuration table shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from workflow.clock import Clock, FixedClock, SystemClock, parse_moment

if TYPE_CHECKING:
    from notifications.delivery import Channel

__all__ = [
    "DATABASE_URL",
    "DEFAULT_CERTIFICATE_SECRET",
    "DEFAULT_DATABASE_URL",
    "VARIABLES",
    "Settings",
    "Variable",
    "describe_channel",
]

DATABASE_URL = "LPS_DATABASE_URL"
NOW = "LPS_NOW"
SMTP_URL = "LPS_SMTP_URL"
MAIL_DIR = "LPS_MAIL_DIR"
MAIL_FROM = "LPS_MAIL_FROM"
CERTIFICATE_SECRET = "LPS_CERTIFICATE_SECRET"
AUDIT_KEY = "LPS_AUDIT_KEY"
BASE_URL = "LPS_BASE_URL"
# Set by systemd for a unit of Type=notify; its name is systemd's, not ours.
NOTIFY_SOCKET = "NOTIFY_SOCKET"

DEFAULT_DATABASE_URL = "sqlite:///lps.db"
DEFAULT_MAIL_DIR = "outbox"
# A known default: certificates still verify, but anyone could compute a code; `lps doctor`
# and the README say to set a secret of one's own.
DEFAULT_CERTIFICATE_SECRET = "leder-paa-spring"


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, what it sets, and what holds when it is unset."""

    name: str
    meaning: str
    default: str
    option: str | None = None

    def row(self) -> str:
        """The variable as a row of the README's configuration table."""
        name = f"`{self.name}`" + (f" (or `{self.option}`)" if self.option else "")
        return f"| {name} | {self.meaning} | {self.default} |"


VARIABLES: tuple[Variable, ...] = (
    Variable(
        DATABASE_URL,
        "`sqlite:///path.db` or `postgresql://user@host:5432/name`; on SQLite "
        "`?timeout=SECONDS` is how long to wait for another process's write lock (default 15)",
        f"`{DEFAULT_DATABASE_URL}`",
        option="--db",
    ),
    Variable(
        NOW,
        "the clock, ISO date-time in the years 2000–2199 (Copenhagen time without an offset)",
        "the system clock",
    ),
    Variable(SMTP_URL, "SMTP server for delivery", "unset: `.eml` files"),
    Variable(MAIL_DIR, "where `.eml` files go", f"`./{DEFAULT_MAIL_DIR}`"),
    Variable(MAIL_FROM, "sender address", "the cohort's admin email"),
    Variable(
        CERTIFICATE_SECRET,
        "the key of the certificates' verification codes (HMAC-SHA256); set your own",
        f"`{DEFAULT_CERTIFICATE_SECRET}`",
    ),
    Variable(
        AUDIT_KEY,
        "the key the audit trail is sealed with (HMAC-SHA256): keep it outside the database, "
        "so that whoever can write the tables cannot recompute a chain",
        "unset: plain SHA-256 chains, no checkpoints",
    ),
    Variable(
        BASE_URL,
        "where the personal links in the mail point (`lps serve` behind a reverse proxy "
        "with TLS, e.g. `https://lps.kommune.dk`)",
        "unset: mails carry no links",
    ),
    Variable(
        NOTIFY_SOCKET,
        "set by systemd for a `Type=notify` unit: `lps scheduler run` reports there that it "
        "is ready, a watchdog ping per sweep and the last sweep as its status",
        "unset: no notifications",
    ),
)


@dataclass(frozen=True)
class Settings:
    """What lps is configured with. The defaults are those of an unset environment."""

    database_url: str = DEFAULT_DATABASE_URL
    now: datetime | None = None
    smtp_url: str | None = None
    mail_dir: Path = field(default_factory=lambda: Path(DEFAULT_MAIL_DIR))
    mail_from: str | None = None
    certificate_secret: str = DEFAULT_CERTIFICATE_SECRET
    audit_key: str | None = None
    notify_socket: str | None = None
    base_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, database_url: str | None = None) -> Settings:
        """The settings an environment gives; ``database_url`` (``--db``) wins over
        ``LPS_DATABASE_URL``. A malformed ``LPS_NOW`` raises
        :class:`~workflow.errors.InvalidInput` naming it."""

        def given(name: str) -> str | None:
            return env.get(name, "").strip() or None

        moment = given(NOW)
        return cls(
            database_url=database_url or given(DATABASE_URL) or DEFAULT_DATABASE_URL,
            now=parse_moment(moment, name=NOW) if moment else None,
            smtp_url=given(SMTP_URL),
            mail_dir=Path(given(MAIL_DIR) or DEFAULT_MAIL_DIR),
            mail_from=given(MAIL_FROM),
            certificate_secret=env.get(CERTIFICATE_SECRET) or DEFAULT_CERTIFICATE_SECRET,
            audit_key=env.get(AUDIT_KEY) or None,
            notify_socket=given(NOTIFY_SOCKET),
            base_url=given(BASE_URL),
        )

    def clock(self) -> Clock:
        """``LPS_NOW`` when set, else the system clock."""
        return FixedClock(self.now) if self.now is not None else SystemClock()

    def channel(self) -> Channel:
        """Where mail goes: the SMTP server when one is set, else ``.eml`` files. An invalid
        SMTP URL raises :class:`~workflow.errors.InvalidInput` naming ``LPS_SMTP_URL``."""
        from notifications.delivery import EmlChannel, SmtpChannel
        from workflow.errors import InvalidInput

        if self.smtp_url:
            try:
                return SmtpChannel.from_url(self.smtp_url, setting=SMTP_URL)
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None
        return EmlChannel(self.mail_dir)


def describe_channel(channel: Channel) -> str:
    """One line saying where mail goes, safe to print or log (no passwords)."""
    from notifications.delivery import describe_channel as describe

    return describe(channel)
