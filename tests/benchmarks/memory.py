"""Benchmark 6, memory: peak RSS (``ru_maxrss``) of three large jobs, each in a process of
its own, on SQLite.

- A sweep that renders, queues and delivers 100,000 due messages. Floor: the same process's
  peak just before the sweep, with the engine imported and the database opened. The ``.eml``
  files go to a memory-backed folder when there is one (their pages are not the process's), so
  that the run is not dominated by fsync.
- ``lps participant import`` of a 100,000-row CSV, and ``lps participant list --json`` over
  100,000 participants. Floor: the same command on one row or one participant, which loads
  the same modules; ``lps --help`` is shown for scale. Each command is forked by a small
  interpreter that reads the child's own peak from ``wait4``.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from tests.benchmarks import sweep
from tests.benchmarks.common import (
    Context,
    count,
    instance,
    load,
    lps_command,
    lps_env,
    mail_folder,
    memory_disk,
    run_process,
    say,
)
from tests.benchmarks.fixtures import local, make_due

NAME = "memory"
TARGET_MB = 250.0
COMMAND_TARGET_MB = 300.0


def run(ctx: Context) -> None:
    sweep_peak(ctx)
    import_peak(ctx)
    list_peak(ctx)


def sweep_peak(ctx: Context) -> None:
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


# Forks the command with its output to a file and prints the child's own peak RSS: ``wait4``
# reports that child alone, and a child forked by this small interpreter starts small (a
# child of the large benchmark process would inherit its peak through exec).
_PEAK_OF = """
import json, os, sys, time
out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(out, 1)
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
print(json.dumps({"peak_mb": usage.ru_maxrss / 1024, "exit": os.waitstatus_to_exitcode(status),
                  "seconds": time.perf_counter() - started}))
"""


def command_peak(argv: list[str], env: dict[str, str], output: Path) -> dict[str, Any]:
    """Run ``argv`` to completion, its standard output to ``output``; returns its peak RSS
    (``peak_mb``), exit code and wall seconds."""
    _, done = run_process([sys.executable, "-c", _PEAK_OF, str(output), *argv], env)
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["exit"] != 0:
        raise RuntimeError(f"{' '.join(argv[-4:])} exited {figures['exit']}: {done.stderr[-2000:]}")
    return figures


def _help_peak(ctx: Context) -> float:
    return float(
        command_peak([*lps_command(), "--help"], lps_env(), ctx.workdir / "help.txt")["peak_mb"]
    )


def import_peak(ctx: Context) -> None:
    """Peak RSS of ``lps participant import`` of a 100,000-row CSV, next to one row."""
    from tests.benchmarks import importing

    rows = ctx.scale.n(100_000)
    say(f"\n## Memory: peak RSS of importing a {rows:,}-row CSV ({load()})")
    big = ctx.workdir / "memory-participants.csv"
    one = ctx.workdir / "memory-one.csv"
    importing.write_csv(big, rows)
    importing.write_csv(one, 1)
    now = importing.NOW_LOCAL.isoformat(timespec="minutes")
    command = [*lps_command(), "--actor", "bench", "participant", "import", "K1"]
    peaks = {}
    for label, path in (("floor", one), ("peak", big)):
        with (
            instance(ctx, "sqlite", "import-cohorts", importing.cohorts) as url,
            mail_folder(ctx, memory_disk()) as mail,
        ):
            peaks[label] = command_peak(
                [*command, str(path)], lps_env(url, now, mail), ctx.workdir / "import.txt"
            )
            enrolled = count(url, "SELECT count(*) FROM participants")
            queued = count(url, "SELECT count(*) FROM outbox")
        expected = 1 if label == "floor" else rows
        if enrolled != expected or queued != 2 * expected:
            raise AssertionError(f"{enrolled} participants, {queued} mails after the import")
    _report_command(
        ctx,
        f"lps participant import, {rows:,} rows",
        "the same import, 1 row",
        peaks,
        _help_peak(ctx),
    )


def list_peak(ctx: Context) -> None:
    """Peak RSS of ``lps participant list --json`` over 100,000 participants, next to one."""
    participants = ctx.scale.n(100_000)
    say(
        f"\n## Memory: peak RSS of participant list --json over {participants:,} participants "
        f"({load()})"
    )
    command = [*lps_command(), "participant", "list", "--json"]
    now = sweep.NOW_LOCAL.isoformat(timespec="minutes")
    peaks = {}
    for label, size in (("floor", 1), ("peak", participants)):
        output = ctx.workdir / f"list-{label}.json"
        with instance(ctx, "sqlite", sweep.fixture_key(size), sweep.fixture(size)) as url:
            peaks[label] = command_peak(command, lps_env(url, now), output)
        with output.open(encoding="utf-8") as handle:
            listed = len(json.load(handle))
        output.unlink()
        if listed != size:
            raise AssertionError(f"{listed} participants listed, expected {size}")
    _report_command(
        ctx,
        f"participant list --json, {participants:,} participants",
        "the same listing, 1 participant",
        peaks,
        _help_peak(ctx),
    )


def _report_command(
    ctx: Context, label: str, floor_label: str, peaks: dict[str, Any], help_mb: float
) -> None:
    report = ctx.report
    floor, peak = peaks["floor"]["peak_mb"], peaks["peak"]["peak_mb"]
    report.add(
        NAME, "sqlite", f"floor: {floor_label}", floor, "MB", note=f"lps --help {help_mb:.0f} MB"
    )
    report.add(
        NAME,
        "sqlite",
        f"peak RSS, {label}",
        peak,
        "MB",
        target=f"< {COMMAND_TARGET_MB:g} MB",
        met=peak < COMMAND_TARGET_MB,
        note=f"{peaks['peak']['seconds']:.1f} s",
    )
    report.add(NAME, "sqlite", "peak / floor", peak / floor, "x")


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
