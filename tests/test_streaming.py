"""Large imports are read and written as streams: an import stays all or nothing across its
chunks, writes what it wrote when everything was held at once, and the memory it takes does
not grow with the file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import START, enrol, make_cohort
from procs import lps_command, lps_env
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from workflow import importer
from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import Workflow, _insert_participant
from workflow.errors import ImportRejected
from workflow.importer import import_participants
from workflow.migrate import upgrade
from workflow.records import AUDIT, DEADLINES, OUTBOX, PARTICIPANTS

HEADER = "navn;e-mail;kommune;arbejdsplads;nærmeste leder;leders e-mail;sprog"
TABLES = (PARTICIPANTS, AUDIT, DEADLINES, OUTBOX)


def csv_file(rows: int, *, first: int = 1, bad: dict[int, str] | None = None) -> bytes:
    """A semicolon file of ``rows`` participants; ``bad`` replaces the email on some lines."""
    lines = [HEADER]
    for i in range(first, first + rows):
        email = (bad or {}).get(len(lines) + 1, f"deltager{i}@kommune.dk")
        language = "en" if i % 7 == 0 else "da"
        workplace = "" if i % 5 == 0 else "Borgerservice"
        lines.append(
            f"Deltager Ærø {i};{email};Odense;{workplace};Leder Kjær {i};leder{i}@kommune.dk;"
            f"{language}"
        )
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def counts(database: Database) -> dict[str, int]:
    with database.reading() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in TABLES
        }


def traced_peak(action: Callable[[], Any]) -> int:
    """The most memory Python held at once while ``action`` ran, in bytes."""
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- participant import -----------------------------------------------------------------------


def test_an_import_holds_a_chunk_not_the_file(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database(sqlite_url)
    upgrade(database)
    wf = Workflow(database, clock=FixedClock(START), actor="tester")
    for code in ("H0", "H1", "H2"):
        make_cohort(wf, code)
    monkeypatch.setattr(importer, "CHUNK", 25)
    import_participants(wf, "H0", csv_file(25, first=10_000))  # imports and caches warmed up

    small = traced_peak(lambda: import_participants(wf, "H1", csv_file(150)))
    large = traced_peak(lambda: import_participants(wf, "H2", csv_file(600, first=1000)))

    assert counts(database)["participants"] == 775
    assert large < 1.5 * small, f"150 rows: {small:,} bytes; 600 rows: {large:,} bytes"
    database.dispose()


def test_a_chunked_import_writes_what_one_batch_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = csv_file(1234)

    def imported(name: str, chunk: int) -> tuple[dict[str, Any], dict[str, list[tuple[Any, ...]]]]:
        monkeypatch.setattr(importer, "CHUNK", chunk)
        database = Database(f"sqlite:///{tmp_path / name}")
        upgrade(database)
        wf = Workflow(database, clock=FixedClock(START), actor="tester")
        make_cohort(wf, "H1")
        enrol(wf, "already@example.dk")
        report = import_participants(wf, "H1", data, name="hold.csv").as_json()
        with database.reading() as conn:
            written = {
                table.name: [tuple(row) for row in conn.execute(select(table).order_by(table.c.id))]
                for table in TABLES
            }
        database.dispose()
        return report, written

    one_batch = imported("one-batch.db", 10**9)
    chunked = imported("chunked.db", 100)  # twelve chunks and a part

    assert chunked == one_batch
    report, written = chunked
    assert report["count"] == 1234 and report["messages"] == 2 * 1234
    assert [p["id"] for p in report["participants"]] == list(range(2, 1236))
    assert report["participants"][-1]["line"] == 1235
    assert len(written["participants"]) == 1235 and len(written["outbox"]) == 2 * 1235


def test_every_bad_cell_of_a_large_file_is_reported_and_nothing_written(wf: Workflow) -> None:
    make_cohort(wf)
    data = csv_file(2500, bad={3: "nej", 1502: "Deltager1@Kommune.dk", 2501: "x@"})
    expected = [
        "line 3, column e-mail: 'nej' is not a valid email address",
        "line 1502, column e-mail: deltager1@kommune.dk is also on line 2",
        "line 2501, column e-mail: 'x@' is not a valid email address",
        "3 problem(s) in the file; nothing was imported",
    ]
    for dry_run in (True, False):
        with pytest.raises(ImportRejected) as caught:
            import_participants(wf, "H1", data, dry_run)
        assert caught.value.lines() == expected
    assert counts(wf.db) == {"participants": 0, "audit_entries": 0, "deadlines": 0, "outbox": 0}


def test_an_import_failing_in_its_last_chunk_writes_nothing(
    wf: Workflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_cohort(wf)
    enrol(wf, "already@example.dk")
    before = counts(wf.db)
    checked = importer._checked

    def enrolled_meanwhile(conn: Connection, table: Any, cohort: Any, today: Any) -> Any:
        found = checked(conn, table, cohort, today)
        _insert_participant(
            conn,
            cohort,
            wf.now(),
            name="Deltager Ærø 1990",
            email="deltager1990@kommune.dk",
            municipality="Odense",
            workplace=None,
            language="da",
            manager_name="Leder Kjær",
            manager_email="leder@kommune.dk",
            jti_link=None,
        )
        return found

    monkeypatch.setattr(importer, "_checked", enrolled_meanwhile)
    with pytest.raises(ImportRejected) as caught:
        import_participants(wf, "H1", csv_file(2000))
    assert caught.value.lines()[0].startswith("someone enrolled a participant in cohort H1")
    assert counts(wf.db) == before


def _part_written(url: str) -> Callable[[], bool]:
    """Whether an import has written part of its file, in a transaction not yet committed."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        wal = Path(f"{path}-wal")

        def in_sqlite() -> bool:
            # The rows written so far overflow the page cache into the write-ahead log.
            if not wal.exists() or wal.stat().st_size < 4_000_000:
                return False
            conn = sqlite3.connect(path)
            try:
                return conn.execute("SELECT count(*) FROM participants").fetchone()[0] == 0
            finally:
                conn.close()

        return in_sqlite
    import psycopg

    def in_postgres() -> bool:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT pg_total_relation_size('outbox'), (SELECT count(*) FROM participants)"
            ).fetchone()
        assert row is not None
        return bool(row[0] > 2_000_000 and row[1] == 0)

    return in_postgres


def test_an_import_killed_in_the_middle_leaves_nothing(
    db_url: str, database: Database, tmp_path: Path
) -> None:
    wf = Workflow(database, clock=FixedClock(START), actor="tester")
    make_cohort(wf)
    path = tmp_path / "hold.csv"
    path.write_bytes(csv_file(4000))
    env = lps_env(db_url, START.isoformat(), {"LPS_MAIL_DIR": str(tmp_path / "mail")})
    proc = subprocess.Popen(
        lps_command("participant", "import", "H1", str(path)),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    part_written = _part_written(db_url)
    deadline = time.monotonic() + 60
    try:
        while not part_written():
            assert proc.poll() is None, f"the import ended first: {proc.communicate()}"
            assert time.monotonic() < deadline, "the import never started writing"
            time.sleep(0.02)  # another process's progress: nothing to move but the wall clock
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    assert counts(database) == {
        "participants": 0,
        "audit_entries": 0,
        "deadlines": 0,
        "outbox": 0,
    }
    again = subprocess.run(
        lps_command("participant", "import", "H1", str(path), "--dry-run"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.endswith(
        "Dry run: 4000 participant(s) would be enrolled in H1 "
        "(semicolon-separated); nothing was written.\n"
    )
