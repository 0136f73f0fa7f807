"""`lps doctor`: exit 0 and one line on a correct deployment; one named line per problem and
exit 1 on each misconfiguration."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from conftest import Cli, as_role
from helpers import fails, ok

from workflow.db import Database
from workflow.migrate import upgrade
from workflow.models import SCHEMA_REVISION

NOW = "2027-01-04T10:00"
SECRETS = {"LPS_CERTIFICATE_SECRET": "vores-egen-hemmelighed", "LPS_AUDIT_KEY": "nøgle"}


def deployed(url: str, tmp_path: Path) -> Cli:
    database = Database(url)
    upgrade(database)
    database.dispose()
    (tmp_path / "mail").mkdir()
    lps = Cli(url, now=NOW, env={"LPS_MAIL_DIR": str(tmp_path / "mail"), **SECRETS})
    ok(lps, "remind")
    return lps


@pytest.fixture
def sqlite_deployment(sqlite_url: str, tmp_path: Path) -> Cli:
    return deployed(sqlite_url, tmp_path)


@pytest.fixture
def pg_deployment(postgres_url: str, make_role: Callable[[str], str], tmp_path: Path) -> Cli:
    """PostgreSQL set up by its owner, lps run as a programme administrator."""
    owner = deployed(postgres_url, tmp_path)
    admin = make_role("admin")
    ok(owner, "access", "grant", "admin", admin)
    return Cli(as_role(postgres_url, admin), now=NOW, env=owner.env)


def test_a_correct_sqlite_deployment_is_well(sqlite_deployment: Cli, tmp_path: Path) -> None:
    unit = tmp_path / "lps.service"
    unit.write_text("Environment=LPS_SMTP_URL=smtp://lps:secret@mail.kommune.dk:587\n")
    unit.chmod(0o600)

    result = ok(sqlite_deployment, "doctor", "--config", str(unit))

    assert result.stdout.startswith(f"All is well: schema {SCHEMA_REVISION}; a recent sweep; ")
    assert len(result.stdout.splitlines()) == 1


def test_a_correct_postgres_deployment_is_well(pg_deployment: Cli) -> None:
    result = ok(pg_deployment, "doctor")

    role = pg_deployment.url.split("://", 1)[1].split("@", 1)[0]
    assert result.stdout.splitlines() == [
        f"All is well: schema {SCHEMA_REVISION}; connected as {role}, held by row-level security; "
        f"row-level security forced on 6 tables; a recent sweep; mail folder "
        f"{pg_deployment.env['LPS_MAIL_DIR']}."
    ]


def problems(lps: Cli, *args: str) -> list[str]:
    result = fails(lps, "doctor", *args)
    assert result.stdout == ""
    return result.stderr.splitlines()


def test_each_misconfiguration_is_named(sqlite_deployment: Cli, tmp_path: Path) -> None:
    lps = sqlite_deployment
    unit = tmp_path / "lps.env"
    unit.write_text(
        "LPS_SMTP_URL=smtp://lps:hemmelig@mail.kommune.dk:587\n"
        "LPS_DATABASE_URL=postgresql://lps:hemmelig@db/lps\n"
    )
    unit.chmod(0o644)
    assert problems(lps, "--config", str(unit)) == [
        f"Error: {unit} holds the SMTP password and others can read it (mode 0644): "
        f"chmod 600 {unit}",
        f"Error: {unit} holds the database password and others can read it (mode 0644): "
        f"chmod 600 {unit}",
    ]

    lps.now = "2027-01-04T11:00"
    assert problems(lps) == [
        "Error: the last sweep finished 60 minutes ago, more than 30: is the scheduler running?"
    ]
    lps.now = NOW

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    lps.env["LPS_MAIL_DIR"] = str(blocked / "outbox")
    assert problems(lps) == [
        f"Error: the mail folder {blocked / 'outbox'} cannot be written: mail goes there as "
        ".eml files while LPS_SMTP_URL is unset; set LPS_MAIL_DIR to a folder lps can write"
    ]
    lps.env["LPS_MAIL_DIR"] = str(tmp_path / "mail")

    del lps.env["LPS_CERTIFICATE_SECRET"], lps.env["LPS_AUDIT_KEY"]
    assert problems(lps) == [
        "Error: the certificate secret is the default: anyone can compute a certificate's "
        "code; set LPS_CERTIFICATE_SECRET",
        "Error: no audit key: whoever can write the tables can recompute the audit trail; set "
        "LPS_AUDIT_KEY (kept outside the database)",
    ]


def test_a_schema_not_current_is_named(tmp_path: Path) -> None:
    from alembic import command

    from workflow.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    database = Database(url)
    config = alembic_config()
    with database.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0005")
    database.dispose()
    (tmp_path / "mail").mkdir()
    lps = Cli(url, env={"LPS_MAIL_DIR": str(tmp_path / "mail"), **SECRETS})

    assert problems(lps) == [
        f"Error: database {url} has schema revision 0005, this lps needs {SCHEMA_REVISION}; "
        "run `lps init` to create or upgrade it"
    ]


def test_postgres_misconfigurations_are_named(
    pg_deployment: Cli, postgres_url: str, make_role: Callable[[str], str]
) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE outbox NO FORCE ROW LEVEL SECURITY")
    assert problems(pg_deployment) == [
        "Error: table outbox holds participant data without forced row-level security: "
        "ALTER TABLE outbox ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY"
    ]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE outbox FORCE ROW LEVEL SECURITY")
    ok(pg_deployment, "doctor")

    superuser = Cli(postgres_url, now=NOW, env=pg_deployment.env)
    assert problems(superuser) == [
        "Error: connected as postgres, a superuser, which row-level security does not hold: "
        "connect as a role given access with `lps access grant`",
        "Error: connected as postgres, which owns the schema's tables and can turn their "
        "row-level security off: work as a role given access with `lps access grant`",
    ]

    bypassing = make_role("bypass")
    ok(superuser, "access", "grant", "auditor", bypassing)
    owning = make_role("owner")
    ok(superuser, "access", "grant", "admin", owning)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'ALTER ROLE "{bypassing}" BYPASSRLS')
        conn.execute(f'ALTER TABLE sweeps OWNER TO "{owning}"')
    env = pg_deployment.env
    assert problems(Cli(as_role(postgres_url, bypassing), now=NOW, env=env)) == [
        f"Error: connected as {bypassing}, a role that bypasses row-level security "
        f"(BYPASSRLS): ALTER ROLE {bypassing} NOBYPASSRLS"
    ]
    assert problems(Cli(as_role(postgres_url, owning), now=NOW, env=env)) == [
        f"Error: connected as {owning}, which owns the schema's tables and can turn their "
        "row-level security off: work as a role given access with `lps access grant`"
    ]
