"""audit entries sealed with a key, the facts and the database role; signed checkpoints;
memberships and row-level security on PostgreSQL

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import workflow.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# One line of at most 100 characters, on both databases (PostgreSQL's varchar(100) alone
# would refuse only the length, SQLite nothing).
_SQLITE_ACTOR_GUARD = """
CREATE TRIGGER audit_entries_actor_{op} BEFORE {op} ON audit_entries
WHEN length(NEW.actor) > 100 OR instr(NEW.actor, char(10)) > 0 OR instr(NEW.actor, char(13)) > 0
BEGIN SELECT RAISE(ABORT, 'the actor must be one line of at most 100 characters'); END
"""


# Whether the authenticated role may see a participant of municipality m. SECURITY DEFINER so
# that nobody needs to read the memberships themselves; session_user is the same inside it.
_SEES = """
CREATE FUNCTION lps_sees(m text) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = {schema} AS $$
  SELECT EXISTS (
    SELECT 1 FROM memberships
    WHERE role_name = session_user AND (access <> 'municipality' OR municipality = m)
  )
$$
"""
_SEES_ALL = """
CREATE FUNCTION lps_sees_all() RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = {schema} AS $$
  SELECT EXISTS (
    SELECT 1 FROM memberships WHERE role_name = session_user AND access <> 'municipality'
  )
$$
"""
_POLICIES = {
    "participants": "lps_sees(municipality)",
    "audit_entries": "participant_id IN (SELECT id FROM participants)",
    "deadlines": "participant_id IN (SELECT id FROM participants)",
    "outbox": "participant_id IN (SELECT id FROM participants) "
    "OR (participant_id IS NULL AND lps_sees_all())",
}


def _row_level_security() -> None:
    schema = op.get_bind().exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
    op.execute(_SEES.format(schema=schema))
    op.execute(_SEES_ALL.format(schema=schema))
    for name in ("lps_sees(text)", "lps_sees_all()"):
        op.execute(f"REVOKE ALL ON FUNCTION {name} FROM PUBLIC")
    for table, rule in _POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY lps_scope ON {table} USING ({rule}) WITH CHECK ({rule})")


def upgrade() -> None:
    op.create_table(
        "memberships",
        sa.Column("role_name", sa.String(length=63), nullable=False),
        sa.Column("access", sa.String(length=20), nullable=False),
        sa.Column("municipality", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("role_name", "access", "municipality", name=op.f("pk_memberships")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("facts_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("key_id", sa.String(length=16), server_default="", nullable=False)
        )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", workflow.models.UTCDateTime(), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE audit_entries ADD CONSTRAINT ck_audit_entries_actor_line "
            "CHECK (actor !~ '[\\r\\n]')"
        )
        # The role is the database's word, not the client's.
        op.execute(
            "CREATE FUNCTION lps_stamp_role() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN NEW.role := session_user; RETURN NEW; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_entries_role BEFORE INSERT OR UPDATE OF role "
            "ON audit_entries FOR EACH ROW EXECUTE FUNCTION lps_stamp_role()"
        )
        _row_level_security()
    else:
        for kind in ("INSERT", "UPDATE"):
            op.execute(_SQLITE_ACTOR_GUARD.format(op=kind))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _POLICIES:
            op.execute(f"DROP POLICY lps_scope ON {table}")
            op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
        op.execute("DROP FUNCTION lps_sees(text)")
        op.execute("DROP FUNCTION lps_sees_all()")
        op.execute("DROP TRIGGER audit_entries_role ON audit_entries")
        op.execute("DROP FUNCTION lps_stamp_role()")
        op.execute("ALTER TABLE audit_entries DROP CONSTRAINT ck_audit_entries_actor_line")
    else:
        for kind in ("INSERT", "UPDATE"):
            op.execute(f"DROP TRIGGER audit_entries_actor_{kind}")
    op.drop_table("audit_checkpoints")
    op.drop_table("memberships")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_column("key_id")
        batch_op.drop_column("facts_digest")
        batch_op.drop_column("role")
