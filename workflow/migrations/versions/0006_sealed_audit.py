"""audit entries sealed with a key, the facts and the database role; signed checkpoints

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


def upgrade() -> None:
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
    else:
        for kind in ("INSERT", "UPDATE"):
            op.execute(_SQLITE_ACTOR_GUARD.format(op=kind))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_entries_role ON audit_entries")
        op.execute("DROP FUNCTION lps_stamp_role()")
        op.execute("ALTER TABLE audit_entries DROP CONSTRAINT ck_audit_entries_actor_line")
    else:
        for kind in ("INSERT", "UPDATE"):
            op.execute(f"DROP TRIGGER audit_entries_actor_{kind}")
    op.drop_table("audit_checkpoints")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_column("key_id")
        batch_op.drop_column("facts_digest")
        batch_op.drop_column("role")
