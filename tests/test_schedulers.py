"""Several ``lps scheduler run`` processes on one database, and one of them killed in the middle
of its delivery: every due message reaches a real SMTP server and is recorded as sent exactly
once; the only duplicates are messages the killed process sent but could not record, and they
carry the same ``Message-ID`` so that receivers can drop them."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import START, enrol, make_cohort
from procs import owner_of_connection, start_lps, wait_until
from smtp_server import Received, SmtpSink
from sqlalchemy import func, select

from notifications.delivery import message_id_for
from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import Workflow
from workflow.migrate import upgrade
from workflow.records import DEADLINES, OUTBOX

PARTICIPANTS = 60
# Day 1 minus 7 at 09:30: the welcome mails are still queued, and the conversation reminder
# (D1-21), the JTI invitation (D1-14), the escalation and the JTI reminder (D1-7) and the
# Monday digest are all due.
SWEEP_AT = datetime(2027, 2, 22, 9, 30)
LEASE_PASSED = SWEEP_AT + timedelta(minutes=6)
TIMEOUT = 180.0


@dataclass
class Schedulers:
    """Background ``lps scheduler run`` processes and the files their output goes to."""

    url: str
    smtp_url: str
    workdir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: dict[int, Path] = field(default_factory=dict)

    def start(self, now: datetime) -> subprocess.Popen[bytes]:
        number = len(self.procs)
        out = self.workdir / f"scheduler-{number}.out"
        err = self.workdir / f"scheduler-{number}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = start_lps(
                "scheduler",
                "run",
                "--every",
                "1",
                url=self.url,
                now=now.isoformat(),
                cwd=self.workdir,
                stdout=stdout,
                stderr=stderr,
                extra={"LPS_SMTP_URL": self.smtp_url},
            )
        self.procs.append(proc)
        self.logs[proc.pid] = err
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> int:
        """SIGTERM, as systemd stops the service, and the exit code."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=TIMEOUT)

    def log(self, proc: subprocess.Popen[bytes]) -> str:
        return self.logs[proc.pid].read_text(encoding="utf-8", errors="replace")

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def due_database(url: str, participants: int = PARTICIPANTS) -> Database:
    """A cohort with ``participants`` enrolled at the start; nothing sent yet."""
    database = Database(url)
    upgrade(database)
    workflow = Workflow(database, clock=FixedClock(START), actor="setup")
    make_cohort(workflow)
    for number in range(participants):
        enrol(
            workflow,
            email=f"deltager{number:03d}@example.dk",
            name=f"Deltager {number} Ærø",
            manager_email=f"leder{number:03d}@example.dk",
        )
    return database


def scheduler_box(url: str, sink: SmtpSink, workdir: Path) -> Iterator[Schedulers]:
    box = Schedulers(url, sink.url, workdir)
    try:
        yield box
    finally:
        box.kill_all()


@pytest.fixture
def schedulers_pg(postgres_url: str, sink: SmtpSink, tmp_path: Path) -> Iterator[Schedulers]:
    yield from scheduler_box(postgres_url, sink, tmp_path)


@pytest.fixture
def schedulers_sqlite(sqlite_url: str, sink: SmtpSink, tmp_path: Path) -> Iterator[Schedulers]:
    yield from scheduler_box(sqlite_url, sink, tmp_path)


def outbox_counts(database: Database, now: datetime) -> dict[str, int]:
    """Pending rows, pending rows nobody holds a claim on at ``now``, due deadlines, digests."""
    moment = FixedClock(now).now()
    with database.reading() as conn:
        pending = OUTBOX.c.status == "pending"
        unclaimed = pending & (OUTBOX.c.claimed_until.is_(None) | (OUTBOX.c.claimed_until < moment))
        due = (DEADLINES.c.status == "pending") & (DEADLINES.c.due_at <= moment)
        return {
            "pending": conn.execute(select(func.count()).where(pending)).scalar_one(),
            "unclaimed": conn.execute(select(func.count()).where(unclaimed)).scalar_one(),
            "due": conn.execute(select(func.count()).where(due)).scalar_one(),
            "digests": conn.execute(
                select(func.count()).where(OUTBOX.c.rule == "admin_digest")
            ).scalar_one(),
            "rows": conn.execute(select(func.count()).select_from(OUTBOX)).scalar_one(),
        }


def drained(database: Database, now: datetime) -> bool:
    counts = outbox_counts(database, now)
    return counts["pending"] == 0 and counts["due"] == 0 and counts["digests"] == 1


def outbox_rows(database: Database) -> list[tuple[str, str, int]]:
    with database.reading() as conn:
        rows = conn.execute(select(OUTBOX.c.key, OUTBOX.c.status, OUTBOX.c.attempts)).all()
    return [(r.key, r.status, r.attempts) for r in rows]


def received_ids(sink: SmtpSink) -> Counter[str]:
    return Counter(str(message["Message-ID"]) for message in sink.messages)


def finished_a_sweep(box: Schedulers, proc: subprocess.Popen[bytes]) -> None:
    """Wait until ``proc`` has logged a whole sweep: one started while another scheduler was
    draining the outbox may still be in its first when the outbox is empty, and a SIGTERM then
    would stop it before it could say so."""
    wait_until(
        lambda: "sweep: " in box.log(proc),
        timeout=TIMEOUT,
        what=f"scheduler {proc.pid} to finish a sweep",
    )


def assert_clean_log(text: str) -> None:
    assert "Traceback" not in text, text
    assert "sweep: " in text, text


class KillAtMessage(list[Received]):
    """Stands in for the sink's list of received messages and SIGKILLs the sender of message
    number ``at``: after the server has taken it, before the client hears "250"; the residual
    window between SMTP acceptance and the database commit, hit on purpose."""

    def __init__(self, at: int, port: int) -> None:
        super().__init__()
        self.at = at
        self.port = port
        self.pids: list[int] = []
        self.victim: int | None = None
        self.victim_peer: tuple[str, int] | None = None
        self.message_id = ""
        self.done = threading.Event()

    def append(self, received: Received) -> None:
        super().append(received)
        if len(self) != self.at:
            return
        self.victim = owner_of_connection(received.peer[1], self.port, self.pids)
        if self.victim is not None:
            os.kill(self.victim, signal.SIGKILL)
            self.victim_peer = received.peer
            self.message_id = str(received.message["Message-ID"])
        self.done.set()


def only_claimed_left(database: Database, now: datetime) -> bool:
    counts = outbox_counts(database, now)
    return counts["unclaimed"] == 0 and counts["due"] == 0 and counts["digests"] == 1


@pytest.mark.slow
@pytest.mark.postgres
def test_three_schedulers_and_a_killed_one_deliver_everything_once(
    postgres_url: str, sink: SmtpSink, schedulers_pg: Schedulers
) -> None:
    database = due_database(postgres_url)
    box = schedulers_pg
    killer = KillAtMessage(at=5, port=sink.port)
    sink.received = killer
    first = [box.start(SWEEP_AT) for _ in range(3)]
    killer.pids = [proc.pid for proc in first]

    assert killer.done.wait(timeout=TIMEOUT), "the fifth message never came"
    assert killer.victim is not None, "no scheduler held the connection of the fifth message"
    victim = next(proc for proc in first if proc.pid == killer.victim)
    assert victim.wait(timeout=TIMEOUT) == -signal.SIGKILL

    # The survivors sweep and deliver everything except the rows the dead process had claimed;
    # those stay claimed until the lease passes, which a fixed clock never reaches.
    wait_until(
        lambda: only_claimed_left(database, SWEEP_AT),
        timeout=TIMEOUT,
        what="the survivors to deliver every unclaimed message",
    )
    survivors = [proc for proc in first if proc is not victim]
    for proc in survivors:
        finished_a_sweep(box, proc)
        assert box.stop(proc) == 0
        assert_clean_log(box.log(proc))
    stranded = outbox_counts(database, SWEEP_AT)["pending"]
    assert stranded > 0, "the killed process held no claimed rows"

    # Six minutes later the dead process's lease has passed: two schedulers pick its rows up.
    later = [box.start(LEASE_PASSED) for _ in range(2)]
    wait_until(
        lambda: drained(database, LEASE_PASSED),
        timeout=TIMEOUT,
        what="the outbox to empty after the lease",
    )
    for proc in later:
        finished_a_sweep(box, proc)
        assert box.stop(proc) == 0
        assert_clean_log(box.log(proc))

    rows = outbox_rows(database)
    assert len(rows) > 4 * PARTICIPANTS
    assert all(status == "sent" and attempts == 1 for _, status, attempts in rows), [
        row for row in rows if row[1:] != ("sent", 1)
    ]
    expected = {message_id_for(key, "kommune.dk") for key, _, _ in rows}
    got = received_ids(sink)
    assert set(got) == expected, "a message is missing at the SMTP server, or one is unknown"
    duplicates = {mid: n - 1 for mid, n in got.items() if n > 1}
    # The one message the server took as the process died comes again, with the same
    # Message-ID; nothing else does.
    assert duplicates == {killer.message_id: 1}
    copies = [r.peer for r in sink.received if str(r.message["Message-ID"]) == killer.message_id]
    assert copies[0] == killer.victim_peer and copies[1] != killer.victim_peer
    print(
        f"\npostgresql: 3 schedulers, 1 SIGKILLed at its delivery of message 5 while holding "
        f"{stranded} claimed row(s); {len(rows)} outbox rows, all sent and recorded once; "
        f"{len(sink.received)} SMTP deliveries, {sum(duplicates.values())} duplicate "
        "(same Message-ID)"
    )
    database.dispose()


@pytest.mark.slow
def test_two_schedulers_on_sqlite_send_nothing_twice(
    sqlite_url: str, sink: SmtpSink, schedulers_sqlite: Schedulers
) -> None:
    database = due_database(sqlite_url, participants=30)
    box = schedulers_sqlite
    procs = [box.start(SWEEP_AT) for _ in range(2)]

    wait_until(lambda: drained(database, SWEEP_AT), timeout=TIMEOUT, what="the outbox to empty")
    for proc in procs:
        assert box.stop(proc) == 0
        assert_clean_log(box.log(proc))

    rows = outbox_rows(database)
    assert len(rows) > 4 * 30
    assert all(status == "sent" and attempts == 1 for _, status, attempts in rows)
    got = received_ids(sink)
    assert set(got) == {message_id_for(key, "kommune.dk") for key, _, _ in rows}
    assert max(got.values()) == 1, {mid: n for mid, n in got.items() if n > 1}
    database.dispose()
