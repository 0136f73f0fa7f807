"""outbox recipient width

The recipient is composed as 'Name <email>': a display name of 200 characters is quoted, each
quote or backslash in it escaped (402), and the address may have 254, which 400 did not hold.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.alter_column(
            "recipient",
            existing_type=sa.String(length=400),
            type_=sa.String(length=800),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.alter_column(
            "recipient",
            existing_type=sa.String(length=800),
            type_=sa.String(length=400),
            existing_nullable=False,
        )
