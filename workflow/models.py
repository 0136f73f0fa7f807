"""The database schema: the row is the truth about every participant."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "APPROVALS",
    "ATTACHMENTS",
    "AUDIT",
    "AUDIT_CHECKPOINTS",
    "COHORTS",
    "DEADLINES",
    "DIGEST_CHECKS",
    "LINKS",
    "MEMBERSHIPS",
    "MIGRATION_PLANS",
    "NAMING",
    "OUTBOX",
    "PARTICIPANTS",
    "PARTICIPANT_DATA",
    "PROGRAMMES",
    "SCHEMA_REVISION",
    "SWEEPS",
    "JsonDoc",
    "UTCDateTime",
    "metadata",
    "with_partial_indexes",
]


SCHEMA_REVISION = "0010"


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as naive UTC and gives them back aware, on every database."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; attach a timezone")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class JsonDoc(TypeDecorator[Any]):
    """A JSON document: ``JSONB`` on PostgreSQL, ``JSON`` elsewhere. Chosen when a dialect asks,
    so that an SQLite process never imports the PostgreSQL dialect (a twentieth of a second)."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())

    @property
    def comparator_factory(self) -> Any:  # type: ignore[override]
        return JSON.Comparator


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


COHORTS = Table(
    "cohorts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(64), unique=True, nullable=False),
    Column("name", String(200), nullable=False),
    Column("day_1", Date, nullable=False),
    Column("day_2", Date, nullable=False),
    Column("day_3", Date, nullable=False),
    Column("day_4", Date),
    Column("day_5", Date),
    Column("day_6", Date),
    Column("day_7", Date),
    Column("day_8", Date),
    # The programme version the cohort runs (programmes.version, or the built-in one).
    Column("programme", String(40), nullable=False, server_default="leder-paa-spring/1"),
    # The cohort's own closure days (ISO dates), beside the programme's.
    Column("closed_days", JsonDoc, default=list, nullable=False, server_default="[]"),
    Column("venue", String(300)),
    Column("admin_email", String(320)),
    Column("max_absences", Integer, default=0, nullable=False),
    Column("send_hour", Integer, default=9, nullable=False),
    Column("jti_link", String(1000)),
    Column("articles", JsonDoc, default=list, nullable=False),
    Column("schedule_sequence", Integer, default=0, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # How much the cohort trusts the personal links in its mail: off, record or approve.
    Column("self_service", String(10), default="off", server_default="off", nullable=False),
    # How many days after an obligation's due day its links still work.
    Column("link_days", Integer, default=28, server_default="28", nullable=False),
)


# Programme versions installed from definition files; the built-in one is not stored.
PROGRAMMES = Table(
    "programmes",
    metadata,
    Column("version", String(40), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("templates", JsonDoc, default=dict, nullable=False),
    Column("is_default", Boolean, default=False, server_default=false(), nullable=False),
    Column("installed_at", UTCDateTime(), nullable=False),
    Column("installed_by", String(100), nullable=False),
)


# A migration's dry run, kept so that applying it carries out exactly that plan.
MIGRATION_PLANS = Table(
    "migration_plans",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("cohort", String(64), nullable=False),
    Column("to_version", String(40), nullable=False),
    Column("mapping", JsonDoc, default=list, nullable=False),
    # {day number: ISO date} of the days the new version adds to the cohort
    Column("days", JsonDoc, default=dict, server_default="{}", nullable=False),
    # [participant id, row version] of everyone the dry run listed
    Column("participants", JsonDoc, default=list, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("applied_at", UTCDateTime()),
    Column("applied_by", String(100)),
)


PARTICIPANTS = Table(
    "participants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("cohort_id", Integer, ForeignKey("cohorts.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=False),
    Column("municipality", String(100), nullable=False),
    Column("workplace", String(200)),
    Column("language", String(2), default="da", nullable=False),
    Column("manager_name", String(200), nullable=False),
    Column("manager_email", String(320), nullable=False),
    Column("jti_link", String(1000)),
    Column("state", String(40), nullable=False),
    Column("version", Integer, default=1, nullable=False),
    Column("definition_version", String(40), nullable=False),
    Column("facts", JsonDoc, default=dict, nullable=False),
    Column("audit_seq", Integer, default=0, nullable=False),
    Column("audit_head", String(64), default="", nullable=False),
    Column("network_group", Integer),
    Column("deferred_from_id", Integer, ForeignKey("participants.id")),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("erased_at", UTCDateTime()),
    UniqueConstraint("cohort_id", "email", name="uq_participants_cohort_email"),
    Index("ix_participants_cohort_state", "cohort_id", "state"),
    Index("ix_participants_email", "email"),
)


# One step of one participant. Holds no personal data: free text lives in note,
# which erasure may blank, while the chain covers only its digest.
AUDIT = Table(
    "audit_entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("participant_id", Integer, ForeignKey("participants.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    # Who the client says acted ("on behalf of"); one line of at most 100 characters, which
    # the database also enforces.
    Column("actor", String(100), nullable=False),
    # The authenticated database role that wrote the entry, stamped by PostgreSQL itself
    # (session_user); the operating-system user on SQLite. NULL in entries written before.
    Column("role", String(100)),
    Column("event", String(60), nullable=False),
    Column("from_state", String(40)),
    Column("to_state", String(40), nullable=False),
    Column("note", Text),
    Column("note_digest", String(64), nullable=False),
    Column("data", JsonDoc, default=dict, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # The digest of the facts the step recorded, covered by the hash; NULL before 0006.
    Column("facts_digest", String(64)),
    # Which audit key sealed the hash (an HMAC); '' for a plain SHA-256.
    Column("key_id", String(16), default="", server_default="", nullable=False),
    # How the entry came: cli, link or scheduler; NULL for entries from before it was kept.
    Column("channel", String(20)),
    UniqueConstraint("participant_id", "seq", name="uq_audit_participant_seq"),
)


# A signed record of every chain's length and head, so that a chain cut short or a
# participant deleted shows. Only the newest is kept; `lps audit checkpoint --output` takes a
# copy out of the database's reach.
AUDIT_CHECKPOINTS = Table(
    "audit_checkpoints",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("participants", Integer, nullable=False),
    Column("entries", Integer, nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("body", Text, nullable=False),
    Column("signature", String(64), nullable=False),
)


# A personal link in a mail: only the SHA-256 of its token is kept. One person, one
# participant, one step; it expires, and closes when the step is recorded or the path ends.
LINKS = Table(
    "links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), unique=True, nullable=False),
    Column("participant_id", Integer, ForeignKey("participants.id"), nullable=False),
    Column("role", String(20), nullable=False),
    Column("person", String(340), nullable=False),
    Column("purpose", String(40), nullable=False),
    Column("language", String(2), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    # active, submitted (waiting for approval), used or revoked
    Column("status", String(20), default="active", nullable=False),
    Column("closed_at", UTCDateTime()),
    Column("closed_reason", String(200)),
    Index("ix_links_participant", "participant_id"),
)


# A confirmation made through a link of a cohort in approve mode, waiting for an administrator.
APPROVALS = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("participant_id", Integer, ForeignKey("participants.id"), nullable=False),
    Column("link_id", Integer, ForeignKey("links.id"), nullable=False),
    Column("purpose", String(40), nullable=False),
    Column("request", JsonDoc, default=dict, nullable=False),
    Column("submitted_by", String(100), nullable=False),
    Column("submitted_at", UTCDateTime(), nullable=False),
    # pending, approved, rejected, or cancelled (the path ended first)
    Column("status", String(20), default="pending", nullable=False),
    Column("decided_at", UTCDateTime()),
    Column("decided_by", String(100)),
    Column("reason", Text),
    Index("ix_approvals_status", "status"),
)


# A timed rule's due moment for one participant: timers are rows.
DEADLINES = Table(
    "deadlines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("participant_id", Integer, ForeignKey("participants.id"), nullable=False),
    Column("rule", String(60), nullable=False),
    Column("occurrence", Integer, default=0, nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime()),
    Column("status", String(20), default="pending", nullable=False),
    Column("resolved_at", UTCDateTime()),
    Column("outcome", Text),
    UniqueConstraint("participant_id", "rule", "occurrence", name="uq_deadlines_key"),
)


# A file that messages carry and that holds nobody's personal data (a cohort's calendar),
# stored once however many messages carry it; they name it by the SHA-256 of its bytes.
ATTACHMENTS = Table(
    "attachments",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("content_type", String(100), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)


# A rendered message waiting for, or done with, delivery.
OUTBOX = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), unique=True, nullable=False),
    Column("participant_id", Integer, ForeignKey("participants.id")),
    Column("rule", String(60), nullable=False),
    Column("occurrence", String(40), default="0", nullable=False),
    Column("recipient_role", String(20), nullable=False),
    # 'Name <email>': a quoted, escaped name of 200 characters and an address of 254.
    Column("recipient", String(800), nullable=False),
    Column("sender", String(400), nullable=False),
    Column("subject", String(400), nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text, nullable=False),
    Column("attachment_name", String(200)),
    Column("attachment_type", String(100)),
    # The file's bytes when they are the message's own (a certificate, or any file of a row
    # written before files were shared); else the shared file it carries, if any.
    Column("attachment", LargeBinary),
    Column("attachment_digest", String(64), ForeignKey("attachments.digest")),
    Column("status", String(20), default="pending", nullable=False),
    Column("attempts", Integer, default=0, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("claimed_until", UTCDateTime()),
    # Who holds the claim: a sweep records only what it still holds.
    Column("claim_token", String(32)),
    # Sends whose outcome nobody knows (the connection went after the content was sent).
    Column("unconfirmed", Integer, default=0, server_default="0", nullable=False),
    Column("last_error", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    Index("ix_outbox_participant", "participant_id"),
    # Whether a shared file is still carried, asked when messages are erased.
    Index("ix_outbox_attachment_digest", "attachment_digest"),
)


# The weeks whose admin digest has been considered, sent or not: the sweep then skips the
# weekly scan of active participants.
DIGEST_CHECKS = Table(
    "digest_checks",
    metadata,
    Column("admin_email", String(320), primary_key=True),
    Column("week_of", Date, primary_key=True),
    Column("checked_at", UTCDateTime(), nullable=False),
    Column("sent", Boolean, default=False, nullable=False),
)


# The heartbeat: one row per sweep that wrote (not a dry run), so that `lps status` and
# `lps health` can tell a scheduler that sweeps from one that has silently stopped.
SWEEPS = Table(
    "sweeps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=False),
    Column("seconds", Float, nullable=False),
    Column("due", Integer, default=0, nullable=False),
    Column("queued", Integer, default=0, nullable=False),
    Column("fired", Integer, default=0, nullable=False),
    Column("digests", Integer, default=0, nullable=False),
    Column("delivered", Integer, default=0, nullable=False),
    Column("retrying", Integer, default=0, nullable=False),
    Column("failed", Integer, default=0, nullable=False),
    # Why the sweep failed or its delivery stopped; NULL when it went through.
    Column("error", Text),
    Index("ix_sweeps_started_at", "started_at"),
)

# Who may do what on PostgreSQL: one row per database role and access (admin, municipality
# with one row per municipality, auditor, scheduler, serve). Row-level security reads it with
# the authenticated role (session_user), never with anything the client can set.
MEMBERSHIPS = Table(
    "memberships",
    metadata,
    Column("role_name", String(63), primary_key=True),
    Column("access", String(20), primary_key=True),
    Column("municipality", String(100), primary_key=True, default=""),
)

# The tables that hold participants' data: row-level security is forced on each.
PARTICIPANT_DATA = (
    "participants",
    "audit_entries",
    "deadlines",
    "outbox",
    "links",
    "approvals",
)

_PARTIAL_INDEXES: list[Index] = []


def with_partial_indexes() -> MetaData:
    """The whole schema, with the partial indexes on pending deadlines and messages that keep
    the sweep's cost flat. Their dialect options make SQLAlchemy load every dialect they name,
    so they are added only where the full schema is compared or created, not in each command
    (whose queries use them all the same)."""
    if not _PARTIAL_INDEXES:
        pending = text("status = 'pending'")
        _PARTIAL_INDEXES.extend(
            (
                Index(
                    "ix_deadlines_pending_due",
                    DEADLINES.c.due_at,
                    sqlite_where=pending,
                    postgresql_where=pending,
                ),
                Index(
                    "ix_outbox_pending_next",
                    OUTBOX.c.next_attempt_at,
                    sqlite_where=pending,
                    postgresql_where=pending,
                ),
            )
        )
    return metadata
