"""Connecting to the database, checking its schema, and turning storage errors into ours."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from workflow import jsontext
from workflow.errors import ConcurrentChange, SchemaMissing, StorageError
from workflow.models import SCHEMA_REVISION

__all__ = [
    "DEFAULT_SQLITE_TIMEOUT",
    "Database",
    "redact",
]


# How long a SQLite command waits for another process's write lock before it says the
# database is busy; ``?timeout=SECONDS`` in the URL changes it.
DEFAULT_SQLITE_TIMEOUT = 15.0


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
    """One database: its engine, the dialect's quirks, the schema check, and the audit key
    its entries are sealed with."""

    def __init__(self, url: str, *, audit_key: str | None = None):
        self.url = url
        # The key the audit trail is sealed with (``LPS_AUDIT_KEY``); never stored here.
        self.audit_key = audit_key
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
        self.read_only = False
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            timeout = _sqlite_timeout(parsed.query.get("timeout"))
            parsed = parsed.difference_update_query(["timeout"])
            if parsed.database and parsed.database != ":memory:":
                self.sqlite_path = Path(parsed.database)
                self.read_only = _cannot_write(self.sqlite_path)
            if self.read_only:
                assert self.sqlite_path is not None
                kwargs["creator"] = _read_only_connector(self.sqlite_path, timeout)
            else:
                kwargs["connect_args"] = {"timeout": timeout}
        elif self.is_postgres:
            kwargs["pool_pre_ping"] = False
        try:
            self.engine: Engine = create_engine(
                parsed, json_serializer=jsontext.dumps, json_deserializer=jsontext.loads, **kwargs
            )
        except (SQLAlchemyError, ImportError) as exc:
            raise StorageError(f"cannot open database {redact(url)}: {exc}") from None
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas(timeout, self.read_only))
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
            if _is_busy(exc):
                raise self._busy() from None
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
        if self.read_only:
            raise self._read_only()
        try:
            with self.engine.connect() as conn:
                conn.execution_options(lps_write=True, lps_audit_key=self.audit_key)
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            if _is_busy(exc):
                raise self._busy() from None
            if _is_read_only(exc):
                raise self._read_only() from None
            if _is_serialization_failure(exc):
                raise ConcurrentChange(
                    "the participant was changed by someone else at the same time; try again"
                ) from None
            raise StorageError(f"database error: {_short(exc)}") from None
        except DBAPIError as exc:
            raise StorageError(f"the database refused the change: {_short(exc)}") from None

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for queries that change nothing (it works on a read-only file)."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except OperationalError as exc:
            if _is_busy(exc):
                raise self._busy() from None
            raise StorageError(f"database error: {_short(exc)}") from None
        except DBAPIError as exc:
            raise StorageError(f"database error: {_short(exc)}") from None

    def _busy(self) -> StorageError:
        return StorageError(
            f"database {self.sqlite_path or self.display_url} is busy: another lps process "
            "(or another program) holds its write lock; nothing was changed: try again when "
            "it has finished"
        )

    def _read_only(self) -> StorageError:
        return StorageError(
            f"database {self.sqlite_path or self.display_url} is read-only (its file or its "
            "folder cannot be written), so nothing was changed; commands that only read it "
            "still work"
        )

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_timeout(value: Any) -> float:
    if value is None:
        return DEFAULT_SQLITE_TIMEOUT
    try:
        seconds = float(value if isinstance(value, str) else value[-1])
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 3600:
        raise StorageError(
            f"the timeout in the database URL must be a number of seconds, got '{value}'"
        )
    return seconds


def _cannot_write(path: Path) -> bool:
    """Whether an existing database file, or its folder (where SQLite keeps its journal),
    cannot be written by this process."""
    if not path.exists():
        return False
    folder = path.parent if str(path.parent) else Path(".")
    return not os.access(path, os.W_OK) or not os.access(folder, os.W_OK)


def _read_only_connector(path: Path, timeout: float) -> Callable[[], sqlite3.Connection]:
    def connect() -> sqlite3.Connection:
        uri = f"file:{quote(str(path.resolve()))}?mode=ro"
        folder = path.resolve().parent
        if not Path(f"{path}-shm").exists() and not os.access(folder, os.W_OK):
            # SQLite opens a WAL database only with its -shm index, which it cannot create in
            # this folder; without one, no process has the database open to write, so it can
            # be read as it is on disk.
            uri += "&immutable=1"
        return sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)

    return connect


def _sqlite_pragmas(timeout: float, read_only: bool) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Autocommit mode at the driver so that our own BEGIN (below) decides when a
        # transaction starts; WAL lets readers continue while one writer works.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not read_only:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        cursor.close()

    return on_connect


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


def _is_busy(exc: OperationalError) -> bool:
    message = str(exc.orig).lower()
    return "database is locked" in message or "database table is locked" in message


def _is_read_only(exc: OperationalError) -> bool:
    return "readonly database" in str(exc.orig).lower()


def _is_serialization_failure(exc: OperationalError) -> bool:
    return "could not serialize" in str(exc.orig).lower()


def _short(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
