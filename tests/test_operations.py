"""Running lps for years: the sweeps' heartbeat, ``lps status``, ``lps health`` with the exit
codes monitoring systems read, JSON logs, and ``lps scheduler run`` under systemd
(``Type=notify``) with its metrics served over HTTP and written to a file."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import Cli, enrol, make_cohort
from smtp_server import SmtpSink, free_port
from sqlalchemy import select
from test_scheduler import DUE_NOW, environment, lps_command, prepared_database

from workflow.clock import parse_moment
from workflow.engine import Workflow
from workflow.models import SWEEPS
from workflow.records import DEADLINES

TIMEOUT = 30.0


def at(minutes: float) -> str:
    """``minutes`` after the moment the conversation reminder is due, as ``LPS_NOW``."""
    return (datetime.fromisoformat(DUE_NOW) + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def due(wf: Workflow, lps: Cli) -> Cli:
    """A cohort and a participant whose conversation reminder is due at ``DUE_NOW``; the
    CLI at that moment."""
    make_cohort(wf)
    enrol(wf, "late@example.dk", manager_email="boss@example.dk")
    lps.now = DUE_NOW
    return lps


# -- the heartbeat and lps status -------------------------------------------------------------


def test_each_sweep_leaves_a_heartbeat_row_and_lps_status_shows_them(
    due: Cli, wf: Workflow
) -> None:
    before = json.loads(due("status", "--json").stdout)
    assert before["sweeps"] == []
    waiting = before["oldest_due_deadline"]
    assert (waiting["rule"], waiting["email"]) == (
        "manager_conversation_reminder",
        "late@example.dk",
    )
    assert before["deadlines_due"] == 1
    assert before["outbox"] == {
        "queued": 2,
        "queued_due": 2,
        "oldest_queued": "2027-01-04T09:00:00+00:00",
        "failed": 0,
    }

    assert due("remind").exit_code == 0
    due.now = at(1)
    assert due("remind").exit_code == 0
    dry = due("remind", "--dry-run")
    assert dry.exit_code == 0

    with wf.db.reading() as conn:
        rows = conn.execute(select(SWEEPS).order_by(SWEEPS.c.id)).all()
    assert [(r.due, r.queued, r.delivered, r.failed, r.error) for r in rows] == [
        (1, 1, 4, 0, None),
        (0, 0, 0, 0, None),
    ]  # the dry run left none
    assert rows[0].started_at == parse_moment(DUE_NOW)
    assert rows[1].finished_at == parse_moment(at(1))

    shown = json.loads(due("status", "--json").stdout)
    assert [(s["due"], s["queued"], s["delivered"]) for s in shown["sweeps"]] == [
        (0, 0, 0),
        (1, 1, 4),
    ]  # newest first
    assert shown["outbox"] == {"queued": 0, "queued_due": 0, "oldest_queued": None, "failed": 0}
    assert shown["oldest_due_deadline"] is None

    text = due("status")
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0] == "Last sweeps (newest first)"
    assert lines[1].split() == [
        "started", "seconds", "due", "queued", "fired", "delivered", "retrying", "failed",
        "error",
    ]  # fmt: skip
    assert lines[2].split()[:2] == ["2027-02-08", "09:06"]
    assert lines[3].split()[:2] == ["2027-02-08", "09:05"]
    assert lines[3].split()[3:] == ["1", "1", "0", "4", "0", "0"]
    assert lines[4:] == [
        "Outbox: 0 queued (0 due now); 0 failed.",
        "Deadlines: none is due and waiting for a sweep.",
    ]


def test_the_heartbeat_keeps_a_month_of_sweeps(due: Cli, wf: Workflow) -> None:
    """A sweep a minute for years would grow the table without end."""
    assert due("remind").exit_code == 0
    due.now = at(29 * 24 * 60)
    assert due("remind").exit_code == 0
    due.now = at(31 * 24 * 60)
    assert due("remind").exit_code == 0
    with wf.db.reading() as conn:
        kept = conn.execute(select(SWEEPS.c.started_at).order_by(SWEEPS.c.id)).scalars().all()
    assert kept == [parse_moment(at(29 * 24 * 60)), parse_moment(at(31 * 24 * 60))]


def test_lps_status_names_the_oldest_deadline_no_sweep_has_handled(due: Cli, wf: Workflow) -> None:
    with wf.db.reading() as conn:
        deadline = conn.execute(
            select(DEADLINES).where(DEADLINES.c.rule == "manager_conversation_reminder")
        ).one()
    result = due("status")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "No sweep recorded yet: run `lps remind` or `lps scheduler run`.",
        "Outbox: 2 queued (2 due now), the oldest since 2027-01-04 10:00; 0 failed.",
        "Deadlines: 1 due wait for a sweep, the oldest manager_conversation_reminder #0 "
        f"for #{deadline.participant_id} late@example.dk, due 2027-02-08 09:00.",
    ]


def test_a_failed_sweep_is_recorded_with_its_error(due: Cli, wf: Workflow) -> None:
    due.env["LPS_SMTP_URL"] = "ftp://mail.example.dk"
    assert due("remind").exit_code == 1
    with wf.db.reading() as conn:
        rows = conn.execute(select(SWEEPS.c.delivered, SWEEPS.c.error)).all()
    assert len(rows) == 1
    assert rows[0].delivered == 0
    assert rows[0].error.startswith("LPS_SMTP_URL must start with smtp:// or smtps://")


# -- lps health -------------------------------------------------------------------------------


def test_health_is_ok_after_a_recent_sweep(due: Cli) -> None:
    assert due("remind").exit_code == 0
    due.now = at(1)
    result = due("health")
    assert result.exit_code == 0
    assert result.stdout == (
        "LPS OK: database answers; last sweep 60 s ago (2027-02-08 09:05); "
        "0 failed message(s) | sweep_age=60s;600;1800 failed=0;1;10\n"
    )


def test_health_warns_when_the_last_sweep_is_getting_old(due: Cli) -> None:
    assert due("remind").exit_code == 0
    due.now = at(15)
    result = due("health")
    assert result.exit_code == 1
    assert result.stdout == (
        "LPS WARNING: last sweep 15 min ago (2027-02-08 09:05), more than 10 min; "
        "database answers; 0 failed message(s) | sweep_age=900s;600;1800 failed=0;1;10\n"
    )
    assert due("health", "--warn-after", "20").exit_code == 0


def test_health_is_critical_when_the_scheduler_has_stopped(due: Cli) -> None:
    assert due("remind").exit_code == 0
    due.now = at(45)
    result = due("health")
    assert result.exit_code == 2
    assert result.stdout.startswith(
        "LPS CRITICAL: last sweep 45 min ago (2027-02-08 09:05), more than 30 min; "
    )
    assert len(result.stdout.splitlines()) == 1
    relaxed = due("health", "--warn-after", "60", "--critical-after", "120")
    assert relaxed.exit_code == 0


def test_health_is_critical_before_any_sweep(due: Cli) -> None:
    result = due("health")
    assert result.exit_code == 2
    assert result.stdout == (
        "LPS CRITICAL: no sweep recorded; is `lps scheduler run` running?; database answers; "
        "0 failed message(s) | failed=0;1;10\n"
    )


def test_health_is_critical_without_a_database(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    result = Cli(f"sqlite:///{missing}")("health")
    assert result.exit_code == 2
    assert result.stdout == (
        f"LPS CRITICAL: database: database {missing} does not exist; "
        "run `lps init` to create or upgrade it\n"
    )
    assert not missing.exists()


def test_health_counts_failed_messages_against_its_thresholds(due: Cli) -> None:
    with SmtpSink() as sink:
        sink.refuse_with(550)
        due.env["LPS_SMTP_URL"] = sink.url
        assert due("remind").exit_code == 0
        warned = due("health")
        assert warned.exit_code == 1
        assert warned.stdout.startswith(
            "LPS WARNING: 4 failed message(s); see `lps outbox list --status failed`; "
            "database answers; last sweep 0 s ago (2027-02-08 09:05); "
            f"SMTP server 127.0.0.1:{sink.port} answers | "
        )
        critical = due("health", "--critical-failed", "4")
        assert critical.exit_code == 2
        assert critical.stdout.startswith("LPS CRITICAL: 4 failed message(s);")
    refused = due("health", "--warn-failed", "5", "--critical-failed", "4")
    assert refused.exit_code == 2
    assert "Invalid value for --critical-failed: must not be less than --warn-failed" in (
        refused.stderr
    )


def test_health_checks_the_smtp_server(due: Cli) -> None:
    with SmtpSink() as sink:
        due.env["LPS_SMTP_URL"] = sink.url
        assert due("remind").exit_code == 0
        assert len(sink.messages) == 4
        ok = due("health")
        assert ok.exit_code == 0, ok.output
        assert f"; SMTP server 127.0.0.1:{sink.port} answers |" in ok.stdout
        assert len(sink.messages) == 4  # connect, EHLO and QUIT: nothing sent
    closed = free_port()
    due.env["LPS_SMTP_URL"] = f"smtp://127.0.0.1:{closed}"
    down = due("health")
    assert down.exit_code == 2
    assert down.stdout.startswith(f"LPS CRITICAL: SMTP server 127.0.0.1:{closed} does not answer: ")
    assert len(down.stdout.splitlines()) == 1


# -- logs -------------------------------------------------------------------------------------


def test_remind_logs_its_sweep_as_one_json_object_per_line(due: Cli) -> None:
    result = due("remind", "--log-format", "json")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stderr.splitlines()]
    sweeps = [event for event in events if event.get("event") == "sweep"]
    assert len(sweeps) == 1
    sweep = sweeps[0]
    assert (sweep["due"], sweep["queued"], sweep["delivered"], sweep["failed"]) == (1, 1, 4, 0)
    assert (sweep["level"], sweep["logger"]) == ("info", "lps.remind")
    assert sweep["message"].startswith("sweep: 1 due: 1 queued")
    assert result.stdout.splitlines()[-1].startswith("1 due: 1 queued")
    text = due("remind")
    assert text.stderr == ""  # the plain sweep writes no log


# -- lps scheduler run under systemd, with metrics --------------------------------------------


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, Path]]:
    """A unix datagram socket, as systemd listens on for a ``Type=notify`` unit."""
    path = tmp_path / "notify"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.settimeout(TIMEOUT)
    yield listener, path
    listener.close()


def metric(text: str, name: str) -> float:
    """The value of the sample ``name`` (with its labels) in a Prometheus exposition."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} in:\n{text}")


def test_scheduler_notifies_systemd_and_its_metrics_count_what_it_did(
    tmp_path: Path, notify_socket: tuple[socket.socket, Path]
) -> None:
    listener, address = notify_socket
    url = prepared_database(tmp_path)
    metrics_file = tmp_path / "lps.prom"
    log = tmp_path / "scheduler.log"
    env = environment(url, tmp_path / "mail", NOTIFY_SOCKET=str(address))
    command = [
        *lps_command(), "scheduler", "run", "--every", "1", "--metrics-port", "0",
        "--metrics-file", str(metrics_file), "--log-format", "json",
    ]  # fmt: skip
    with log.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            command, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    try:
        first = listener.recv(4096).decode().split("\n")
        assert first[0] == "READY=1"
        assert first[1].startswith("STATUS=last sweep 2027-02-08 09:05: 1 due: 1 queued")
        assert "delivered 4" in first[1]
        assert first[2] == "WATCHDOG=1"

        events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
        (served,) = [event for event in events if event.get("event") == "metrics"]
        assert served["message"] == f"http://127.0.0.1:{served['port']}/metrics".join(
            ["metrics on ", ""]
        )
        with urllib.request.urlopen(
            f"http://127.0.0.1:{served['port']}/metrics", timeout=TIMEOUT
        ) as response:
            scraped = response.read().decode()
        sent = 'lps_messages_sent_total{rule="manager_conversation_reminder"}'
        assert metric(scraped, sent) == 2
        assert metric(scraped, 'lps_messages_sent_total{rule="welcome"}') == 2
        assert metric(scraped, "lps_outbox_backlog") == 0
        assert metric(scraped, "lps_outbox_failed") == 0
        assert metric(scraped, 'lps_sweeps_total{outcome="ok"}') >= 1
        assert metric(scraped, 'lps_sweeps_total{outcome="error"}') == 0
        due_at = parse_moment(DUE_NOW).timestamp()
        assert metric(scraped, "lps_last_successful_sweep_timestamp_seconds") == due_at
        assert metric(scraped, "lps_last_delivery_timestamp_seconds") == due_at
        # Due at 09:00, queued by the sweep at 09:05: five minutes late.
        late = 'lps_reminder_lateness_seconds_{}{{rule="manager_conversation_reminder"}}'
        assert metric(scraped, late.format("count")) == 1
        assert metric(scraped, late.format("sum")) == 300
        le = 'lps_reminder_lateness_seconds_bucket{le="%s",rule="manager_conversation_reminder"}'
        assert metric(scraped, le % "60.0") == 0
        assert metric(scraped, le % "300.0") == 1

        second = listener.recv(4096).decode().split("\n")
        assert second[0].startswith("STATUS=last sweep 2027-02-08 09:05: 0 due: 0 queued")
        assert second[1:] == ["WATCHDOG=1"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=TIMEOUT) == 0
        rest = []
        while (notification := listener.recv(4096).decode()) != "STOPPING=1":
            rest.append(notification)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=TIMEOUT)
    pings = 2 + sum(1 for notification in rest if "WATCHDOG=1" in notification)
    written = metrics_file.read_text(encoding="utf-8")
    assert metric(written, 'lps_sweeps_total{outcome="ok"}') == pings
    assert metric(written, f"{sent}") == 2
    assert metric(written, "lps_sweep_duration_seconds_count") == pings
    assert not list(tmp_path.glob("lps.prom.*"))  # no temporary file left behind
    events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    sweeps = [event for event in events if event.get("event") == "sweep"]
    assert len(sweeps) == pings
    assert (sweeps[0]["queued"], sweeps[0]["delivered"]) == (1, 4)
    assert any(event["message"] == "stopping on signal 15" for event in events)


def test_scheduler_refuses_a_metrics_file_in_a_missing_directory(tmp_path: Path) -> None:
    url = prepared_database(tmp_path)
    target = tmp_path / "nowhere" / "lps.prom"
    result = subprocess.run(
        [*lps_command(), "scheduler", "run", "--metrics-file", str(target)],
        env=environment(url, tmp_path / "mail"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: --metrics-file: directory {target.parent} does not exist; create it first\n"
    )


def test_scheduler_says_when_the_metrics_port_is_taken(tmp_path: Path) -> None:
    url = prepared_database(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*lps_command(), "scheduler", "run", "--metrics-port", str(port)],
            env=environment(url, tmp_path / "mail"),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: cannot serve metrics on 127.0.0.1:{port}: Address already in use\n"
    )


def test_notifications_reach_an_abstract_socket_and_a_missing_one_is_only_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from workflow.operations import SystemdNotifier

    name = f"lps-test-{tmp_path.name}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        listener.settimeout(TIMEOUT)
        notifier = SystemdNotifier("@" + name)
        assert notifier.notify("READY=1", "STATUS=ready")
        assert listener.recv(4096) == b"READY=1\nSTATUS=ready"
        notifier.close()
    gone = SystemdNotifier(str(tmp_path / "no-such-socket"))
    assert gone.notify("WATCHDOG=1") is False
    assert [r.getMessage() for r in caplog.records] == [
        f"cannot notify systemd at {tmp_path / 'no-such-socket'}: [Errno 2] No such file or "
        "directory"
    ]
    assert SystemdNotifier(None).notify("READY=1") is False
