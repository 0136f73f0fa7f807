"""Creating and upgrading the schema with the Alembic migrations shipped in this package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError

from workflow.db import Database
from workflow.errors import StorageError

__all__ = [
    "MIGRATIONS",
    "alembic_config",
    "head_revision",
    "upgrade",
]


MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(database: Database) -> str | None:
    """Bring the schema to the newest revision; safe to run again. Returns the revision."""
    config = alembic_config()
    if database.sqlite_path is not None:
        try:
            database.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {database.sqlite_path}: {exc.strerror}") from None
    try:
        with database.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except DBAPIError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise StorageError(f"cannot reach database {database.display_url}: {first}") from None
    return head_revision()
