"""``lps doctor``: a deployment that checks itself, one line per problem found."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Connection

from workflow.clock import Clock
from workflow.db import Database
from workflow.errors import LpsError
from workflow.models import PARTICIPANT_DATA, SCHEMA_REVISION, SWEEPS
from workflow.settings import DEFAULT_CERTIFICATE_SECRET, Settings

__all__ = [
    "SWEEP_TOO_OLD",
    "Diagnosis",
    "diagnose",
]

# A scheduler that has not swept for this long has stopped (as `lps health` judges it).
SWEEP_TOO_OLD = timedelta(minutes=30)

# A URL with a password in it: scheme://user:password@host.
_PASSWORD_IN_URL = re.compile(r"(LPS_SMTP_URL|LPS_DATABASE_URL)\s*=\s*\S*://[^/\s:@]*:[^/\s@]+@")


@dataclass
class Diagnosis:
    """What ``lps doctor`` found: every problem, and what was checked."""

    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def diagnose(settings: Settings, clock: Clock, *, config_files: tuple[Path, ...] = ()) -> Diagnosis:
    """Check the deployment ``settings`` describe: the schema, row-level security and the
    role connected as (PostgreSQL), the certificate secret and the audit key, the
    ``config_files`` holding passwords, the mail folder and the last sweep."""
    found = Diagnosis()
    database = Database(settings.database_url)
    try:
        _database(found, database, clock)
    finally:
        database.dispose()
    if settings.certificate_secret == DEFAULT_CERTIFICATE_SECRET:
        found.problems.append(
            "the certificate secret is the default: anyone can compute a certificate's code; "
            "set LPS_CERTIFICATE_SECRET"
        )
    if not settings.audit_key:
        found.problems.append(
            "no audit key: whoever can write the tables can recompute the audit trail; set "
            "LPS_AUDIT_KEY (kept outside the database)"
        )
    for path in config_files:
        _config_file(found, path)
    if not settings.smtp_url:
        _mail_folder(found, settings.mail_dir)
    return found


def _database(found: Diagnosis, database: Database, clock: Clock) -> None:
    try:
        database.check_schema()
    except LpsError as problem:
        found.problems.append(str(problem))
        return
    found.checked.append(f"schema {SCHEMA_REVISION}")
    try:
        with database.reading() as conn:
            if database.is_postgres:
                _postgres(found, conn)
            last = conn.execute(
                select(SWEEPS.c.finished_at).order_by(SWEEPS.c.finished_at.desc()).limit(1)
            ).scalar()
    except LpsError as problem:
        found.problems.append(str(problem))
        return
    if last is None:
        found.problems.append(
            "no sweep has run yet: start `lps scheduler run` (or `lps remind` from cron)"
        )
    elif clock.now() - last > SWEEP_TOO_OLD:
        minutes = int((clock.now() - last).total_seconds() // 60)
        found.problems.append(
            f"the last sweep finished {minutes} minutes ago, more than "
            f"{int(SWEEP_TOO_OLD.total_seconds() // 60)}: is the scheduler running?"
        )
    else:
        found.checked.append("a recent sweep")


def _postgres(found: Diagnosis, conn: Connection) -> None:
    role, superuser, bypass = conn.exec_driver_sql(
        "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = session_user"
    ).one()
    tables = {
        row.relname: row
        for row in conn.exec_driver_sql(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
            "pg_get_userbyid(c.relowner) AS owner FROM pg_class c "
            "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
        )
    }
    for name in PARTICIPANT_DATA:
        row = tables.get(name)
        if row is None or not (row.relrowsecurity and row.relforcerowsecurity):
            found.problems.append(
                f"table {name} holds participant data without forced row-level security: "
                f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY"
            )
    if superuser:
        found.problems.append(
            f"connected as {role}, a superuser, which row-level security does not hold: "
            "connect as a role given access with `lps access grant`"
        )
    if bypass and not superuser:
        found.problems.append(
            f"connected as {role}, a role that bypasses row-level security (BYPASSRLS): "
            f"ALTER ROLE {role} NOBYPASSRLS"
        )
    if any(row.owner == role for row in tables.values()):
        found.problems.append(
            f"connected as {role}, which owns the schema's tables and can turn their "
            "row-level security off: work as a role given access with `lps access grant`"
        )
    if not (superuser or bypass):
        found.checked.append(f"connected as {role}, held by row-level security")
    found.checked.append(f"row-level security forced on {len(PARTICIPANT_DATA)} tables")


def _config_file(found: Diagnosis, path: Path) -> None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        found.problems.append(f"cannot read the configuration file {path}: {exc.strerror}")
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH | stat.S_IWGRP | stat.S_IWOTH):
        for match in _PASSWORD_IN_URL.finditer(text):
            what = "SMTP" if match.group(1) == "LPS_SMTP_URL" else "database"
            found.problems.append(
                f"{path} holds the {what} password and others can read it (mode "
                f"{mode:04o}): chmod 600 {path}"
            )
    found.checked.append(f"{path}")


def _mail_folder(found: Diagnosis, folder: Path) -> None:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        found.problems.append(
            f"the mail folder {folder} cannot be written: mail goes there as .eml files while "
            "LPS_SMTP_URL is unset; set LPS_MAIL_DIR to a folder lps can write"
        )
    else:
        found.checked.append(f"mail folder {folder}")
