"""programmes: installed definition versions; each cohort on one, with 3 to 8 teaching days

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 11:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import workflow.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "programmes",
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("templates", workflow.models.JsonDoc(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("installed_at", workflow.models.UTCDateTime(), nullable=False),
        sa.Column("installed_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_programmes")),
    )
    op.create_table(
        "migration_plans",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("cohort", sa.String(64), nullable=False),
        sa.Column("to_version", sa.String(40), nullable=False),
        sa.Column("mapping", workflow.models.JsonDoc(), nullable=False),
        sa.Column("participants", workflow.models.JsonDoc(), nullable=False),
        sa.Column("created_at", workflow.models.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("applied_at", workflow.models.UTCDateTime(), nullable=True),
        sa.Column("applied_by", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migration_plans")),
    )
    # Every existing cohort runs the built-in programme it was created under.
    with op.batch_alter_table("cohorts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "programme",
                sa.String(40),
                nullable=False,
                server_default="leder-paa-spring/1",
            )
        )
        batch_op.alter_column("day_4", existing_type=sa.Date(), nullable=True)
        batch_op.alter_column("day_5", existing_type=sa.Date(), nullable=True)
        for number in (6, 7, 8):
            batch_op.add_column(sa.Column(f"day_{number}", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("closed_days", workflow.models.JsonDoc(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("cohorts", schema=None) as batch_op:
        batch_op.drop_column("closed_days")
        for number in (8, 7, 6):
            batch_op.drop_column(f"day_{number}")
        batch_op.alter_column("day_5", existing_type=sa.Date(), nullable=False)
        batch_op.alter_column("day_4", existing_type=sa.Date(), nullable=False)
        batch_op.drop_column("programme")
    op.drop_table("migration_plans")
    op.drop_table("programmes")
