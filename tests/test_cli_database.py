from __future__ import annotations

# The ``lps`` command and its database, on SQLite and PostgreSQL: output, exit codes and
# one ``Error:`` line per broken rule.
import json
import sqlite3
from pathlib import Path

import pytest
from cli_helpers import DAYS_ARG, add_cohort
from conftest import Cli
from helpers import ok

from workflow.migrate import head_revision

# -- the database ------------------------------------------------------------------------------


def test_init_twice_is_fine(lps: Cli) -> None:
    for _ in range(2):
        result = ok(lps, "init")
        assert result.stdout.startswith("Database ")
        assert result.stdout.endswith(f" is at schema revision {head_revision()}.\n")
    add_cohort(lps)
    ok(lps, "init")
    assert [c["code"] for c in json.loads(ok(lps, "cohort", "list", "--json").stdout)] == ["H1"]


NEEDS_DATABASE = [
    ("cohort", "list"),
    ("cohort", "show", "H1"),
    ("cohort", "create", "H1", "--name", "Hold 1", "--days", DAYS_ARG, "--allow-holiday"),
    ("cohort", "reschedule", "H1", "--day", "1", "2027-03-02"),
    (
        "participant",
        "add",
        "H1",
        "--name",
        "Søren",
        "--email",
        "soren@example.dk",
        "--municipality",
        "Odense",
        "--manager-name",
        "Mette",
        "--manager-email",
        "mette@example.dk",
    ),
    ("participant", "list"),
    ("participant", "show", "1"),
    (
        "host",
        "set",
        "1",
        "--name",
        "Hanne",
        "--email",
        "hanne@example.dk",
        "--role",
        "leader",
        "--municipality",
        "Odense",
    ),
    ("advance", "1", "register-day"),
    ("advance", "--cohort", "H1", "invite-jti"),
    ("waive", "1", "jti", "--reason", "x"),
    ("triggers", "1"),
    ("history", "1"),
]


@pytest.mark.parametrize("args", NEEDS_DATABASE, ids=lambda a: "-".join(a[:2]))
def test_commands_refuse_a_database_that_does_not_exist(tmp_path: Path, args: tuple[str]) -> None:
    path = tmp_path / "missing" / "lps.db"
    result = Cli(f"sqlite:///{path}")(*args)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: database {path} does not exist; run `lps init` to create or upgrade it\n"
    )
    assert result.stdout == ""
    assert not path.exists()


@pytest.mark.parametrize("args", NEEDS_DATABASE, ids=lambda a: "-".join(a[:2]))
def test_commands_refuse_a_database_without_the_schema(tmp_path: Path, args: tuple[str]) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()
    result = Cli(f"sqlite:///{path}")(*args)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: database sqlite:///{path} has no lps schema; "
        "run `lps init` to create or upgrade it\n"
    )


def test_an_empty_postgresql_schema_is_refused_until_init(postgres_url: str) -> None:
    lps = Cli(postgres_url)
    result = lps("cohort", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: database postgresql")
    assert result.stderr.endswith(" has no lps schema; run `lps init` to create or upgrade it\n")
    assert "Error:" not in ok(lps, "init").output
    assert ok(lps, "cohort", "list", "--json").stdout == "[]\n"


def test_init_then_the_commands_work(tmp_path: Path) -> None:
    lps = Cli(f"sqlite:///{tmp_path / 'new' / 'lps.db'}")
    assert lps("cohort", "list").exit_code == 1
    ok(lps, "init")
    assert ok(lps, "cohort", "list", "--json").stdout == "[]\n"
