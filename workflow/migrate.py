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
        with database.engine.connect() as conn:
            sqlite = database.sqlite_path is not None
            raw = conn.connection.dbapi_connection
            if sqlite and raw is not None:
                # SQLite alters a column by rebuilding its table, which the foreign keys of
                # the rows that refer to it forbid; they are checked once the rebuild is done.
                # The pragma only takes effect outside a transaction, hence the driver's own.
                raw.execute("PRAGMA foreign_keys=OFF")
            try:
                with conn.begin():
                    config.attributes["connection"] = conn
                    command.upgrade(config, "head")
                    if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                        raise StorageError(
                            f"upgrading {database.display_url} would leave rows referring to "
                            "rows that are gone; nothing was changed"
                        )
            finally:
                if sqlite and raw is not None:
                    raw.execute("PRAGMA foreign_keys=ON")
    except DBAPIError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise StorageError(f"cannot reach database {database.display_url}: {first}") from None
    return head_revision()
