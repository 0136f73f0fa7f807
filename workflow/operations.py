"""Running lps for years: the sweeps' heartbeat in the database, what ``lps status`` and
``lps health`` report from it, metrics in the Prometheus text format, and systemd's
notifications from ``lps scheduler run``.

A supervisor (systemd, Nagios, Prometheus) asks three questions: is the scheduler alive, is
it keeping up, is mail getting out. The heartbeat answers the first from the database, so
that any process may ask it; the metrics and notifications answer them from the process.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select

from states.programme import LOCAL_TZ
from workflow.checkpoints import write_checkpoint
from workflow.errors import LpsError
from workflow.kernel import Runtime
from workflow.models import SWEEPS
from workflow.records import DEADLINES, OUTBOX, PARTICIPANTS
from workflow.sweep import PENDING, SweepReport

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger("lps.scheduler")

OK, WARNING, CRITICAL = 0, 1, 2
LEVEL_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL"}
# How long heartbeat rows are kept: a sweep a minute is 43,000 rows a month, and status and
# health read only the latest.
SWEEP_HISTORY = timedelta(days=30)


# -- the heartbeat ----------------------------------------------------------------------------


def record_sweep(
    runtime: Runtime,
    *,
    started: datetime,
    seconds: float,
    report: SweepReport | None = None,
    error: str | None = None,
) -> None:
    """Record one sweep that wrote (not a dry run): when, its counts, and why it failed or
    its delivery stopped, if it did; rows older than :data:`SWEEP_HISTORY` go."""
    report = report or SweepReport()
    with runtime.db.transaction() as conn:
        conn.execute(delete(SWEEPS).where(SWEEPS.c.started_at < started - SWEEP_HISTORY))
        conn.execute(
            insert(SWEEPS).values(
                started_at=started,
                finished_at=runtime.now(),
                seconds=seconds,
                due=len(report.decisions),
                queued=report.count("queued"),
                fired=report.count("fired"),
                digests=report.digests,
                delivered=report.delivered,
                retrying=report.retrying,
                failed=report.failed,
                error=error or report.delivery_stopped,
            )
        )
        if runtime.db.audit_key:
            write_checkpoint(conn, runtime.db.audit_key, runtime.now(), if_moved=True)


@dataclass(frozen=True)
class SweepView:
    """One recorded sweep."""

    id: int
    started_at: datetime
    finished_at: datetime
    seconds: float
    due: int
    queued: int
    fired: int
    digests: int
    delivered: int
    retrying: int
    failed: int
    error: str | None


@dataclass(frozen=True)
class WaitingDeadline:
    """A deadline whose moment has come that no sweep has handled yet."""

    id: int
    participant_id: int
    email: str
    rule: str
    occurrence: int
    due_at: datetime


@dataclass(frozen=True)
class Status:
    """What ``lps status`` shows: the last sweeps, the outbox, the oldest waiting deadline."""

    now: datetime
    sweeps: list[SweepView]
    queued: int
    queued_due: int
    oldest_queued: datetime | None
    failed: int
    deadlines_due: int
    oldest_due: WaitingDeadline | None

    def as_dict(self) -> dict[str, Any]:
        """The status as plain data, for ``--json``."""
        oldest = self.oldest_due
        return {
            "now": self.now,
            "sweeps": [sweep.__dict__ for sweep in self.sweeps],
            "outbox": {
                "queued": self.queued,
                "queued_due": self.queued_due,
                "oldest_queued": self.oldest_queued,
                "failed": self.failed,
            },
            "deadlines_due": self.deadlines_due,
            "oldest_due_deadline": None if oldest is None else oldest.__dict__,
        }


def status(runtime: Runtime, *, limit: int = 5) -> Status:
    """The last ``limit`` sweeps, newest first, the outbox's backlog and failures, and the
    oldest due deadline that no sweep has handled yet."""
    now = runtime.now()
    with runtime.db.reading() as conn:
        sweeps = [
            SweepView(**row._mapping)
            for row in conn.execute(
                select(SWEEPS).order_by(SWEEPS.c.started_at.desc(), SWEEPS.c.id.desc()).limit(limit)
            )
        ]
        queued, oldest_queued = conn.execute(
            select(func.count(), func.min(OUTBOX.c.created_at)).where(OUTBOX.c.status == PENDING)
        ).one()
        queued_due = conn.execute(
            select(func.count()).where(OUTBOX.c.status == PENDING, OUTBOX.c.next_attempt_at <= now)
        ).scalar_one()
        failed = conn.execute(select(func.count()).where(OUTBOX.c.status == "failed")).scalar_one()
        waiting = (DEADLINES.c.status == PENDING) & (DEADLINES.c.due_at <= now)
        deadlines_due = conn.execute(select(func.count()).where(waiting)).scalar_one()
        row = conn.execute(
            select(
                DEADLINES.c.id,
                DEADLINES.c.participant_id,
                PARTICIPANTS.c.email,
                DEADLINES.c.rule,
                DEADLINES.c.occurrence,
                DEADLINES.c.due_at,
            )
            .join(PARTICIPANTS, PARTICIPANTS.c.id == DEADLINES.c.participant_id)
            .where(waiting)
            .order_by(DEADLINES.c.due_at, DEADLINES.c.id)
            .limit(1)
        ).first()
    return Status(
        now=now,
        sweeps=sweeps,
        queued=queued,
        queued_due=queued_due,
        oldest_queued=_aware(oldest_queued),
        failed=failed,
        deadlines_due=deadlines_due,
        oldest_due=None if row is None else WaitingDeadline(**row._mapping),
    )


def _aware(moment: Any) -> datetime | None:
    """An aggregate over a UTC column comes back without its type's conversion."""
    if moment is None or (isinstance(moment, datetime) and moment.tzinfo is not None):
        return moment
    from datetime import UTC

    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC)


# -- health -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """When ``lps health`` warns and when it is critical."""

    sweep_age_warning: timedelta = timedelta(minutes=10)
    sweep_age_critical: timedelta = timedelta(minutes=30)
    failed_warning: int = 1
    failed_critical: int = 10
    smtp_timeout: float = 10.0


@dataclass(frozen=True)
class Check:
    """One thing ``lps health`` looked at: its level (0 ok, 1 warning, 2 critical) and what
    it found, in a few words."""

    name: str
    level: int
    text: str


@dataclass(frozen=True)
class Health:
    """The checks, and the performance data monitoring systems graph."""

    checks: list[Check]
    perfdata: dict[str, str] = field(default_factory=dict)

    @property
    def level(self) -> int:
        return max((check.level for check in self.checks), default=OK)

    def line(self) -> str:
        """One line in the form monitoring plugins print: ``LPS OK: ... | perfdata``,
        the checks that are not OK first."""
        checks = sorted(self.checks, key=lambda check: -check.level)
        text = f"LPS {LEVEL_NAMES[self.level]}: " + "; ".join(check.text for check in checks)
        if self.perfdata:
            text += " | " + " ".join(f"{key}={value}" for key, value in self.perfdata.items())
        return text


def database_unreachable(why: str) -> Health:
    """The health of an lps whose database cannot be opened: critical."""
    return Health([Check("database", CRITICAL, f"database: {why}")])


def health(runtime: Runtime, thresholds: Thresholds | None = None) -> Health:
    """Check the database, the age and outcome of the last sweep, the messages that failed
    for good and, when one is configured, the SMTP server (connect, EHLO, QUIT)."""
    thresholds = thresholds or Thresholds()
    now = runtime.now()
    checks: list[Check] = []
    perfdata: dict[str, str] = {}
    try:
        with runtime.db.reading() as conn:
            last = conn.execute(
                select(SWEEPS).order_by(SWEEPS.c.started_at.desc(), SWEEPS.c.id.desc()).limit(1)
            ).first()
            failed = conn.execute(
                select(func.count()).where(OUTBOX.c.status == "failed")
            ).scalar_one()
    except LpsError as error:
        return database_unreachable(str(error))
    checks.append(Check("database", OK, "database answers"))
    warn, crit = thresholds.sweep_age_warning, thresholds.sweep_age_critical
    if last is None:
        checks.append(
            Check("sweep", CRITICAL, "no sweep recorded; is `lps scheduler run` running?")
        )
    else:
        age = max(now - last.finished_at, timedelta(0))
        seconds = int(age.total_seconds())
        limits = f"{int(warn.total_seconds())};{int(crit.total_seconds())}"
        perfdata["sweep_age"] = f"{seconds}s;{limits}"
        said = f"last sweep {_ago(age)} ago ({_local(last.finished_at)})"
        if age >= crit:
            checks.append(Check("sweep", CRITICAL, f"{said}, more than {_ago(crit)}"))
        elif age >= warn:
            checks.append(Check("sweep", WARNING, f"{said}, more than {_ago(warn)}"))
        elif last.error:
            checks.append(Check("sweep", WARNING, f"{said} reported: {last.error}"))
        else:
            checks.append(Check("sweep", OK, said))
    perfdata["failed"] = f"{failed};{thresholds.failed_warning};{thresholds.failed_critical}"
    said = f"{failed} failed message(s)"
    if failed >= thresholds.failed_critical:
        checks.append(Check("failed", CRITICAL, f"{said}; see `lps outbox list --status failed`"))
    elif failed >= thresholds.failed_warning:
        checks.append(Check("failed", WARNING, f"{said}; see `lps outbox list --status failed`"))
    else:
        checks.append(Check("failed", OK, said))
    if runtime.settings.smtp_url:
        checks.append(_smtp_check(runtime, thresholds.smtp_timeout))
    return Health(checks, perfdata)


def _local(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def _ago(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def _smtp_check(runtime: Runtime, timeout: float) -> Check:
    """Connect, EHLO and QUIT: the server is there and speaks SMTP. Nothing is sent and no
    login is tried, so that a monitor's checks never lock an account."""
    try:
        channel = runtime.settings.channel()
    except LpsError as error:
        return Check("smtp", CRITICAL, f"SMTP: {error}")
    host, port = getattr(channel, "host", ""), getattr(channel, "port", 25)
    timeout = min(timeout, getattr(channel, "timeout", timeout))
    try:
        connection: smtplib.SMTP
        if getattr(channel, "tls", "none") == "implicit":
            context = ssl.create_default_context()
            connection = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            connection = smtplib.SMTP(host, port, timeout=timeout)
        try:
            code, _ = connection.ehlo()
            if not 200 <= code < 300:
                return Check("smtp", CRITICAL, f"SMTP server {host}:{port} refused EHLO ({code})")
        finally:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                connection.close()
    except (smtplib.SMTPException, OSError) as error:
        why = str(error) or type(error).__name__
        return Check("smtp", CRITICAL, f"SMTP server {host}:{port} does not answer: {why}")
    return Check("smtp", OK, f"SMTP server {host}:{port} answers")


# -- metrics ----------------------------------------------------------------------------------

# Seconds: a sweep takes well under a second when little is due, minutes for a big delivery.
SWEEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# Seconds from a deadline's due moment to its reminder being queued: a sweep a minute
# normally, hours or days after an outage or for a participant enrolled late.
LATENESS_BUCKETS = (60, 300, 900, 3600, 4 * 3600, 86400, 3 * 86400, 7 * 86400)


class Metrics:
    """The scheduler's metrics, in a registry of their own (not the library's global one),
    so that each scheduler, and each test, counts only its own sweeps."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry: CollectorRegistry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.sweeps = Counter(
            "lps_sweeps", "Sweeps run, by outcome.", ["outcome"], registry=registry
        )
        for outcome in ("ok", "error"):
            self.sweeps.labels(outcome)
        self.duration = Histogram(
            "lps_sweep_duration_seconds",
            "How long each sweep took.",
            buckets=SWEEP_BUCKETS,
            registry=registry,
        )
        self.sent = Counter(
            "lps_messages_sent", "Messages sent, by rule.", ["rule"], registry=registry
        )
        self.failed = Counter(
            "lps_messages_failed",
            "Messages that failed for good, by rule.",
            ["rule"],
            registry=registry,
        )
        self.backlog = Gauge(
            "lps_outbox_backlog", "Messages queued and not yet sent.", registry=registry
        )
        self.failed_waiting = Gauge(
            "lps_outbox_failed",
            "Messages that failed for good and wait for a retry.",
            registry=registry,
        )
        self.last_success = Gauge(
            "lps_last_successful_sweep_timestamp_seconds",
            "When the last sweep that did not fail finished (Unix time).",
            registry=registry,
        )
        self.last_delivery = Gauge(
            "lps_last_delivery_timestamp_seconds",
            "When the last message was sent (Unix time), by any sweep.",
            registry=registry,
        )
        self.lateness = Histogram(
            "lps_reminder_lateness_seconds",
            "From a deadline's due moment to its reminder being queued, by rule.",
            ["rule"],
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )

    def observe(self, runtime: Runtime, report: SweepReport | None, seconds: float) -> None:
        """Count one sweep (``report`` is ``None`` when it failed) and read the outbox's
        backlog and last delivery from the database."""
        self.duration.observe(seconds)
        if report is None:
            self.sweeps.labels("error").inc()
        else:
            self.sweeps.labels("ok").inc()
            self.last_success.set(runtime.now().timestamp())
            for rule, number in report.sent_by_rule.items():
                self.sent.labels(rule).inc(number)
            for rule, number in report.failed_by_rule.items():
                self.failed.labels(rule).inc(number)
            for rule, late in report.lateness:
                self.lateness.labels(rule).observe(max(late, 0.0))
        with runtime.db.reading() as conn:
            by_status: dict[str, int] = dict(
                conn.execute(
                    select(OUTBOX.c.status, func.count())
                    .where(OUTBOX.c.status.in_([PENDING, "failed"]))
                    .group_by(OUTBOX.c.status)
                ).all()
            )
            last_sent = conn.execute(select(func.max(OUTBOX.c.sent_at))).scalar_one()
        self.backlog.set(by_status.get("pending", 0))
        self.failed_waiting.set(by_status.get("failed", 0))
        sent_at = _aware(last_sent)
        if sent_at is not None:
            self.last_delivery.set(sent_at.timestamp())

    def text(self) -> bytes:
        """The metrics in the Prometheus text format."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    def serve(self, host: str, port: int) -> Any:
        """Serve the metrics at ``http://host:port/metrics`` from a daemon thread; the
        server, whose ``server_port`` is the port bound (``port`` 0 picks a free one)."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server

    def write(self, path: Path) -> None:
        """Write the metrics to ``path`` whole (a temporary file renamed over it), as the
        node exporter's textfile collector reads them."""
        from prometheus_client import write_to_textfile

        write_to_textfile(str(path), self.registry)


# -- systemd ----------------------------------------------------------------------------------


class SystemdNotifier:
    """systemd's notification protocol for ``Type=notify`` units: ``KEY=value`` lines in one
    datagram to the unix socket named by ``NOTIFY_SOCKET`` (a leading ``@`` is the abstract
    namespace). Written here rather than taken from a package: the whole protocol is one
    ``sendto`` on an ``AF_UNIX``/``SOCK_DGRAM`` socket, less code than a dependency's wrapper.
    Without a socket every notification is a no-op."""

    def __init__(self, address: str | None):
        self.address = address
        self._socket: socket.socket | None = None

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` as one notification; whether it went. A failure is logged once
        per call and never raised: the scheduler keeps sweeping whatever systemd does."""
        if not self.address:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.sendto("\n".join(lines).encode("utf-8"), target)
        except OSError as error:
            log.warning("cannot notify systemd at %s: %s", self.address, error)
            return False
        return True

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


# -- the supervised scheduler -----------------------------------------------------------------


class Supervisor:
    """What ``lps scheduler run`` does after each sweep besides logging it: metrics updated
    (and written to their file), then systemd told (``READY=1`` after the first sweep, a
    ``WATCHDOG=1`` ping after each, ``STATUS=`` the last sweep). Nothing here may stop the
    scheduler: failures are logged."""

    def __init__(
        self,
        notifier: SystemdNotifier | None = None,
        metrics: Metrics | None = None,
        metrics_file: Path | None = None,
    ):
        self.notifier = notifier or SystemdNotifier(None)
        self.metrics = metrics
        self.metrics_file = metrics_file
        self.server: Any = None
        self._ready = False

    def serve_metrics(self, host: str, port: int) -> int:
        """Serve the metrics over HTTP; the port bound."""
        self.metrics = self.metrics or Metrics()
        self.server = self.metrics.serve(host, port)
        return int(self.server.server_port)

    def after_sweep(
        self, runtime: Runtime, report: SweepReport | None, error: str | None, seconds: float
    ) -> None:
        """Record one sweep in the metrics and tell systemd about it."""
        if self.metrics is not None:
            try:
                self.metrics.observe(runtime, report, seconds)
                if self.metrics_file is not None:
                    self.metrics.write(self.metrics_file)
            except (LpsError, OSError) as problem:
                log.warning("metrics not updated: %s", problem)
        when = _local(runtime.now())
        if report is None:
            line = f"STATUS=last sweep {when} failed: {error}"
        else:
            line = f"STATUS=last sweep {when}: {report.summary()}"
        lines = [line, "WATCHDOG=1"]
        if not self._ready:
            lines.insert(0, "READY=1")
            self._ready = True
        self.notifier.notify(*lines)

    def stopping(self) -> None:
        """Tell systemd the scheduler is stopping, and stop serving metrics."""
        self.notifier.notify("STOPPING=1")
        self.notifier.close()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
