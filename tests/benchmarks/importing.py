"""Benchmark 3, import: ``lps participant import CODE FILE`` with a 10,000-row CSV.

Timed as a subprocess (what an administrator waits for; the median of three runs after a
dry run that compiles the bytecode) and in process. All-or-nothing is
checked at the same size: the same file with one bad email on its last line is refused
(exit 1) and leaves the cohort empty. Floor: the very rows the import wrote (participants,
audit entries, deadlines, the calendars, outbox), copied into an empty database with plain SQL
through the driver in one transaction (``executemany``).
"""

from __future__ import annotations

import csv
import sqlite3
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.benchmarks.common import (
    Context,
    count,
    cpu_timed,
    instance,
    load,
    lps_command,
    lps_env,
    profiled,
    run_process,
    say,
    sqlite_path,
    timed,
)
from tests.benchmarks.fixtures import DAYS, MUNICIPALITIES, local

NAME = "import"
NOW_LOCAL = datetime(2027, 1, 4, 10, 0)
TARGET = 3.0
CLI_RUNS = 3
HEADER = ("name", "email", "municipality", "workplace", "manager_name", "manager_email", "language")
TABLES = ("participants", "audit_entries", "deadlines", "attachments", "outbox")


def run(ctx: Context) -> None:
    rows = ctx.scale.n(10_000)
    say(f"\n## Import: a {rows:,}-row CSV ({load()})")
    _, probe = run_process([*lps_command(), "participant", "import", "--help"], None, check=False)
    if probe.returncode != 0:
        say(
            "  skipped: `lps participant import` is not available in this tree "
            f"({(probe.stderr or probe.stdout).strip().splitlines()[-1]})"
        )
        ctx.report.add(NAME, "sqlite", "skipped: lps participant import missing", 0, "-")
        return
    good = ctx.workdir / "participants.csv"
    bad = ctx.workdir / "participants-bad.csv"
    write_csv(good, rows)
    write_csv(bad, rows, broken_last=True)
    env_now = NOW_LOCAL.isoformat(timespec="minutes")
    command = [*lps_command(), "--actor", "bench", "participant", "import"]
    with instance(ctx, "sqlite", "import-cohorts", cohorts) as url:
        # A dry run first, so the timed runs read compiled bytecode as an installed lps does.
        run_process([*command, "K1", str(good), "--dry-run"], lps_env(url, env_now))
    runs = []
    for _ in range(CLI_RUNS - 1):
        with instance(ctx, "sqlite", "import-cohorts", cohorts) as url:
            runs.append(run_process([*command, "K1", str(good)], lps_env(url, env_now))[0])
    with instance(ctx, "sqlite", "import-cohorts", cohorts) as url:
        last_s, done = run_process(
            [*command, "K1", str(good)], lps_env(url, env_now, ctx.folder("mail"))
        )
        cli_s = statistics.median([*runs, last_s])
        enrolled = count(url, "SELECT count(*) FROM participants")
        if enrolled != rows:
            raise AssertionError(f"{enrolled} participants after the import, expected {rows}")
        say(f"  {done.stdout.strip()}; runs: {', '.join(f'{t:.2f}s' for t in [*runs, last_s])}")
        bad_s, refused = run_process(
            [*lps_command(), "--actor", "bench", "participant", "import", "K2", str(bad)],
            lps_env(url, env_now, ctx.folder("mail")),
            check=False,
        )
        left = count(
            url,
            "SELECT count(*) FROM participants p JOIN cohorts c ON c.id = p.cohort_id "
            "WHERE c.code = 'K2'",
        )
        first_error = (refused.stderr.strip().splitlines() or ["(no message)"])[0]
        if refused.returncode != 1 or left != 0:
            raise AssertionError(
                f"bad file: exit {refused.returncode}, {left} participants written: {first_error}"
            )
        written = {table: _rows(url, table) for table in TABLES}
    with instance(ctx, "sqlite", "import-cohorts", cohorts) as url:
        in_process_s, in_process_cpu = _in_process(url, good, rows)
    if ctx.profile:
        with (
            instance(ctx, "sqlite", "import-cohorts", cohorts) as url,
            profiled(ctx, "import, in process (sqlite)"),
        ):
            _in_process(url, good, rows)
    with instance(ctx, "sqlite", "import-cohorts", cohorts) as url:
        floor_s = _floor(url, written)
    report = ctx.report
    report.add(
        NAME,
        "sqlite",
        f"CLI: lps participant import ({rows:,} rows, median of {CLI_RUNS})",
        cli_s,
        "s",
        target=f"< {TARGET * rows / 10_000:g} s",
        met=cli_s < TARGET * rows / 10_000,
        note=f"{sum(len(rows) for _, rows in written.values()):,} rows written",
    )
    report.add(
        NAME,
        "sqlite",
        "in process: import_participants",
        in_process_s,
        "s",
        note=f"cpu {in_process_cpu:.2f}s",
    )
    report.add(NAME, "sqlite", "rows imported per second (CLI)", rows / cli_s, "rows/s")
    report.add(
        NAME,
        "sqlite",
        "refused file (bad email on last line), exit 1, 0 written",
        bad_s,
        "s",
        note=first_error[:70],
    )
    report.add(NAME, "sqlite", "floor: the same rows, plain SQL executemany", floor_s, "s")
    report.add(NAME, "sqlite", "CLI / floor", cli_s / floor_s, "x")
    report.add(NAME, "sqlite", "in process / floor", in_process_s / floor_s, "x")


def write_csv(path: Path, rows: int, *, broken_last: bool = False) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(1, rows + 1):
            email = f"deltager{i}@kommune.dk"
            if broken_last and i == rows:
                email = "deltager-uden-snabel-a.kommune.dk"
            writer.writerow(
                (
                    f"Deltager Ærø {i}",
                    email,
                    MUNICIPALITIES[i % len(MUNICIPALITIES)],
                    "Borgerservice",
                    f"Leder Kjær {i}",
                    f"leder{i}@kommune.dk",
                    "en" if i % 10 == 0 else "da",
                )
            )


def cohorts(url: str) -> None:
    """Two empty cohorts whose day 1 lies ahead of the clock."""
    from workflow.clock import FixedClock
    from workflow.db import Database
    from workflow.engine import Workflow

    database = Database(url)
    workflow = Workflow(database, clock=FixedClock(local(NOW_LOCAL)), actor="bench")
    for code in ("K1", "K2"):
        workflow.create_cohort(
            code,
            name=f"Leder på spring, hold {code}",
            days=list(DAYS),
            venue="Odense Rådhus",
            admin_email="kursus@kommune.dk",
            jti_link="https://jti.example/q",
            allow_holiday=True,
        )
    database.dispose()


def _in_process(url: str, path: Path, rows: int) -> tuple[float, float]:
    from workflow.clock import FixedClock
    from workflow.db import Database
    from workflow.engine import Workflow

    database = Database(url)
    database.check_schema()
    workflow = Workflow(database, clock=FixedClock(local(NOW_LOCAL)), actor="bench")
    seconds, cpu, result = cpu_timed(lambda: workflow.import_participants("K1", path))
    database.dispose()
    if result.count != rows:
        raise AssertionError(f"imported {result.count}, expected {rows}")
    return seconds, cpu


def _rows(url: str, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    conn = sqlite3.connect(sqlite_path(url))
    try:
        cursor = conn.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cursor.description]
        return names, cursor.fetchall()
    finally:
        conn.close()


def _floor(url: str, written: dict[str, tuple[list[str], list[tuple[Any, ...]]]]) -> float:
    """Insert the rows, as stored, on a connection set up exactly as the engine's."""
    from workflow.db import Database

    database = Database(url)
    raw = database.engine.raw_connection()

    def work() -> None:
        cursor = raw.cursor()
        cursor.execute("BEGIN")
        for table in TABLES:
            names, rows = written[table]
            marks = ", ".join("?" for _ in names)
            cursor.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", rows)
        cursor.execute("COMMIT")
        cursor.close()

    seconds, _ = timed(work)
    raw.close()
    database.dispose()
    return seconds
