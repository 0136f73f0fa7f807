"""``lps scheduler run`` as a real process (a sweep at once, a log line per sweep, a clean stop
on SIGTERM and SIGINT), and the APScheduler job it runs, in-process."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from conftest import START, enrol, make_cohort
from sqlalchemy import select

from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import Workflow
from workflow.migrate import upgrade
from workflow.records import OUTBOX
from workflow.scheduling import run_sweep_job, sweep_once

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 30.0
# D1-21 of the standard cohort: the manager-conversation reminder is due.
DUE_NOW = "2027-02-08T09:05"


def lps_command() -> list[str]:
    """The installed ``lps`` script next to this interpreter, else the same entry point."""
    script = Path(sys.executable).with_name("lps")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from cli.main import main; main()"]


def prepared_database(tmp_path: Path) -> str:
    """A SQLite database with one cohort and one participant enrolled on 4 January 2027."""
    url = f"sqlite:///{tmp_path / 'lps.db'}"
    database = Database(url)
    upgrade(database)
    wf = Workflow(database, clock=FixedClock(START), actor="tester")
    make_cohort(wf)
    enrol(wf, "late@example.dk", manager_email="boss@example.dk")
    database.dispose()
    return url


def environment(url: str, mail_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LPS_")}
    env.update(
        LPS_DATABASE_URL=url,
        LPS_NOW=DUE_NOW,
        LPS_MAIL_DIR=str(mail_dir),
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
        PYTHONIOENCODING="utf-8",
    )
    env.update(extra)
    return env


class Scheduler:
    """``lps scheduler run`` in the background, its stderr in a file."""

    def __init__(self, tmp_path: Path, env: dict[str, str], every: int):
        self.log = tmp_path / "scheduler.log"
        self._log_file = self.log.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [*lps_command(), "scheduler", "run", "--every", str(every)],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
        )

    def lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines()

    def sweep_lines(self) -> list[str]:
        return [line for line in self.lines() if " lps.scheduler sweep: " in line]

    def wait_for(self, what: str, condition: Callable[[], bool]) -> None:
        """Poll until ``condition`` holds; fail, showing the log, after TIMEOUT seconds."""
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            if self.process.poll() is not None:
                pytest.fail(f"scheduler exited ({self.process.returncode}) before {what}:\n"
                            + "\n".join(self.lines()))  # fmt: skip
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {TIMEOUT}s:\n" + "\n".join(self.lines()))
            time.sleep(0.05)

    def stop(self, signum: int) -> int:
        """Send ``signum`` and return the exit code; fail if it takes more than 5 seconds."""
        sent = time.monotonic()
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 5s after signal {signum}:\n" + "\n".join(self.lines()))
        assert time.monotonic() - sent < 5
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log_file.close()


@pytest.fixture
def start_scheduler(tmp_path: Path) -> Iterator[Callable[..., Scheduler]]:
    started: list[Scheduler] = []

    def start(env: dict[str, str], every: int) -> Scheduler:
        scheduler = Scheduler(tmp_path, env, every)
        started.append(scheduler)
        return scheduler

    yield start
    for scheduler in started:
        scheduler.close()


def reminder_files(mail_dir: Path) -> list[Path]:
    return sorted(mail_dir.glob("manager_conversation_reminder-*.eml"))


def test_scheduler_sweeps_at_once_on_start_and_stops_cleanly_on_sigterm(
    tmp_path: Path, start_scheduler: Callable[..., Scheduler]
) -> None:
    url = prepared_database(tmp_path)
    mail = tmp_path / "mail"
    # An hour between sweeps: whatever arrives now comes from the sweep on start.
    scheduler = start_scheduler(environment(url, mail), every=3600)
    scheduler.wait_for("reminder .eml files", lambda: len(reminder_files(mail)) == 2)
    scheduler.wait_for("a sweep log line", lambda: len(scheduler.sweep_lines()) == 1)
    recipients = sorted(
        BytesParser(policy=policy.default)
        .parsebytes(path.read_bytes())["To"]
        .addresses[0]
        .addr_spec
        for path in reminder_files(mail)
    )
    assert recipients == ["boss@example.dk", "late@example.dk"]
    assert len(list(mail.glob("welcome-*.eml"))) == 2
    assert "1 due: 1 queued" in scheduler.sweep_lines()[0]
    assert "delivered 4" in scheduler.sweep_lines()[0]
    assert scheduler.stop(signal.SIGTERM) == 0
    lines = scheduler.lines()
    started = f"lps.scheduler sweeping sqlite:///{tmp_path / 'lps.db'} every 3600s (job lps-sweep)"
    assert any(line.endswith(started) for line in lines)
    assert any(f"stopping on signal {int(signal.SIGTERM)}" in line for line in lines)
    assert not any("Traceback" in line for line in lines)
    assert len(scheduler.sweep_lines()) == 1


def test_scheduler_logs_a_line_per_sweep_sends_nothing_twice_and_stops_on_sigint(
    tmp_path: Path, start_scheduler: Callable[..., Scheduler]
) -> None:
    url = prepared_database(tmp_path)
    mail = tmp_path / "mail"
    scheduler = start_scheduler(environment(url, mail), every=1)
    scheduler.wait_for("three sweeps", lambda: len(scheduler.sweep_lines()) >= 3)
    assert scheduler.stop(signal.SIGINT) == 0
    sweeps = scheduler.sweep_lines()
    assert "1 due: 1 queued" in sweeps[0] and "delivered 4" in sweeps[0]
    # The clock stands still (LPS_NOW): every later sweep finds nothing new.
    for line in sweeps[1:]:
        assert "0 due: 0 queued" in line and "delivered 0" in line, line
    assert any(f"stopping on signal {int(signal.SIGINT)}" in line for line in scheduler.lines())
    assert not any("Traceback" in line for line in scheduler.lines())
    assert len(list(mail.glob("*.eml"))) == 4
    database = Database(url)
    try:
        with database.reading() as conn:
            statuses = [s for (s,) in conn.execute(select(OUTBOX.c.status))]
    finally:
        database.dispose()
    assert statuses == ["sent"] * 4


def test_a_failing_sweep_is_logged_and_the_scheduler_keeps_going(
    tmp_path: Path, start_scheduler: Callable[..., Scheduler]
) -> None:
    url = prepared_database(tmp_path)
    env = environment(url, tmp_path / "mail", LPS_SMTP_URL="ftp://mail.example.dk")
    scheduler = start_scheduler(env, every=1)
    failed = "sweep failed: LPS_SMTP_URL must start with smtp:// or smtps://"

    def failures() -> int:
        return sum(1 for line in scheduler.lines() if failed in line)

    scheduler.wait_for("two failed sweeps", lambda: failures() >= 2)
    assert scheduler.process.poll() is None
    assert scheduler.stop(signal.SIGTERM) == 0
    assert not (tmp_path / "mail").exists()


def test_scheduler_on_a_database_without_schema_exits_with_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    result = subprocess.run(
        [*lps_command(), "scheduler", "run", "--every", "1"],
        env=environment(f"sqlite:///{missing}", tmp_path / "mail"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: database {missing} does not exist; run `lps init` to create or upgrade it\n"
    )
    assert not missing.exists()


# -- the job, in-process -----------------------------------------------------------------------


@pytest.fixture
def due_workflow(tmp_path: Path) -> Iterator[tuple[Workflow, Path]]:
    url = prepared_database(tmp_path)
    mail = tmp_path / "mail"
    from workflow.clock import parse_moment
    from workflow.settings import Settings

    database = Database(url)
    settings = Settings(mail_dir=mail)
    clock = FixedClock(parse_moment(DUE_NOW))
    yield Workflow(database, clock=clock, actor="scheduler", settings=settings), mail
    database.dispose()


def test_run_sweep_job_settings(due_workflow: tuple[Workflow, Path]) -> None:
    wf, _ = due_workflow
    scheduler = BackgroundScheduler(timezone="Europe/Copenhagen")
    job = run_sweep_job(scheduler, wf, 90)
    assert job.id == "lps-sweep"
    assert job.max_instances == 1  # never two sweeps of one process at once
    assert job.coalesce is True  # missed runs collapse into one
    assert job.misfire_grace_time is None  # a late run still runs
    assert job.trigger.interval == timedelta(seconds=90)
    assert job.func is sweep_once
    assert job.args == (wf,)
    assert job.next_run_time is not None
    assert len(scheduler.get_jobs()) == 1


def test_run_sweep_job_sweeps_at_once_when_started(
    due_workflow: tuple[Workflow, Path], caplog: pytest.LogCaptureFixture
) -> None:
    wf, mail = due_workflow
    scheduler = BackgroundScheduler(timezone="Europe/Copenhagen")
    finished = threading.Event()
    outcomes: list[JobExecutionEvent] = []

    def listen(event: JobExecutionEvent) -> None:
        outcomes.append(event)
        finished.set()

    scheduler.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    run_sweep_job(scheduler, wf, 3600)
    caplog.set_level(logging.INFO, logger="lps.scheduler")
    scheduler.start()
    try:
        assert finished.wait(TIMEOUT), "the job did not run on start"
    finally:
        scheduler.shutdown(wait=True)
    assert [event.exception for event in outcomes] == [None]
    report = outcomes[0].retval
    assert (report.count("queued"), report.delivered) == (1, 4)
    assert len(reminder_files(mail)) == 2
    messages = [r.getMessage() for r in caplog.records if r.name == "lps.scheduler"]
    assert len(messages) == 1 and messages[0].startswith("sweep: 1 due: 1 queued")


def test_sweep_once_logs_a_failure_instead_of_raising(
    due_workflow: tuple[Workflow, Path], caplog: pytest.LogCaptureFixture
) -> None:
    wf, mail = due_workflow
    broken = Workflow(
        wf.db,
        clock=wf.clock,
        actor=wf.actor,
        settings=replace(wf.settings, smtp_url="ftp://mail.example.dk"),
    )
    caplog.set_level(logging.INFO, logger="lps.scheduler")
    assert sweep_once(broken) is None
    assert [r.getMessage() for r in caplog.records if r.name == "lps.scheduler"] == [
        "sweep failed: LPS_SMTP_URL must start with smtp:// or smtps://, "
        "got 'ftp://mail.example.dk'"
    ]
    assert [r.levelno for r in caplog.records if r.name == "lps.scheduler"] == [logging.ERROR]
    assert not mail.exists()
