"""Personal links in the mails that ask for something: minted as the mail is queued.

A link's token is random (192 bits from :mod:`secrets`) and only its SHA-256 is stored. It is
bound to one person (by role), one participant and one step (its *purpose*), and it expires
``link_days`` after the due day of the obligation it asks for.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from states.programme import LOCAL_TZ, obligation_due
from workflow.models import APPROVALS
from workflow.records import Step
from workflow.settings import Settings

__all__ = [
    "CHASED_BY",
    "PURPOSES",
    "RULE_LINKS",
    "SELF_SERVICE_MODES",
    "SENT_TOKEN",
    "Purpose",
    "actor_for",
    "hide_tokens",
    "mint",
    "pending_confirmations",
    "person_for",
    "token_hash",
]

SELF_SERVICE_MODES = ("off", "record", "approve")


@dataclass(frozen=True)
class Purpose:
    """One step a link records: the trigger it fires (``None`` for the host, which is
    registered, not fired), the roles that may record it and the obligation it is due with."""

    name: str
    trigger: str | None
    roles: tuple[str, ...]
    obligation: str | None


PURPOSES: dict[str, Purpose] = {
    p.name: p
    for p in (
        Purpose(
            "manager_conversation",
            "hold_manager_conversation",
            ("participant", "manager"),
            "manager_conversation",
        ),
        Purpose("jti", "complete_jti", ("participant",), "jti"),
        Purpose("host", None, ("participant",), "career_visit"),
        Purpose("career_visit", "hold_career_visit", ("participant", "host"), "career_visit"),
        Purpose("closing", "hold_closing_conversation", ("participant", "manager"), None),
        Purpose("overview", None, ("manager",), None),
    )
}

# Which mail asks whom for what.
RULE_LINKS: dict[str, dict[str, str]] = {
    "welcome": {"participant": "manager_conversation", "manager": "manager_conversation"},
    "manager_conversation_reminder": {
        "participant": "manager_conversation",
        "manager": "manager_conversation",
    },
    "manager_conversation_escalation": {"manager": "manager_conversation"},
    "jti_invitation": {"participant": "jti"},
    "jti_reminder": {"participant": "jti"},
    "jti_escalation": {"participant": "jti"},
    "host_missing": {"participant": "host"},
    "career_visit_reminder": {"participant": "career_visit"},
    "host_letter": {"host": "career_visit", "participant": "career_visit"},
    "certificate": {"participant": "closing", "manager": "closing"},
    "closing_reminder": {"participant": "closing", "manager": "closing"},
}

# The reminders that chase the step of a purpose: they stop while a confirmation waits.
CHASED_BY: dict[str, str] = {
    "manager_conversation_reminder": "manager_conversation",
    "manager_conversation_escalation": "manager_conversation",
    "jti_reminder": "jti",
    "jti_escalation": "jti",
    "host_missing": "host",
    "career_visit_reminder": "career_visit",
    "career_visit_escalation": "career_visit",
    "closing_reminder": "closing",
}

# Without a certificate date yet, the closing conversation is due this long after day 5.
_CLOSING_AFTER = timedelta(days=60)


def token_hash(token: str) -> str:
    """The SHA-256 (hex) under which a link's token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def person_for(step: Step, role: str) -> str:
    """Who a link of ``role`` belongs to: ``participant:12``, ``manager:mette@odense.dk``."""
    if role == "participant":
        return f"participant:{step.row.id}"
    if role == "manager":
        return f"manager:{step.row.manager_email}"
    host = step.facts.host
    return f"host:{host.email if host else step.row.id}"


def actor_for(person: str, participant_id: int) -> str:
    """The audit actor of a step recorded through a person's link; an address too long for
    the actor column gives way to the participant's number."""
    actor = f"{person} via link"
    if len(actor) > 100:
        actor = f"{person.split(':', 1)[0]}:#{participant_id} via link"
    return actor


def _due_day(step: Step, purpose: Purpose) -> date:
    if purpose.obligation is not None:
        return obligation_due(purpose.obligation, step.cohort.plan)
    anchor = step.facts.certified or step.cohort.days[-1]
    return anchor + _CLOSING_AFTER


def mint(step: Step, rule: str, role: str, language: str, settings: Settings) -> dict[str, Any]:
    """The template context of the links a mail of ``rule`` to ``role`` carries (none when
    the cohort's self-service is off or no ``LPS_BASE_URL`` is set); their rows go with the
    step's unit of work."""
    purpose_name = RULE_LINKS.get(rule, {}).get(role)
    if purpose_name is None or step.cohort.self_service == "off" or not settings.base_url:
        return {}
    extras = {"self_service_link": _link(step, PURPOSES[purpose_name], role, language, settings)}
    if role == "manager":
        extras["overview_link"] = _link(step, PURPOSES["overview"], role, language, settings)
    return extras


# What a sent mail's stored copy shows in place of its links' tokens: the mail the person
# received holds the link, the database only the token's hash.
SENT_TOKEN = "(token-not-kept)"
_TOKEN_IN_LINK = re.compile(r"(/l/)[A-Za-z0-9_-]{32}(?![A-Za-z0-9_-])")


def hide_tokens(text: str) -> str:
    """``text`` with the token of every personal link in it replaced by :data:`SENT_TOKEN`."""
    return _TOKEN_IN_LINK.sub(rf"\g<1>{SENT_TOKEN}", text) if "/l/" in text else text


def _link(step: Step, purpose: Purpose, role: str, language: str, settings: Settings) -> str:
    token = secrets.token_urlsafe(24)
    due = max(_due_day(step, purpose), step.now.astimezone(LOCAL_TZ).date())
    last = due + timedelta(days=step.cohort.link_days)
    expires = datetime.combine(last + timedelta(days=1), time(0), LOCAL_TZ)
    step.links.append(
        {
            "token_hash": token_hash(token),
            "participant_id": step.row.id,
            "role": role,
            "person": person_for(step, role),
            "purpose": purpose.name,
            "language": language,
            "created_at": step.now,
            "expires_at": expires,
            "status": "active",
        }
    )
    assert settings.base_url is not None
    return f"{settings.base_url.rstrip('/')}/l/{token}"


def pending_confirmations(conn: Connection, participant_ids: set[int]) -> set[tuple[int, str]]:
    """(participant, purpose) of the confirmations waiting for approval."""
    if not participant_ids:
        return set()
    return {
        (r.participant_id, r.purpose)
        for r in conn.execute(
            select(APPROVALS.c.participant_id, APPROVALS.c.purpose).where(
                APPROVALS.c.status == "pending",
                APPROVALS.c.participant_id.in_(list(participant_ids)),
            )
        )
    }
