"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 03:52:59.984645
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import workflow.models

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "cohorts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("day_1", sa.Date(), nullable=False),
        sa.Column("day_2", sa.Date(), nullable=False),
        sa.Column("day_3", sa.Date(), nullable=False),
        sa.Column("day_4", sa.Date(), nullable=False),
        sa.Column("day_5", sa.Date(), nullable=False),
        sa.Column("venue", sa.String(length=300), nullable=True),
        sa.Column("admin_email", sa.String(length=320), nullable=True),
        sa.Column("max_absences", sa.Integer(), nullable=False),
        sa.Column("send_hour", sa.Integer(), nullable=False),
        sa.Column("jti_link", sa.String(length=1000), nullable=True),
        sa.Column(
            "articles",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("schedule_sequence", sa.Integer(), nullable=False),
        sa.Column("created_at", workflow.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohorts")),
        sa.UniqueConstraint("code", name=op.f("uq_cohorts_code")),
    )
    op.create_table(
        "participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("municipality", sa.String(length=100), nullable=False),
        sa.Column("workplace", sa.String(length=200), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("manager_name", sa.String(length=200), nullable=False),
        sa.Column("manager_email", sa.String(length=320), nullable=False),
        sa.Column("jti_link", sa.String(length=1000), nullable=True),
        sa.Column("state", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition_version", sa.String(length=40), nullable=False),
        sa.Column(
            "facts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("audit_seq", sa.Integer(), nullable=False),
        sa.Column("audit_head", sa.String(length=64), nullable=False),
        sa.Column("network_group", sa.Integer(), nullable=True),
        sa.Column("deferred_from_id", sa.Integer(), nullable=True),
        sa.Column("created_at", workflow.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", workflow.models.UTCDateTime(), nullable=False),
        sa.Column("erased_at", workflow.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohorts.id"], name=op.f("fk_participants_cohort_id_cohorts")
        ),
        sa.ForeignKeyConstraint(
            ["deferred_from_id"],
            ["participants.id"],
            name=op.f("fk_participants_deferred_from_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participants")),
        sa.UniqueConstraint("cohort_id", "email", name="uq_participants_cohort_email"),
    )
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.create_index("ix_participants_cohort_state", ["cohort_id", "state"], unique=False)
        batch_op.create_index("ix_participants_email", ["email"], unique=False)

    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", workflow.models.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("event", sa.String(length=60), nullable=False),
        sa.Column("from_state", sa.String(length=40), nullable=True),
        sa.Column("to_state", sa.String(length=40), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("note_digest", sa.String(length=64), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_audit_entries_participant_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
        sa.UniqueConstraint("participant_id", "seq", name="uq_audit_participant_seq"),
    )
    op.create_table(
        "deadlines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=60), nullable=False),
        sa.Column("occurrence", sa.Integer(), nullable=False),
        sa.Column("due_at", workflow.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", workflow.models.UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("resolved_at", workflow.models.UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_deadlines_participant_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deadlines")),
        sa.UniqueConstraint("participant_id", "rule", "occurrence", name="uq_deadlines_key"),
    )
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deadlines_pending_due",
            ["due_at"],
            unique=False,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(length=60), nullable=False),
        sa.Column("occurrence", sa.String(length=40), nullable=False),
        sa.Column("recipient_role", sa.String(length=20), nullable=False),
        sa.Column("recipient", sa.String(length=400), nullable=False),
        sa.Column("sender", sa.String(length=400), nullable=False),
        sa.Column("subject", sa.String(length=400), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("attachment_name", sa.String(length=200), nullable=True),
        sa.Column("attachment_type", sa.String(length=100), nullable=True),
        sa.Column("attachment", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", workflow.models.UTCDateTime(), nullable=False),
        sa.Column("claimed_until", workflow.models.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", workflow.models.UTCDateTime(), nullable=False),
        sa.Column("sent_at", workflow.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_outbox_participant_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("key", name=op.f("uq_outbox_key")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_participant", ["participant_id"], unique=False)
        batch_op.create_index(
            "ix_outbox_pending_next",
            ["next_attempt_at"],
            unique=False,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )


def downgrade() -> None:

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_pending_next",
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )
        batch_op.drop_index("ix_outbox_participant")

    op.drop_table("outbox")
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_deadlines_pending_due",
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )

    op.drop_table("deadlines")
    op.drop_table("audit_entries")
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.drop_index("ix_participants_email")
        batch_op.drop_index("ix_participants_cohort_state")

    op.drop_table("participants")
    op.drop_table("cohorts")
