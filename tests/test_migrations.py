from __future__ import annotations

from alembic import command
from conftest import Cli

from workflow.db import Database
from workflow.migrate import alembic_config


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
    assert "has schema revision 0001, this lps needs 0002; run `lps init`" in refused.stderr

    upgraded = lps("init")
    assert upgraded.exit_code == 0, upgraded.output
    assert lps("cohort", "list").exit_code == 0
