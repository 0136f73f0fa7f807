"""Connecting to the database, checking its schema, and turning storage errors into ours."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from workflow.errors import ConcurrentChange, SchemaMissing, StorageError
from workflow.models import SCHEMA_REVISION


def redact(url: str) -> str:
    """The URL with its password hidden (in the authority or the query), for messages and logs."""
    from notifications.delivery import redact_url

    try:
        return redact_url(make_url(url).render_as_string(hide_password=True))
    except Exception:
        return "<unreadable database URL>"


def _normalise(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Database:
    """One database: its engine, the dialect's quirks, and the schema check."""

    def __init__(self, url: str):
        self.url = url
        try:
            parsed = make_url(_normalise(url))
        except Exception:
            raise StorageError(
                f"cannot read the database URL '{redact(url)}'; "
                "use e.g. sqlite:///lps.db or postgresql://user@host:5432/name"
            ) from None
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.is_postgres = parsed.get_backend_name() == "postgresql"
        self.sqlite_path: Path | None = None
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                self.sqlite_path = Path(parsed.database)
            kwargs["connect_args"] = {"timeout": 15}
        elif self.is_postgres:
            kwargs["pool_pre_ping"] = False
        try:
            self.engine: Engine = create_engine(parsed, **kwargs)
        except (SQLAlchemyError, ImportError) as exc:
            raise StorageError(f"cannot open database {redact(url)}: {exc}") from None
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)

    @property
    def display_url(self) -> str:
        return redact(self.url)

    def exists(self) -> bool:
        return self.sqlite_path is None or self.sqlite_path.exists()

    def check_schema(self) -> None:
        """Refuse to work on a database that is missing or not at this version's schema."""
        hint = "run `lps init` to create or upgrade it"
        if not self.exists():
            raise SchemaMissing(f"database {self.sqlite_path} does not exist; {hint}")
        try:
            with self.engine.connect() as conn:
                row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        except OperationalError as exc:
            if _is_missing_table(exc):
                raise SchemaMissing(
                    f"database {self.display_url} has no lps schema; {hint}"
                ) from None
            raise StorageError(f"cannot reach database {self.display_url}: {_short(exc)}") from None
        except DBAPIError as exc:
            if _is_missing_table(exc):
                raise SchemaMissing(
                    f"database {self.display_url} has no lps schema; {hint}"
                ) from None
            raise StorageError(f"cannot reach database {self.display_url}: {_short(exc)}") from None
        if row is None or row[0] != SCHEMA_REVISION:
            found = row[0] if row else "none"
            raise SchemaMissing(
                f"database {self.display_url} has schema revision {found}, "
                f"this lps needs {SCHEMA_REVISION}; {hint}"
            )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One unit of work: everything inside commits together or not at all."""
        try:
            with self.engine.connect() as conn:
                conn.execution_options(lps_write=True)
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            if _is_lock_conflict(exc):
                raise ConcurrentChange(
                    "the participant was changed by someone else at the same time; try again"
                ) from None
            raise StorageError(f"database error: {_short(exc)}") from None
        except DBAPIError as exc:
            raise StorageError(f"the database refused the change: {_short(exc)}") from None

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            raise StorageError(f"database error: {_short(exc)}") from None

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    # Autocommit mode at the driver so that our own BEGIN (below) decides when a transaction
    # starts; WAL lets readers continue while one writer works.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # A unit of work takes SQLite's write lock up front (waiting up to busy_timeout), so two
    # writers queue instead of one failing when it upgrades a stale read; reads stay shared.
    if conn.get_execution_options().get("lps_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def _is_missing_table(exc: DBAPIError) -> bool:
    message = str(exc.orig).lower()
    return "no such table" in message or ("relation" in message and "does not exist" in message)


def _is_lock_conflict(exc: OperationalError) -> bool:
    message = str(exc.orig).lower()
    return "database is locked" in message or "could not serialize" in message


def _short(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
