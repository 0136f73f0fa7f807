from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import Cli

from workflow.db import Database
from workflow.migrate import alembic_config
from workflow.models import with_partial_indexes


def test_an_older_schema_is_refused_until_lps_init_upgrades_it(db_url: str) -> None:
    database = Database(db_url)
    config = alembic_config()
    with database.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    database.dispose()
    lps = Cli(db_url)

    refused = lps("cohort", "list")
    assert refused.exit_code == 1
    assert "has schema revision 0001, this lps needs 0010; run `lps init`" in refused.stderr

    upgraded = lps("init")
    assert upgraded.exit_code == 0, upgraded.output
    assert lps("cohort", "list").exit_code == 0


def test_the_migrated_schema_is_the_schema_the_code_declares(database: Database) -> None:
    """Migrations and table definitions are written apart; any column, type, nullability,
    constraint or index that differs between them is a bug waiting for a fresh install."""
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, with_partial_indexes())
    assert differences == []


def test_commands_do_not_load_a_dialect_they_do_not_use(tmp_path: Path) -> None:
    """The partial indexes' dialect options would load both dialects in every command."""
    probe = (
        "import sys, workflow.engine, workflow.sweep, workflow.db;"
        "print(sorted(m for m in sys.modules if m.startswith('sqlalchemy.dialects.postgresql')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert done.stdout.strip() == "[]"


def test_a_database_with_cohorts_and_participants_upgrades_and_keeps_working(
    db_url: str,
) -> None:
    """0006 rebuilds the cohorts table on SQLite: the participants that refer to it stay."""
    database = Database(db_url)
    config = alembic_config()
    with database.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0005")
        conn.exec_driver_sql(
            "INSERT INTO cohorts (code, name, day_1, day_2, day_3, day_4, day_5, max_absences,"
            " send_hour, articles, schedule_sequence, created_at) VALUES ('H1', 'Hold 1',"
            " '2027-03-01', '2027-03-15', '2027-03-29', '2027-04-12', '2027-04-26', 0, 9, '[]',"
            " 0, '2027-01-04 09:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO participants (cohort_id, name, email, municipality, language,"
            " manager_name, manager_email, state, version, definition_version, facts,"
            " audit_seq, audit_head, created_at, updated_at) VALUES ((SELECT id FROM cohorts),"
            " 'Søren', 'soren@example.dk', 'Odense', 'da', 'Mette', 'mette@example.dk',"
            " 'enrolled', 1, 'leder-paa-spring/1', '{}', 0, '', '2027-01-04 09:00:00',"
            " '2027-01-04 09:00:00')"
        )
    database.dispose()
    lps = Cli(db_url)
    assert lps("init").exit_code == 0
    shown = lps("participant", "show", "soren@example.dk", "--json")
    assert shown.exit_code == 0, shown.output
    assert '"programme": "leder-paa-spring/1"' in shown.stdout
    assert '"programme": "leder-paa-spring/1"' in lps("cohort", "show", "H1", "--json").stdout
