"""The database schema: the row is the truth about every participant."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

SCHEMA_REVISION = "0002"


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


JsonDoc = JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Cohort(Base):
    __tablename__ = "cohorts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    day_1: Mapped[date] = mapped_column(Date)
    day_2: Mapped[date] = mapped_column(Date)
    day_3: Mapped[date] = mapped_column(Date)
    day_4: Mapped[date] = mapped_column(Date)
    day_5: Mapped[date] = mapped_column(Date)
    venue: Mapped[str | None] = mapped_column(String(300))
    admin_email: Mapped[str | None] = mapped_column(String(320))
    max_absences: Mapped[int] = mapped_column(Integer, default=0)
    send_hour: Mapped[int] = mapped_column(Integer, default=9)
    jti_link: Mapped[str | None] = mapped_column(String(1000))
    articles: Mapped[list[dict[str, str]]] = mapped_column(JsonDoc, default=list)
    schedule_sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @property
    def days(self) -> tuple[date, date, date, date, date]:
        return (self.day_1, self.day_2, self.day_3, self.day_4, self.day_5)


class Participant(Base):
    __tablename__ = "participants"
    __table_args__ = (
        UniqueConstraint("cohort_id", "email", name="uq_participants_cohort_email"),
        Index("ix_participants_cohort_state", "cohort_id", "state"),
        Index("ix_participants_email", "email"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    municipality: Mapped[str] = mapped_column(String(100))
    workplace: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2), default="da")
    manager_name: Mapped[str] = mapped_column(String(200))
    manager_email: Mapped[str] = mapped_column(String(320))
    jti_link: Mapped[str | None] = mapped_column(String(1000))
    state: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer, default=1)
    definition_version: Mapped[str] = mapped_column(String(40))
    facts: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    audit_seq: Mapped[int] = mapped_column(Integer, default=0)
    audit_head: Mapped[str] = mapped_column(String(64), default="")
    network_group: Mapped[int | None] = mapped_column(Integer)
    deferred_from_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """One step of one participant. Holds no personal data: free text lives in ``note``,
    which erasure may blank, while the chain covers only its digest."""

    __tablename__ = "audit_entries"
    __table_args__ = (UniqueConstraint("participant_id", "seq", name="uq_audit_participant_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    event: Mapped[str] = mapped_column(String(60))
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    note_digest: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Deadline(Base):
    """A timed rule's due moment for one participant: timers are rows."""

    __tablename__ = "deadlines"
    __table_args__ = (
        UniqueConstraint("participant_id", "rule", "occurrence", name="uq_deadlines_key"),
        Index(
            "ix_deadlines_pending_due",
            "due_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    rule: Mapped[str] = mapped_column(String(60))
    occurrence: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), default="pending")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(Text)


class OutboxMessage(Base):
    """A rendered message waiting for, or done with, delivery."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_pending_next",
            "next_attempt_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_outbox_participant", "participant_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"))
    rule: Mapped[str] = mapped_column(String(60))
    occurrence: Mapped[str] = mapped_column(String(40), default="0")
    recipient_role: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str] = mapped_column(String(400))
    sender: Mapped[str] = mapped_column(String(400))
    subject: Mapped[str] = mapped_column(String(400))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    attachment_name: Mapped[str | None] = mapped_column(String(200))
    attachment_type: Mapped[str | None] = mapped_column(String(100))
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DigestCheck(Base):
    """The weeks whose admin digest has been considered, sent or not: the sweep then skips the
    weekly scan of active participants."""

    __tablename__ = "digest_checks"

    admin_email: Mapped[str] = mapped_column(String(320), primary_key=True)
    week_of: Mapped[date] = mapped_column(Date, primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent: Mapped[bool] = mapped_column(Boolean, default=False)
