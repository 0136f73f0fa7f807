"""Benchmark 6, memory: peak RSS of a sweep that renders, queues and delivers 100,000 due
messages, in a process of its own (``ru_maxrss``).

Floor: the same process's peak just before the sweep, with the engine imported and the
database opened. The ``.eml`` files go to a memory-backed folder when there is one (their
pages are not the process's), so that the run is not dominated by fsync.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from tests.benchmarks import sweep
from tests.benchmarks.common import (
    Context,
    count,
    instance,
    load,
    mail_folder,
    memory_disk,
    run_process,
    say,
)
from tests.benchmarks.fixtures import local, make_due

NAME = "memory"
TARGET_MB = 250.0


def run(ctx: Context) -> None:
    participants = ctx.scale.n(100_000)
    say(f"\n## Memory: peak RSS of a sweep with {participants:,} due messages ({load()})")
    with (
        instance(
            ctx, "sqlite", sweep.fixture_key(participants), sweep.fixture(participants)
        ) as url,
        mail_folder(ctx, memory_disk()) as mail,
    ):
        make_due(url, "day_reminder", 1, participants)
        # Linux carries the peak RSS of the process that execs over to the new program, so
        # the sweep is started by a small shell that forks it, not by this large process.
        _, done = run_process(
            [
                "/bin/sh",
                "-c",
                '"$@"; exit $?',
                "sh",
                sys.executable,
                "-m",
                "tests.benchmarks.memory",
                url,
                str(mail),
            ],
            None,
        )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        sent = count(url, "SELECT count(*) FROM outbox WHERE status = 'sent'")
        files = len(list(mail.glob("*.eml")))
    if sent != participants or files != participants:
        raise AssertionError(f"{sent} sent rows and {files} files, expected {participants}")
    report = ctx.report
    where = "tmpfs" if memory_disk() else "disk"
    report.add(NAME, "sqlite", "floor: engine imported, database open", figures["before_mb"], "MB")
    report.add(
        NAME,
        "sqlite",
        f"peak RSS, sweep of {participants:,} due messages",
        figures["peak_mb"],
        "MB",
        target=f"< {TARGET_MB:g} MB",
        met=figures["peak_mb"] < TARGET_MB,
        note=f"VmHWM {figures['hwm_mb']:.0f} MB",
    )
    report.add(NAME, "sqlite", "peak / floor", figures["peak_mb"] / figures["before_mb"], "x")
    report.add(
        NAME,
        "sqlite",
        f"that sweep's duration (.eml on {where})",
        figures["seconds"],
        "s",
        note=f"{participants / figures['seconds']:.0f} msg/s",
    )


def _peak_mb() -> float:
    # Linux reports kilobytes
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc (a cross-check of ``ru_maxrss``)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def child(url: str, mail: str) -> None:
    """Run one sweep and print its peak memory as JSON (the last line of output)."""
    from notifications.delivery import EmlChannel
    from workflow.clock import FixedClock
    from workflow.db import Database
    from workflow.engine import Workflow

    database = Database(url)
    database.check_schema()
    workflow = Workflow(database, clock=FixedClock(local(sweep.NOW_LOCAL)), actor="bench")
    before = _peak_mb()
    started = time.perf_counter()
    report = workflow.remind(channel=EmlChannel(Path(mail)))
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "before_mb": before,
                "peak_mb": _peak_mb(),
                "hwm_mb": _status_mb("VmHWM"),
                "seconds": seconds,
                "queued": report.count("queued"),
                "delivered": report.delivered,
            }
        )
    )


if __name__ == "__main__":
    child(*sys.argv[1:3])
