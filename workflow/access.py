"""Who may do what, on PostgreSQL: database roles, their table privileges and their
memberships, which row-level security reads with the authenticated role (``session_user``).

``admin`` does everything; ``municipality`` reads and acts on the participants of its
municipalities only; ``auditor`` reads everything and changes nothing; ``scheduler`` and
``serve`` hold what the sweep and the web pages need. SQLite authenticates nobody: whoever
can open the file can do anything, so access is refused there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from workflow.db import Database
from workflow.errors import InvalidInput
from workflow.models import MEMBERSHIPS, PARTICIPANT_DATA
from workflow.validation import PARTICIPANT

__all__ = [
    "ACCESS",
    "Grant",
    "grant",
    "list_access",
    "revoke",
]

_READ = ("SELECT",)
_WRITE = ("SELECT", "INSERT", "UPDATE", "DELETE")
# The shared files messages carry: stored with the messages, deleted with the last of them.
_FILES = ("SELECT", "INSERT", "DELETE")
_EVERY_TABLE = (
    "cohorts",
    *PARTICIPANT_DATA,
    "attachments",
    "digest_checks",
    "sweeps",
    "audit_checkpoints",
    "memberships",
    "programmes",
    "migration_plans",
    "alembic_version",
)

# access -> {table: privileges}; what is not named is not granted.
ACCESS: dict[str, dict[str, tuple[str, ...]]] = {
    "admin": {
        **{table: _WRITE for table in _EVERY_TABLE},
        "memberships": _READ,
        "alembic_version": _READ,
    },
    "municipality": {
        "cohorts": _READ,
        "programmes": _READ,
        **{table: _WRITE for table in PARTICIPANT_DATA},
        "attachments": _FILES,
        "audit_checkpoints": _READ,
        "alembic_version": _READ,
    },
    "auditor": {table: _READ for table in _EVERY_TABLE if table != "memberships"},
    "scheduler": {
        "cohorts": _READ,
        "programmes": _READ,
        **{table: _WRITE for table in PARTICIPANT_DATA},
        "attachments": _FILES,
        "digest_checks": _WRITE,
        "sweeps": _WRITE,
        "audit_checkpoints": _WRITE,
        "alembic_version": _READ,
    },
    "serve": {
        "cohorts": _READ,
        "programmes": _READ,
        "participants": ("SELECT", "UPDATE"),
        "audit_entries": ("SELECT", "INSERT"),
        "deadlines": ("SELECT", "INSERT", "UPDATE"),
        "outbox": ("SELECT", "INSERT", "UPDATE"),
        "attachments": ("SELECT", "INSERT"),
        "links": ("SELECT", "INSERT", "UPDATE"),
        "approvals": ("SELECT", "INSERT"),
        "alembic_version": _READ,
    },
}

# A role name lps creates and quotes: no quotes, spaces or control characters to go wrong.
_ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,62}")


@dataclass(frozen=True)
class Grant:
    """One role's access, with the municipalities it is limited to (``municipality``)."""

    role: str
    access: str
    municipalities: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "role": self.role,
            "access": self.access,
            "municipalities": list(self.municipalities),
        }


def _postgres(database: Database) -> None:
    if not database.is_postgres:
        raise InvalidInput(
            "access is enforced by PostgreSQL's roles and row-level security; on SQLite "
            "whoever can open the file can do anything (protect it with file permissions)"
        )


def _role(user: str) -> str:
    if not _ROLE_NAME.fullmatch(user):
        raise InvalidInput(
            f"the role name {user!r} must be 1-63 letters, digits, '_', '.' or '-', "
            "starting with a letter or '_'"
        )
    return '"' + user + '"'


def _check(access: str, municipalities: tuple[str, ...]) -> tuple[str, ...]:
    if access not in ACCESS:
        raise InvalidInput(f"unknown access {access!r}; choose one of {', '.join(ACCESS)}")
    cleaned = tuple(
        dict.fromkeys(PARTICIPANT["municipality"].clean(name) for name in municipalities)
    )
    if access == "municipality" and not cleaned:
        raise InvalidInput("municipality access needs at least one municipality (--municipality)")
    if access != "municipality" and cleaned:
        raise InvalidInput(f"{access} access covers every municipality; leave out --municipality")
    return cleaned


def _refuse_unbound(conn: Connection, user: str) -> None:
    """Refuse access for a role that row-level security does not hold: whoever works as it
    would see and change everything whatever the memberships say."""
    superuser, bypass, owns = conn.exec_driver_sql(
        "SELECT r.rolsuper, r.rolbypassrls, EXISTS (SELECT 1 FROM pg_class c "
        "WHERE c.relnamespace = current_schema()::regnamespace AND c.relowner = r.oid) "
        "FROM pg_roles r WHERE r.rolname = %(name)s",
        {"name": user},
    ).one()
    why = (
        "is a superuser"
        if superuser
        else "bypasses row-level security"
        if bypass
        else "owns the schema's tables"
        if owns
        else None
    )
    if why is not None:
        raise InvalidInput(
            f"{user} {why}, so row-level security would not hold it; grant access to a role "
            "of its own (lps creates it when it does not exist)"
        )


def _apply_privileges(conn: Connection, role: str) -> None:
    """Revoke what ``role`` holds here and grant what its memberships give."""
    quoted = _role(role)
    schema = conn.exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
    held = set(
        conn.execute(select(MEMBERSHIPS.c.access).where(MEMBERSHIPS.c.role_name == role)).scalars()
    )
    conn.exec_driver_sql(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {quoted}")
    conn.exec_driver_sql(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {quoted}")
    if not held:
        conn.exec_driver_sql(
            f"REVOKE EXECUTE ON FUNCTION lps_sees(text), lps_sees_all() FROM {quoted}"
        )
        conn.exec_driver_sql(f"REVOKE USAGE ON SCHEMA {schema} FROM {quoted}")
        return
    conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {schema} TO {quoted}")
    conn.exec_driver_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {quoted}")
    tables: dict[str, set[str]] = {}
    for access in held:
        for table, given in ACCESS[access].items():
            tables.setdefault(table, set()).update(given)
    for table, privileges in sorted(tables.items()):
        conn.exec_driver_sql(f"GRANT {', '.join(sorted(privileges))} ON {table} TO {quoted}")
    # The row-level security policies call these as the role itself.
    conn.exec_driver_sql(f"GRANT EXECUTE ON FUNCTION lps_sees(text), lps_sees_all() TO {quoted}")


def grant(
    database: Database, access: str, user: str, municipalities: tuple[str, ...] = ()
) -> Grant:
    """Give database role ``user`` ``access`` (with ``municipalities`` for a municipality
    administrator, added to those it has); the role is created WITH LOGIN if it does not
    exist (its password is set with PostgreSQL's own tools)."""
    _postgres(database)
    quoted = _role(user)
    cleaned = _check(access, municipalities)
    with database.transaction() as conn:
        exists = conn.exec_driver_sql(
            "SELECT 1 FROM pg_roles WHERE rolname = %(name)s", {"name": user}
        ).first()
        if exists is None:
            conn.exec_driver_sql(f"CREATE ROLE {quoted} WITH LOGIN")
        else:
            _refuse_unbound(conn, user)
        have = set(
            conn.execute(
                select(MEMBERSHIPS.c.municipality).where(
                    MEMBERSHIPS.c.role_name == user, MEMBERSHIPS.c.access == access
                )
            ).scalars()
        )
        rows = [m for m in (cleaned or ("",)) if m not in have]
        if rows:
            conn.execute(
                insert(MEMBERSHIPS),
                [{"role_name": user, "access": access, "municipality": m} for m in rows],
            )
        _apply_privileges(conn, user)
        return _grants(conn, user, access)[0]


def revoke(database: Database, access: str, user: str) -> Grant:
    """Take ``access`` (with all its municipalities) from database role ``user``; the role
    itself stays, with whatever other access it has."""
    _postgres(database)
    _role(user)
    _check(access, ("x",) if access == "municipality" else ())
    with database.transaction() as conn:
        had = _grants(conn, user, access)
        if not had:
            raise InvalidInput(f"{user} has no {access} access; `lps access list` shows who has")
        conn.execute(
            delete(MEMBERSHIPS).where(
                MEMBERSHIPS.c.role_name == user, MEMBERSHIPS.c.access == access
            )
        )
        _apply_privileges(conn, user)
        return had[0]


def list_access(database: Database) -> list[Grant]:
    """Every role's access, by role name and access."""
    _postgres(database)
    with database.reading() as conn:
        return _grants(conn)


def _grants(conn: Connection, role: str | None = None, access: str | None = None) -> list[Grant]:
    query = select(MEMBERSHIPS).order_by(
        MEMBERSHIPS.c.role_name, MEMBERSHIPS.c.access, MEMBERSHIPS.c.municipality
    )
    if role is not None:
        query = query.where(MEMBERSHIPS.c.role_name == role)
    if access is not None:
        query = query.where(MEMBERSHIPS.c.access == access)
    found: dict[tuple[str, str], list[str]] = {}
    for row in conn.execute(query):
        names = found.setdefault((row.role_name, row.access), [])
        if row.municipality:
            names.append(row.municipality)
    return [Grant(r, a, tuple(m)) for (r, a), m in found.items()]
