"""attachments: each distinct shared file (a cohort's calendar) stored once, the outbox rows
naming it by digest; the rows written before keep their own bytes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import workflow.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# What each access held on the table when it was made (workflow.access): the roles granted
# before it existed get it here, or a municipality's administrator could no longer enrol.
_PRIVILEGES = {
    "admin": "SELECT, INSERT, UPDATE, DELETE",
    "municipality": "SELECT, INSERT, DELETE",
    "auditor": "SELECT",
    "scheduler": "SELECT, INSERT, DELETE",
    "serve": "SELECT, INSERT",
}


def _grant_to_members() -> None:
    members = op.get_bind().exec_driver_sql(
        "SELECT DISTINCT quote_ident(m.role_name), m.access FROM memberships m "
        "JOIN pg_roles r ON r.rolname = m.role_name ORDER BY 1, 2"
    )
    for role, access in members.all():
        if access in _PRIVILEGES:
            op.execute(f"GRANT {_PRIVILEGES[access]} ON attachments TO {role}")


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", workflow.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_attachments")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attachment_digest", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_attachment_digest_attachments"),
            "attachments",
            ["attachment_digest"],
            ["digest"],
        )
        batch_op.create_index("ix_outbox_attachment_digest", ["attachment_digest"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        _grant_to_members()


def downgrade() -> None:
    # A row that names a shared file gets its bytes back before the table goes.
    op.execute(
        "UPDATE outbox SET attachment = (SELECT data FROM attachments "
        "WHERE attachments.digest = outbox.attachment_digest) "
        "WHERE attachment IS NULL AND attachment_digest IS NOT NULL"
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_attachment_digest")
        batch_op.drop_constraint(
            batch_op.f("fk_outbox_attachment_digest_attachments"), type_="foreignkey"
        )
        batch_op.drop_column("attachment_digest")
    op.drop_table("attachments")
