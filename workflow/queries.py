"""Look-ups the engine's modules share: a cohort by code, a participant by id or email, a
participant's next deadline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from states.programme import FINAL_STATES
from workflow.errors import InvalidInput, NotFound
from workflow.records import (
    COHORTS,
    DEADLINES,
    PARTICIPANTS,
    CohortRow,
    ParticipantRow,
    load_cohorts,
)
from workflow.validation import lookup_email

__all__ = [
    "LARGEST_ID",
    "cohort_row",
    "cohorts_of",
    "email_taken",
    "find_participant",
    "next_due",
    "participant_and_cohort",
]


def cohort_row(conn: Connection, code: str) -> CohortRow:
    """The cohort with ``code``, or :class:`NotFound` naming where to look."""
    row = conn.execute(select(COHORTS).where(COHORTS.c.code == code.strip())).first()
    if row is None:
        raise NotFound(f"no cohort with code '{code}'; see `lps cohort list`")
    return CohortRow.from_row(row)


def email_taken(conn: Connection, cohort_id: int, email: str) -> bool:
    return (
        conn.execute(
            select(PARTICIPANTS.c.id).where(
                PARTICIPANTS.c.cohort_id == cohort_id,
                PARTICIPANTS.c.email == lookup_email(email),
            )
        ).first()
        is not None
    )


# Row ids are 64-bit integers; a larger number names nothing (and no driver would take it).
LARGEST_ID = 2**63 - 1


def find_participant(conn: Connection, ref: str | int) -> ParticipantRow:
    text = str(ref).strip()
    if text.lstrip("#").isdigit():
        number = int(text.lstrip("#"))
        row = (
            conn.execute(select(PARTICIPANTS).where(PARTICIPANTS.c.id == number)).first()
            if number <= LARGEST_ID
            else None
        )
        if row is None:
            raise NotFound(f"no participant with id {text}; see `lps participant list`")
        return ParticipantRow.from_row(row)
    rows = conn.execute(
        select(PARTICIPANTS)
        .where(PARTICIPANTS.c.email == lookup_email(text))
        .order_by(PARTICIPANTS.c.id.desc())
    ).all()
    if not rows:
        raise NotFound(f"no participant with email '{text}'; see `lps participant list`")
    active = [r for r in rows if r.state not in FINAL_STATES]
    if len(active) > 1:
        ids = ", ".join(str(r.id) for r in active)
        raise InvalidInput(f"{text} is active in several cohorts (ids {ids}); use the id")
    return ParticipantRow.from_row(active[0] if active else rows[0])


def next_due(conn: Connection, participant_id: int) -> tuple[str, datetime] | None:
    row = conn.execute(
        select(DEADLINES.c.rule, DEADLINES.c.due_at)
        .where(DEADLINES.c.participant_id == participant_id, DEADLINES.c.status == "pending")
        .order_by(DEADLINES.c.due_at)
        .limit(1)
    ).first()
    return (row.rule, row.due_at) if row else None


def cohorts_of(conn: Connection, conditions: list[Any]) -> dict[int, CohortRow]:
    """The cohorts of the participants that ``conditions`` select."""
    ids = select(PARTICIPANTS.c.cohort_id).where(*conditions).distinct()
    rows = conn.execute(select(COHORTS).where(COHORTS.c.id.in_(ids))).all()
    return {row.id: CohortRow.from_row(row) for row in rows}


def participant_and_cohort(conn: Connection, ref: str | int) -> tuple[ParticipantRow, CohortRow]:
    """The participant with id or email ``ref`` and their cohort, as the programme version
    the participant is on sees it."""
    row = find_participant(conn, ref)
    cohort = load_cohorts(conn, {row.cohort_id})[row.cohort_id]
    return row, cohort.as_version(row.definition_version)
