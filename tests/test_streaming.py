"""Large imports and listings are read and written as streams: the output is what it was when
everything was held at once, an import stays all or nothing across its chunks, and the memory
they take does not grow with the file or the listing."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import START, Cli, enrol, make_cohort
from procs import lps_command, lps_env
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from workflow import engine, importer
from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import StepRequest, Workflow
from workflow.errors import ImportRejected
from workflow.kernel import insert_participant
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
    # Files longer than this are not kept whole (a shorter one is, to be read once).
    monkeypatch.setattr(importer, "KEPT_ROWS", 100)
    wf.import_participants("H0", csv_file(25, first=10_000))  # imports and caches warmed up

    small = traced_peak(lambda: wf.import_participants("H1", csv_file(150)))
    large = traced_peak(lambda: wf.import_participants("H2", csv_file(600, first=1000)))

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
        report = wf.import_participants("H1", data, name="hold.csv").as_json()
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
        "line 3, column e-mail: is not a valid email address: 'nej' has no @",
        "line 1502, column e-mail: deltager1@kommune.dk is also on line 2",
        "line 2501, column e-mail: is not a valid email address: 'x@' has nothing after the @",
        "3 problem(s) in the file; nothing was imported",
    ]
    for dry_run in (True, False):
        with pytest.raises(ImportRejected) as caught:
            wf.import_participants("H1", data, dry_run=dry_run)
        assert caught.value.lines() == expected
    assert counts(wf.db) == {"participants": 0, "audit_entries": 0, "deadlines": 0, "outbox": 0}


def test_an_import_failing_in_its_last_chunk_writes_nothing(
    wf: Workflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_cohort(wf)
    enrol(wf, "already@example.dk")
    before = counts(wf.db)
    checked = importer._checked

    def enrolled_meanwhile(
        conn: Connection, table: Any, cohort: Any, today: Any, *, keep: int
    ) -> Any:
        found = checked(conn, table, cohort, today, keep=keep)
        insert_participant(
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
        wf.import_participants("H1", csv_file(2000))
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


# -- participant list --json ------------------------------------------------------------------


def as_printed(items: list[Any]) -> str:
    """What ``--json`` printed when it dumped the whole list at once."""

    def iso(value: Any) -> str:
        if isinstance(value, datetime | date):
            return value.isoformat()
        raise TypeError(type(value).__name__)

    return json.dumps(items, ensure_ascii=False, indent=2, default=iso) + "\n"


def varied_cohorts(wf: Workflow, clock: FixedClock) -> None:
    """Two cohorts: 120 imported participants, and a few walked along the programme by hand
    (goals, a host, a waiver, a withdrawal), with quotes and newlines in what they typed."""
    make_cohort(wf, "H1")
    make_cohort(wf, "H2", jti_link="https://jti.example/h2")
    wf.import_participants("H1", csv_file(120))
    first = enrol(wf, "a@example.dk", "H2", name='Anne "AB" Berg', workplace="Ældrepleje")
    second = enrol(wf, "b@example.dk", "H2", language="en")
    third = enrol(wf, "c@example.dk", "H2")
    wf.advance(
        first,
        StepRequest("hold_manager_conversation", goals=("Tydelighed\ni møder", "Autoritet")),
    )
    wf.set_host(
        first, name="Hanne Vært", email="hanne@odense.dk", role="leader", municipality="Odense"
    )
    wf.waive(second, "career_visit", "Aftalt med leder")
    wf.advance(third, StepRequest("withdraw", reason="Nyt job"))
    clock.set(datetime(2027, 2, 20, 10, 0))  # the manager conversation is now overdue


FILTERS = (
    (),
    ("--cohort", "H2"),
    ("--state", "enrolled"),
    ("--state", "withdrawn"),
    ("--overdue",),
    ("--state", "completed"),
)


def test_participant_list_json_prints_what_the_whole_list_printed(
    lps: Cli, wf: Workflow, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    varied_cohorts(wf, clock)
    lps.now = "2027-02-20T10:00"
    monkeypatch.setattr(engine, "_LISTING_BATCH", 7)  # many batches, whatever the backend

    for filters in FILTERS:
        result = lps("participant", "list", "--json", *filters)

        assert result.exit_code == 0, (filters, result.output)
        listed = json.loads(result.stdout)
        options = dict(zip(filters[::2], filters[1::2], strict=False))
        expected = wf.participants(
            cohort=options.get("--cohort"),
            state=options.get("--state"),
            overdue="--overdue" in filters,
        )
        assert result.stdout == as_printed([view.as_json() for view in expected]), filters
        # Each entry is the participant as `participant show` has them, but for the next due
        # reminder, which the listing does not look up.
        assert listed == [{**wf.participant(p["id"]).as_json(), "next_due": None} for p in listed]
        assert len(listed) == {(): 123, ("--cohort", "H2"): 3, ("--state", "withdrawn"): 1}.get(
            filters, len(listed)
        )
    everyone = lps("participant", "list", "--json").stdout
    assert len(everyone) > 2 * 65536  # printed in several pieces
    overdue = json.loads(lps("participant", "list", "--overdue", "--json").stdout)
    assert len(overdue) == 121 and overdue[0]["overdue"] == ["manager_conversation"]
    assert lps("participant", "list", "--state", "completed", "--json").stdout == "[]\n"


def test_participant_list_json_over_an_unknown_cohort_prints_no_json(lps: Cli) -> None:
    result = lps("participant", "list", "--cohort", "NOPE", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "Error: no cohort with code 'NOPE'; see `lps cohort list`\n"


@contextlib.contextmanager
def stdout_to(path: Path) -> Iterator[None]:
    with path.open("w", encoding="utf-8") as handle, contextlib.redirect_stdout(handle):
        yield


def test_participant_list_json_holds_a_batch_not_the_listing(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.main import cli

    database = Database(sqlite_url)
    upgrade(database)
    wf = Workflow(database, clock=FixedClock(START), actor="tester")
    make_cohort(wf, "H1")
    make_cohort(wf, "H2")
    wf.import_participants("H1", csv_file(150))
    wf.import_participants("H2", csv_file(600, first=1000))
    monkeypatch.setenv("LPS_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("LPS_NOW", START.isoformat())
    monkeypatch.setattr(engine, "_LISTING_BATCH", 25)
    output = tmp_path / "listing.json"

    def listing(code: str) -> Callable[[], None]:
        def run() -> None:
            with stdout_to(output):
                cli.main(["participant", "list", "--cohort", code, "--json"], standalone_mode=False)

        return run

    listing("H1")()  # imports and caches warmed up
    small = traced_peak(listing("H1"))
    large = traced_peak(listing("H2"))

    assert len(json.loads(output.read_text(encoding="utf-8"))) == 600
    assert large < 1.5 * small, f"150 participants: {small:,} bytes; 600: {large:,} bytes"
    database.dispose()
