"""Who may do what on PostgreSQL, enforced by the database: an Odense administrator sees and
acts on Odense's participants only, through lps and through a plain connection; the auditor
changes nothing; every entry names the authenticated role whatever --actor says; and a
connection handed to another role shows nothing of the first's."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from conftest import Cli, as_role
from helpers import fails, ok

from workflow.db import Database
from workflow.migrate import upgrade

DAYS = "2027-03-01,2027-03-15,2027-03-29,2027-04-12,2027-04-26"
NOT_FOUND = "Error: no participant with id 2; see `lps participant list`"


@dataclass
class Deployment:
    owner: Cli
    odense: Cli
    auditor: Cli
    odense_role: str
    aarhus_role: str
    auditor_role: str
    url: str


@pytest.fixture
def deployment(postgres_url: str, make_role: Callable[[str], str], tmp_path: Path) -> Deployment:
    """One cohort with #1 from Odense and #2 from Aarhus, an administrator for each
    municipality and an auditor, set up by the schema owner."""
    database = Database(postgres_url)
    upgrade(database)
    database.dispose()
    env = {"LPS_MAIL_DIR": str(tmp_path / "mail")}
    owner = Cli(postgres_url, env=env)
    ok(owner, "cohort", "create", "H1", "--name", "Hold 1", "--days", DAYS, "--allow-holiday")
    for name, email, municipality in (
        ("Søren Ærø", "soren@odense.dk", "Odense"),
        ("Åse Øster", "aase@aarhus.dk", "Aarhus"),
    ):
        ok(
            owner, "participant", "add", "H1", "--name", name, "--email", email,
            "--municipality", municipality, "--manager-name", "Mette Kjær",
            "--manager-email", f"mette@{municipality.lower()}.dk",
        )  # fmt: skip
    odense, aarhus, auditor = make_role("odense"), make_role("aarhus"), make_role("auditor")
    ok(owner, "access", "grant", "municipality", odense, "--municipality", "Odense")
    ok(owner, "access", "grant", "municipality", aarhus, "--municipality", "Aarhus")
    ok(owner, "access", "grant", "auditor", auditor)
    return Deployment(
        owner,
        Cli(as_role(postgres_url, odense), env=env),
        Cli(as_role(postgres_url, auditor), env=env),
        odense,
        aarhus,
        auditor,
        postgres_url,
    )


def test_access_is_granted_listed_and_revoked(deployment: Deployment) -> None:
    owner = deployment.owner
    listed = json.loads(ok(owner, "access", "list", "--json").stdout)
    assert sorted((g["role"], g["access"], g["municipalities"]) for g in listed) == sorted(
        [
            (deployment.odense_role, "municipality", ["Odense"]),
            (deployment.aarhus_role, "municipality", ["Aarhus"]),
            (deployment.auditor_role, "auditor", []),
        ]
    )
    granted = ok(owner, "access", "grant", "municipality", deployment.odense_role,
                 "--municipality", "Vejle")  # fmt: skip
    assert granted.stdout == f"Granted: {deployment.odense_role}: municipality for Odense, Vejle.\n"
    revoked = ok(owner, "access", "revoke", "auditor", deployment.auditor_role)
    assert revoked.stdout == f"Revoked: {deployment.auditor_role}: auditor.\n"
    refused = fails(deployment.auditor, "participant", "list")
    assert refused.stderr.startswith("Error: ")
    again = fails(owner, "access", "revoke", "auditor", deployment.auditor_role)
    assert again.stderr == (
        f"Error: {deployment.auditor_role} has no auditor access; `lps access list` shows who has\n"
    )
    unbound = fails(owner, "access", "grant", "admin", "postgres")
    assert unbound.stderr == (
        "Error: postgres is a superuser, so row-level security would not hold it; grant "
        "access to a role of its own (lps creates it when it does not exist)\n"
    )
    missing = fails(owner, "access", "grant", "municipality", "lps_nobody")
    assert missing.stderr == (
        "Error: municipality access needs at least one municipality (--municipality)\n"
    )


def test_access_needs_postgresql(tmp_path: Path) -> None:
    lps = Cli(f"sqlite:///{tmp_path / 'lps.db'}")
    ok(lps, "init")
    refused = fails(lps, "access", "list")
    assert refused.stderr == (
        "Error: access is enforced by PostgreSQL's roles and row-level security; on SQLite "
        "whoever can open the file can do anything (protect it with file permissions)\n"
    )


def test_a_municipality_administrator_sees_and_acts_on_their_own_only(
    deployment: Deployment, tmp_path: Path
) -> None:
    odense = deployment.odense
    listed = json.loads(ok(odense, "participant", "list", "--json").stdout)
    assert [p["id"] for p in listed] == [1]
    for args in (
        ("participant", "show", "2"),
        ("participant", "show", "aase@aarhus.dk"),
        ("participant", "export", "2"),
        ("history", "2"),
        ("triggers", "2"),
        ("advance", "2", "hold-manager-conversation", "--goal", "x"),
        ("advance", "2", "withdraw", "--reason", "x"),
        ("participant", "erase", "2", "--reason", "x"),
        ("waive", "2", "jti", "--reason", "x"),
        ("host", "set", "2", "--name", "H", "--email", "h@aarhus.dk", "--role", "leader",
         "--municipality", "Aarhus"),
        ("certificate", "pdf", "2"),
        ("calendar", "H1", "--participant", "2"),
    ):  # fmt: skip
        refused = fails(odense, *args)
        assert refused.stderr.splitlines()[0] in (
            NOT_FOUND,
            "Error: no participant with email 'aase@aarhus.dk'; see `lps participant list`",
        ), args
    shown = json.loads(ok(odense, "cohort", "show", "H1", "--json").stdout)
    assert "Aarhus" not in json.dumps(shown, ensure_ascii=False)
    assert "Åse" not in ok(odense, "groups", "form", "H1").stdout
    elsewhere = fails(
        odense, "participant", "add", "H1", "--name", "Ny", "--email", "ny@aarhus.dk",
        "--municipality", "Aarhus", "--manager-name", "M", "--manager-email", "m@aarhus.dk",
    )  # fmt: skip
    assert elsewhere.stderr.startswith(
        "Error: the database refused the change: new row violates row-level security policy"
    )
    report = ok(odense, "report", "H1", "--format", "csv").stdout
    assert "aase@aarhus.dk" not in report and "Åse" not in report
    assert "Søren" in report
    # A cohort-wide step reaches only their own.
    ok(odense, "--actor", "mette", "advance", "--cohort", "H1", "withdraw", "--reason", "Lukket")
    states = {
        p["id"]: p["state"]
        for p in json.loads(ok(deployment.owner, "participant", "list", "--json").stdout)
    }
    assert states == {1: "withdrawn", 2: "enrolled"}
    ok(odense, "participant", "erase", "1", "--reason", "Anmodning")


def test_a_plain_connection_shows_the_same(deployment: Deployment) -> None:
    """psql or any client as the Odense role: nothing of Aarhus to read, count, change or
    add, whatever the session sets."""
    url = as_role(deployment.url, deployment.odense_role)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT id FROM participants").fetchall() == [(1,)]
        assert conn.execute(
            "SELECT count(*) FROM audit_entries WHERE participant_id = 2"
        ).fetchone() == (0,)
        assert conn.execute(
            "SELECT count(*) FROM deadlines WHERE participant_id = 2"
        ).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM outbox WHERE participant_id = 2").fetchone() == (
            0,
        )
        assert (
            conn.execute("UPDATE participants SET state = 'withdrawn' WHERE id = 2").rowcount == 0
        )
        assert conn.execute("DELETE FROM audit_entries WHERE participant_id = 2").rowcount == 0
        conn.execute("SET lps.municipality = 'Aarhus'")
        assert conn.execute("SELECT count(*) FROM participants").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE participants SET municipality = 'Aarhus' WHERE id = 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM memberships")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO memberships VALUES (session_user, 'admin', '')")
    with psycopg.connect(deployment.url, autocommit=True) as conn:
        assert conn.execute(
            "SELECT state, municipality FROM participants ORDER BY id"
        ).fetchall() == [
            ("enrolled", "Odense"),
            ("enrolled", "Aarhus"),
        ]


def test_the_auditor_reads_everything_and_changes_nothing(deployment: Deployment) -> None:
    auditor = deployment.auditor
    ok(deployment.owner, "advance", "1", "withdraw", "--reason", "Nyt job")
    listed = json.loads(ok(auditor, "participant", "list", "--json").stdout)
    assert [p["id"] for p in listed] == [1, 2]
    ok(auditor, "participant", "show", "2")
    ok(auditor, "history", "2")
    ok(auditor, "participant", "export", "2")
    ok(auditor, "report", "H1")
    ok(auditor, "audit", "verify")
    for args in (
        ("advance", "2", "withdraw", "--reason", "x"),
        ("participant", "erase", "1", "--reason", "x"),
        ("cohort", "update", "H1", "--venue", "Et andet sted"),
        ("participant", "add", "H1", "--name", "Ny", "--email", "ny@odense.dk",
         "--municipality", "Odense", "--manager-name", "M", "--manager-email", "m@odense.dk"),
        ("access", "grant", "admin", deployment.auditor_role),
    ):  # fmt: skip
        refused = fails(auditor, *args)
        assert "permission denied" in refused.stderr, (args, refused.output)
    auditor_url = as_role(deployment.url, deployment.auditor_role)
    with (
        psycopg.connect(auditor_url) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("UPDATE participants SET state = 'withdrawn'")
    history = json.loads(ok(deployment.owner, "history", "2", "--format", "json").stdout)
    assert [e["event"] for e in history] == ["enrol"]
    assert ok(auditor, "participant", "show", "1", "--json").stdout.count("Søren") == 1


def test_every_entry_names_the_authenticated_role_whatever_actor_says(
    deployment: Deployment,
) -> None:
    odense = deployment.odense
    ok(odense, "--actor", "postgres", "advance", "1", "hold-manager-conversation", "--goal", "x")
    ok(odense, "--actor", "mette", "advance", "1", "withdraw", "--reason", "Nyt job")
    entries = json.loads(ok(odense, "history", "1", "--format", "json").stdout)
    assert [(e["role"], e["actor"]) for e in entries] == [
        ("postgres", "tester"),
        (deployment.odense_role, "postgres"),
        (deployment.odense_role, "mette"),
    ]
    table = ok(odense, "history", "1").stdout.splitlines()
    assert table[3].split()[3:5] == [deployment.odense_role, "mette"]
    rows = list(csv.reader(io.StringIO(ok(odense, "history", "1", "--format", "csv").stdout)))
    assert rows[-1][rows[0].index("role")] == deployment.odense_role
    verified = ok(deployment.auditor, "audit", "verify")
    assert f"{deployment.odense_role} on behalf of mette (1)" in verified.stdout
    # A client that claims another role for an entry is overruled by the database.
    with psycopg.connect(as_role(deployment.url, deployment.odense_role)) as conn:
        conn.execute("UPDATE audit_entries SET role = 'postgres' WHERE participant_id = 1")
        roles = conn.execute("SELECT DISTINCT role FROM audit_entries WHERE seq > 1").fetchall()
        assert roles == [(deployment.odense_role,)]


def test_a_connection_handed_to_another_role_shows_nothing_of_the_first(
    deployment: Deployment,
) -> None:
    """A pooler that hands one server connection from role to role: what each sees is the
    authenticated role's, never left over from the one before."""
    with psycopg.connect(deployment.url, autocommit=True) as conn:
        conn.execute(f'SET SESSION AUTHORIZATION "{deployment.odense_role}"')
        assert conn.execute("SELECT id, municipality FROM participants").fetchall() == [
            (1, "Odense")
        ]
        conn.execute("RESET SESSION AUTHORIZATION")
        conn.execute(f'SET SESSION AUTHORIZATION "{deployment.aarhus_role}"')
        assert conn.execute("SELECT id, municipality FROM participants").fetchall() == [
            (2, "Aarhus")
        ]
        assert conn.execute(
            "SELECT count(*) FROM audit_entries WHERE participant_id = 1"
        ).fetchone() == (0,)
        # SET ROLE changes current_user, not who logged in: the policies go by the latter.
        conn.execute("RESET SESSION AUTHORIZATION")
        conn.execute(f'GRANT "{deployment.odense_role}" TO "{deployment.aarhus_role}"')
        conn.execute(f'SET SESSION AUTHORIZATION "{deployment.aarhus_role}"')
        conn.execute(f'SET ROLE "{deployment.odense_role}"')
        assert conn.execute("SELECT id FROM participants").fetchall() == [(2,)]


def test_a_municipality_administrator_verifies_the_chains_they_see(
    deployment: Deployment,
) -> None:
    deployment.owner.env["LPS_AUDIT_KEY"] = "nøgle"
    ok(deployment.owner, "audit", "checkpoint")
    ok(deployment.odense, "advance", "1", "hold-manager-conversation", "--goal", "x")

    verified = ok(deployment.odense, "audit", "verify")

    assert verified.stdout.splitlines()[0] == (
        "Audit trail intact: 2 entries of 1 participants verified and replayed."
    )
    assert verified.stdout.splitlines()[-1] == (
        "Note: this role sees the participants of its municipalities only: their chains were "
        "checked, a participant deleted elsewhere cannot show here."
    )
    everything = ok(deployment.auditor, "audit", "verify")
    assert "3 entries of 2 participants" in everything.stdout


def test_the_scheduler_and_an_administrator_work_with_what_they_are_given(
    deployment: Deployment, make_role: Callable[[str], str]
) -> None:
    scheduler, admin = make_role("scheduler"), make_role("admin")
    ok(deployment.owner, "access", "grant", "scheduler", scheduler)
    ok(deployment.owner, "access", "grant", "admin", admin)
    env = {**deployment.owner.env, "LPS_AUDIT_KEY": "nøgle"}
    as_admin = Cli(as_role(deployment.url, admin), env=env)
    ok(as_admin, "cohort", "create", "H2", "--name", "Hold 2", "--days", DAYS, "--allow-holiday")
    ok(as_admin, "advance", "2", "hold-manager-conversation", "--goal", "x")
    assert [g["role"] for g in json.loads(ok(as_admin, "access", "list", "--json").stdout)]

    as_scheduler = Cli(as_role(deployment.url, scheduler), now="2027-02-26T09:05", env=env)
    ok(as_scheduler, "remind")
    refused = fails(
        as_scheduler,
        "cohort",
        "create",
        "H3",
        "--name",
        "Hold 3",
        "--days",
        DAYS,
        "--allow-holiday",
    )
    assert "permission denied for table cohorts" in refused.stderr

    history = json.loads(ok(deployment.auditor, "history", "2", "--format", "json").stdout)
    assert {(e["role"], e["actor"]) for e in history if e["event"] == "notify"} == {
        (scheduler, "scheduler")
    }
    assert ("postgres", "tester") in {(e["role"], e["actor"]) for e in history}
    assert (admin, "tester") in {(e["role"], e["actor"]) for e in history}
    # The scheduler's sweep signed a checkpoint, which the auditor verifies against.
    auditor = Cli(as_role(deployment.url, deployment.auditor_role), env=env)
    assert "chains held against the checkpoint in the database of 2027-02-26 09:05" in (
        ok(auditor, "audit", "verify").stdout
    )


def test_the_web_role_reads_participants_and_shapes_no_cohort(
    deployment: Deployment, make_role: Callable[[str], str]
) -> None:
    serve = make_role("serve")
    ok(deployment.owner, "access", "grant", "serve", serve)
    as_serve = Cli(as_role(deployment.url, serve), env=deployment.owner.env)
    assert [p["id"] for p in json.loads(ok(as_serve, "participant", "list", "--json").stdout)] == [
        1,
        2,
    ]
    for args in (
        ("cohort", "create", "H3", "--name", "Hold 3", "--days", DAYS, "--allow-holiday"),
        ("cohort", "update", "H1", "--venue", "Et andet sted"),
        ("access", "list"),
    ):
        assert "permission denied" in fails(as_serve, *args).stderr, args
    with (
        psycopg.connect(as_role(deployment.url, serve)) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("DELETE FROM audit_entries")
