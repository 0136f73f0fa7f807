"""Turning a rule and a participant into outbox rows: who receives it, in which language, with
which facts in the template's context."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from states.programme import obligation_due
from states.rules import MESSAGE_CONTEXT, local_moment, timed_rule_by_name
from workflow import links
from workflow.attachments import Attachment
from workflow.records import CohortRow, ParticipantRow, Step
from workflow.settings import Settings

__all__ = [
    "DEFAULT_SENDER_ADDRESS",
    "SENDER_NAME",
    "certificate_code",
    "cohort_context",
    "day_context",
    "outbox_row",
    "queue",
    "recipients",
    "retry_delay",
    "rule_extras",
    "sender_for",
]


DEFAULT_SENDER_ADDRESS = "kursus@lps.invalid"
SENDER_NAME = "Kursussekretariatet, Leder på spring"


def sender_for(cohort: CohortRow | None, settings: Settings) -> str:
    """The From of a cohort's mail: ``LPS_MAIL_FROM``, else the cohort's admin email."""
    address = settings.mail_from or (cohort.admin_email if cohort else None)
    return _sender(address or DEFAULT_SENDER_ADDRESS)


@lru_cache(maxsize=64)
def _sender(address: str) -> str:
    return _address(SENDER_NAME, address)


# Keyed by the row object, which a batch loads once for all its participants; the row is
# held by the entry, so its id cannot be reused by another object while cached.
_COHORT_CONTEXTS: dict[int, tuple[CohortRow, dict[str, Any]]] = {}


def cohort_context(cohort: CohortRow) -> dict[str, Any]:
    """The cohort as templates see it; the same dict for the same row object, not to be
    changed by the caller."""
    cached = _COHORT_CONTEXTS.get(id(cohort))
    if cached is not None and cached[0] is cohort:
        return cached[1]
    if len(_COHORT_CONTEXTS) >= 1024:
        _COHORT_CONTEXTS.clear()
    context = _cohort_context(cohort)
    _COHORT_CONTEXTS[id(cohort)] = (cohort, context)
    return context


def _cohort_context(cohort: CohortRow) -> dict[str, Any]:
    return {
        "code": cohort.code,
        "name": cohort.name,
        "venue": cohort.venue or "",
        "admin_email": cohort.admin_email or DEFAULT_SENDER_ADDRESS,
        "jti_link": cohort.jti_link,
        "articles": list(cohort.articles),
        "max_absences": cohort.max_absences,
        "days": [day_context(cohort, number) for number in range(1, len(cohort.days) + 1)],
    }


def day_context(cohort: CohortRow, number: int) -> dict[str, Any]:
    day = cohort.days[number - 1]
    theme_da, theme_en = cohort.rules.day_themes[number - 1]
    return {
        "number": number,
        "date": day,
        "starts_at": local_moment(day, cohort.send_hour),
        "theme_da": theme_da,
        "theme_en": theme_en,
    }


_SPECIALS = re.compile(r'[][\\()<>@,:;".]')


def _address(name: str, email: str) -> str:
    """A readable address header value, the name quoted where it needs it ("Hansen, Jens"),
    as :func:`email.utils.formataddr` does, but kept in Unicode for the outbox and its
    listing; the MIME encoding happens when the message is built."""
    name = " ".join(name.split())
    if not name:
        return email
    if _SPECIALS.search(name):
        name = '"{}"'.format(name.replace("\\", "\\\\").replace('"', '\\"'))
    return f"{name} <{email}>"


def recipients(row: ParticipantRow, cohort: CohortRow, role: str) -> tuple[str, str] | None:
    """(name, email) of a role for this participant, or ``None`` when there is nobody."""
    if role == "participant":
        return row.name, row.email
    if role == "manager":
        return row.manager_name, row.manager_email
    if role == "host":
        host = row.facts.host
        return (host.name, host.email) if host else None
    if role == "admin":
        return ("Kursussekretariatet", cohort.admin_email) if cohort.admin_email else None
    raise KeyError(role)


def rule_extras(rule: str, step: Step, occurrence: int, settings: Settings) -> dict[str, Any]:
    """The rule-specific part of a template's context, as the programme declares it
    (:data:`states.rules.MESSAGE_CONTEXT`); parts the step hands in are left to it."""
    extras: dict[str, Any] = {}
    for part in MESSAGE_CONTEXT.get(rule, ()):
        build = _PART_BUILDERS.get(part.source)
        if build is None:
            continue
        argument = part.argument
        if part.source == "day" and isinstance(argument, int):
            # The teaching day a reminder speaks of is the one its moment names in the
            # cohort's programme (a variant may give the homework to another day).
            timed = timed_rule_by_name(step.cohort.rules).get(rule)
            argument = timed.day if timed is not None else argument
        value = build(step, argument, occurrence, settings)
        if value is not _ABSENT:
            extras[part.key] = value
    return extras


# What a builder returns when the step has nothing for the part (no host registered yet).
_ABSENT: Any = object()


def _due(step: Step, obligation: Any, occurrence: int, settings: Settings) -> date:
    return obligation_due(str(obligation), step.cohort.plan)


def _due_dates(step: Step, obligation: Any, occurrence: int, settings: Settings) -> dict[str, date]:
    return {str(obligation): obligation_due(str(obligation), step.cohort.plan)}


def _day(step: Step, number: Any, occurrence: int, settings: Settings) -> dict[str, Any]:
    if number == "occurrence":
        return day_context(step.cohort, occurrence)
    return day_context(step.cohort, min(int(number), len(step.cohort.days)))


def _host(step: Step, argument: Any, occurrence: int, settings: Settings) -> Any:
    host = step.facts.host
    if host is None:
        return _ABSENT
    return {
        "name": host.name,
        "email": host.email,
        "role": host.role,
        "municipality": host.municipality,
    }


def _absence(step: Step, argument: Any, occurrence: int, settings: Settings) -> dict[str, Any]:
    record = step.facts.days[occurrence]
    return {
        "day": occurrence,
        "date": record.on,
        "reason": record.reason or "",
        "absences": step.facts.absences,
        "max_absences": step.cohort.max_absences,
    }


def _certificate(step: Step, argument: Any, occurrence: int, settings: Settings) -> dict[str, Any]:
    return {
        "issued_on": step.facts.certified or step.now.date(),
        "code": certificate_code(
            step.row.id, step.facts.certified, secret=settings.certificate_secret
        ),
    }


_PART_BUILDERS: dict[str, Callable[[Step, Any, int, Settings], Any]] = {
    "due": _due,
    "due_dates": _due_dates,
    "day": _day,
    "jti_link": lambda step, *_: step.row.jti_link or step.cohort.jti_link,
    "articles": lambda step, *_: list(step.cohort.articles),
    "host": _host,
    "absence": _absence,
    "certificate": _certificate,
    "goals": lambda step, *_: list(step.facts.goals),
    "certified_on": lambda step, *_: step.facts.certified,
}


def certificate_code(participant_id: int, issued_on: date | None, *, secret: str) -> str:
    """A short, stable verification code for a participant's certificate: an HMAC-SHA256 of
    who and when, keyed with ``LPS_CERTIFICATE_SECRET``."""
    message = f"{participant_id}:{issued_on}".encode()
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"LPS-{participant_id}-{digest[:8].upper()}"


def queue(
    step: Step,
    rule: str,
    roles: tuple[str, ...],
    *,
    occurrence: int = 0,
    extras: dict[str, Any] | None = None,
    attachment: Callable[[str], Attachment | None] | None = None,
    settings: Settings,
) -> list[str]:
    """Render ``rule`` for each role and add the outbox rows to the step. Returns the roles
    that were queued (a role with nobody behind it, e.g. no admin email, is left out).
    ``attachment`` gives the file for a message in a language, if any."""
    from notifications.render import render_shaped as render

    row, cohort = step.row, step.cohort
    base = {
        "participant": {
            "name": row.name,
            "email": row.email,
            "municipality": row.municipality,
            "workplace": row.workplace or "",
            "language": row.language,
        },
        "manager": {"name": row.manager_name, "email": row.manager_email},
        "cohort": cohort_context(cohort),
    }
    base.update(rule_extras(rule, step, occurrence, settings))
    if extras:
        base.update(extras)
    queued: list[str] = []
    for role in roles:
        who = recipients(row, cohort, role)
        if who is None:
            continue
        language = row.language if role == "participant" else "da"
        context = {**base, "recipient": {"role": role, "name": who[0], "email": who[1]}}
        context.update(links.mint(step, rule, role, language, settings))
        rendered = render(rule, language, context, cohort.rules.definition.templates)
        file = attachment(language) if attachment else None
        if file is not None and file.digest is not None:
            step.attachments.setdefault(file.digest, file)
        step.outbox.append(
            outbox_row(
                key=f"{row.id}:{rule}:{role}:{occurrence}",
                participant_id=row.id,
                rule=rule,
                occurrence=str(occurrence),
                role=role,
                recipient=_address(*who),
                sender=sender_for(cohort, settings),
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                now=step.now,
                attachment=file,
            )
        )
        queued.append(role)
    return queued


def outbox_row(
    *,
    key: str,
    participant_id: int | None,
    rule: str,
    occurrence: str,
    role: str,
    recipient: str,
    sender: str,
    subject: str,
    text: str,
    html: str,
    now: datetime,
    attachment: Attachment | None = None,
) -> dict[str, Any]:
    """An outbox row of a pending message. A shared ``attachment`` is only named, by its
    digest: the caller stores the file with the row (:attr:`Step.attachments`); any other is
    the row's own."""
    return {
        "key": key,
        "participant_id": participant_id,
        "rule": rule,
        "occurrence": occurrence,
        "recipient_role": role,
        "recipient": recipient,
        "sender": sender,
        "subject": subject,
        "body_text": text,
        "body_html": html,
        "attachment_name": attachment.name if attachment else None,
        "attachment_type": attachment.content_type if attachment else None,
        "attachment": attachment.data if attachment and attachment.digest is None else None,
        "attachment_digest": attachment.digest if attachment else None,
        "status": "pending",
        "attempts": 0,
        "unconfirmed": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def retry_delay(attempts: int) -> timedelta:
    """Back-off after ``attempts`` failed sends: 1, 5, 30 minutes, then 2 hours."""
    steps = (1, 5, 30, 120)
    return timedelta(minutes=steps[min(attempts, len(steps)) - 1])
