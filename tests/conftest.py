"""Shared fixtures: a real database (SQLite, and PostgreSQL where one is reachable), a clock
the test moves, and the CLI run in-process."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from smtp_server import SmtpSink

from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import Workflow
from workflow.migrate import upgrade
from workflow.settings import Settings

POSTGRES_URL = os.environ.get("LPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
_postgres_state: dict[str, str | None] = {}

# A cohort whose days are all Mondays, with day 1 well after the default clock.
DAYS = (
    date(2027, 3, 1),
    date(2027, 3, 15),
    date(2027, 3, 29),
    date(2027, 4, 12),
    date(2027, 4, 26),
)
START = datetime(2027, 1, 4, 10, 0)  # Copenhagen wall-clock time


def postgres_unavailable() -> str | None:
    """Why PostgreSQL tests cannot run here, or ``None`` when they can."""
    if "reason" not in _postgres_state:
        try:
            import psycopg

            with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _postgres_state["reason"] = None
        except Exception as exc:  # any failure means there is no server to test against
            text = str(exc).strip()
            first = text.splitlines()[0] if text else type(exc).__name__
            _postgres_state["reason"] = f"PostgreSQL not reachable at {POSTGRES_URL}: {first}"
    return _postgres_state["reason"]


def _require_postgres() -> None:
    reason = postgres_unavailable()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the PostgreSQL tests)")
    pytest.skip(reason)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema for one test, dropped afterwards."""
    _require_postgres()
    import psycopg

    schema = f"lps_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def make_role(postgres_url: str) -> Iterator[Callable[[str], str]]:
    """Names for database roles, unique in the cluster (roles are not per schema), dropped
    with whatever they were granted when the test ends."""
    import psycopg

    made: list[str] = []

    def name(kind: str) -> str:
        made.append(f"lps_{kind}_{uuid.uuid4().hex[:10]}")
        return made[-1]

    yield name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        for role in made:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(f'DROP OWNED BY "{role}"')
                conn.execute(f'DROP ROLE "{role}"')


def as_role(url: str, role: str) -> str:
    """The URL of the same database and schema, connecting as ``role`` (trust on loopback)."""
    assert "://postgres@" in url
    return url.replace("://postgres@", f"://{role}@", 1)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lps.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'lps.db'}"


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    upgrade(db)
    yield db
    db.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def wf(database: Database, clock: FixedClock, tmp_path: Path) -> Workflow:
    """The engine as a script would use it, its mail folder the test's own."""
    settings = Settings(mail_dir=tmp_path / "mail")
    return Workflow(database, clock=clock, actor="tester", settings=settings)


def make_cohort(wf: Workflow, code: str = "H1", days: tuple[date, ...] = DAYS, **kw: Any) -> str:
    kw.setdefault("name", f"Hold {code}")
    kw.setdefault("venue", "Odense Rådhus")
    kw.setdefault("admin_email", "kursus@kommune.dk")
    # The fixture's day 3 (29 March 2027) is Anden påskedag: the cohorts of the tests keep
    # it on purpose, as an administrator may with --allow-holiday.
    kw.setdefault("allow_holiday", True)
    wf.create_cohort(code, days=list(days), **kw)
    return code


def enrol(wf: Workflow, email: str = "soren@example.dk", cohort: str = "H1", **kw: Any) -> int:
    kw.setdefault("name", "Søren Ærø")
    kw.setdefault("municipality", "Odense")
    kw.setdefault("manager_name", "Mette Leder")
    kw.setdefault("manager_email", "mette@example.dk")
    return wf.enrol(cohort, email=email, **kw).participant.id


@dataclass
class Cli:
    """Runs ``lps`` in-process against one database with a chosen clock."""

    url: str
    now: str = START.isoformat()
    env: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: str, input: str | None = None) -> Result:
        from cli.main import cli

        runner = CliRunner()
        env = {"LPS_DATABASE_URL": self.url, "LPS_NOW": self.now, **self.env}
        return runner.invoke(cli, ["--actor", "tester", *args], env=env, input=input)


@pytest.fixture
def lps(database: Database, db_url: str, tmp_path: Path) -> Cli:
    """The CLI on an initialised database (SQLite and PostgreSQL)."""
    return Cli(db_url, env={"LPS_MAIL_DIR": str(tmp_path / "mail")})


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    """A real SMTP server on loopback that keeps what it receives."""
    with SmtpSink() as server:
        yield server


@pytest.fixture
def pid(wf: Workflow) -> int:
    make_cohort(wf)
    return enrol(wf)
