"""digest checks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 05:18:13.080272
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import workflow.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "digest_checks",
        sa.Column("admin_email", sa.String(length=320), nullable=False),
        sa.Column("week_of", sa.Date(), nullable=False),
        sa.Column("checked_at", workflow.models.UTCDateTime(), nullable=False),
        sa.Column("sent", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("admin_email", "week_of", name=op.f("pk_digest_checks")),
    )


def downgrade() -> None:

    op.drop_table("digest_checks")
