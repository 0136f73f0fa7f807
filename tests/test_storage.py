from __future__ import annotations

# A SQLite file that someone else is writing to, or that cannot be written at all: the
# commands say which, in one line, and the read commands keep working on a read-only file.
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import START, enrol, make_cohort
from helpers import one_line

from cli.main import cli
from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import StepRequest, Workflow
from workflow.migrate import upgrade


@dataclass
class SqliteFile:
    """A SQLite database made by ``lps init``, with a cohort and one participant."""

    path: Path

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def lps(self, *args: str, url: str | None = None) -> Result:
        env = {
            "LPS_NOW": START.isoformat(),
            "LPS_MAIL_DIR": str(self.path.parent.parent / "mail"),
            "LPS_SMTP_URL": None,
            "LPS_DATABASE_URL": None,
        }
        return CliRunner().invoke(
            cli, ["--db", url or self.url, "--actor", "tester", *args], env=env
        )


@pytest.fixture
def sqlite_file(tmp_path: Path) -> SqliteFile:
    path = tmp_path / "data" / "lps.db"
    path.parent.mkdir()
    database = Database(f"sqlite:///{path}")
    upgrade(database)
    wf = Workflow(database, clock=FixedClock(START), actor="tester")
    make_cohort(wf)
    enrol(wf)
    wf.advance(1, StepRequest("hold_manager_conversation", goals=("Mod",)))
    database.dispose()
    # The last connection closed: SQLite folded its write-ahead log into the file.
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-shm").exists()
    return SqliteFile(path)


# -- another process holds the write lock ---------------------------------------------------


def test_a_locked_database_is_reported_as_busy_naming_the_file(sqlite_file: SqliteFile) -> None:
    holder = sqlite3.connect(sqlite_file.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        quick = f"{sqlite_file.url}?timeout=0.2"
        busy = (
            f"Error: database {sqlite_file.path} is busy: another lps process (or another "
            "program) holds its write lock; nothing was changed: try again when it has finished"
        )
        for command in (
            ("advance", "1", "withdraw", "--reason", "Nyt job"),
            ("advance", "--cohort", "H1", "withdraw", "--reason", "Nyt job"),
            ("remind",),
        ):
            assert one_line(sqlite_file.lps(*command, url=quick), 1) == busy, command
        # Readers are not held up by a writer.
        shown = sqlite_file.lps("participant", "show", "1", "--json", url=quick)
        assert shown.exit_code == 0, shown.output
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    done = sqlite_file.lps("advance", "1", "withdraw", "--reason", "Nyt job")
    assert done.exit_code == 0, done.output


def test_a_bad_timeout_in_the_url_is_one_line(sqlite_file: SqliteFile) -> None:
    result = sqlite_file.lps("cohort", "list", url=f"{sqlite_file.url}?timeout=soon")
    assert one_line(result, 1) == (
        "Error: the timeout in the database URL must be a number of seconds, got 'soon'"
    )


# -- a file, or a folder, that cannot be written --------------------------------------------


def _run(*command: str) -> bool:
    if shutil.which(command[0]) is None:
        return False
    return subprocess.run(command, capture_output=True).returncode == 0


@pytest.fixture(params=["folder", "file"])
def read_only(request: pytest.FixtureRequest, sqlite_file: SqliteFile) -> Iterator[SqliteFile]:
    """The database with its folder, or only its file, made read-only for this process: by
    permissions, or for root (whom permissions do not stop) by a read-only mount of the
    folder or the immutable attribute of the file."""
    folder, path = sqlite_file.path.parent, sqlite_file.path
    root = os.geteuid() == 0
    if request.param == "folder":
        if root:
            if not _run("mount", "--bind", "-o", "ro", str(folder), str(folder)):
                pytest.skip("cannot mount a read-only folder here")
            undo = ["umount", "--lazy", str(folder)]  # the in-process CLI may hold it open
        else:
            folder.chmod(0o555)
            undo = ["chmod", "755", str(folder)]
    else:
        if root:
            if not _run("chattr", "+i", str(path)):
                pytest.skip("cannot make a file immutable here")
            undo = ["chattr", "-i", str(path)]
        else:
            path.chmod(0o444)
            undo = ["chmod", "644", str(path)]
    try:
        assert not os.access(path, os.W_OK) or not os.access(folder, os.W_OK)
        yield sqlite_file
    finally:
        subprocess.run(undo, check=True)


@pytest.mark.parametrize(
    "command",
    [
        ("participant", "show", "1"),
        ("participant", "list"),
        ("history", "1"),
        ("report", "H1"),
        ("report", "H1", "--format", "csv"),
        ("audit", "verify"),
        ("cohort", "list"),
        ("cohort", "show", "H1"),
        ("triggers", "1"),
    ],
)
def test_read_commands_work_on_a_read_only_database(
    read_only: SqliteFile, command: tuple[str, ...]
) -> None:
    result = read_only.lps(*command)
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.stderr == ""


@pytest.mark.parametrize(
    "command",
    [
        ("advance", "1", "withdraw", "--reason", "Nyt job"),
        ("advance", "--cohort", "H1", "withdraw", "--reason", "Nyt job"),
        ("waive", "1", "jti", "--reason", "Fritaget"),
        (
            "cohort",
            "create",
            "H2",
            "--name",
            "Hold 2",
            "--days",
            "2027-05-31,2027-06-14,2027-06-28,2027-07-12,2027-07-26",
        ),
        ("remind",),
    ],
)
def test_a_write_on_a_read_only_database_says_so_in_one_line(
    read_only: SqliteFile, command: tuple[str, ...]
) -> None:
    assert one_line(read_only.lps(*command), 1) == (
        f"Error: database {read_only.path} is read-only (its file or its folder cannot be "
        "written), so nothing was changed; commands that only read it still work"
    )
    state = read_only.lps("participant", "show", "1", "--json")
    assert '"state": "manager_conversation_held"' in state.stdout
