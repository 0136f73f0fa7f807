"""Timed rules: when each reminder, escalation and timed trigger is due, and whether it still
applies at send time.

All due moments are computed on the Europe/Copenhagen calendar and returned as aware UTC
datetimes, so they are right on both sides of a daylight-saving change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from states.facts import Facts
from states.programme import (
    FINAL_STATES,
    LOCAL_TZ,
    CohortPlan,
    Situation,
    obligation_status,
    outstanding,
)

__all__ = [
    "ADMIN_MESSAGES",
    "AFTER",
    "AHEAD",
    "COHORT_RULES",
    "MESSAGE_CONTEXT",
    "PERSONAL_SOURCES",
    "TIMED_RULES",
    "TIMED_RULE_BY_NAME",
    "Condition",
    "ContextPart",
    "DueMoment",
    "TimedRule",
    "certified_deadlines",
    "cohort_deadlines",
    "deadlines_after",
    "digest_moment",
    "host_letter_deadline",
    "local_moment",
    "overdue",
    "shift_weekend",
    "still_applies",
]


AHEAD = "ahead"
AFTER = "after"


def shift_weekend(day: date, direction: str) -> date:
    """A look-ahead rule on a weekend moves to the Friday before; a follow-up to the Monday
    after."""
    weekday = day.weekday()
    if weekday < 5:
        return day
    if direction == AHEAD:
        return day - timedelta(days=weekday - 4)
    return day + timedelta(days=7 - weekday)


def local_moment(day: date, hour: int, minute: int = 0) -> datetime:
    """``day`` at ``hour``:``minute`` Copenhagen wall-clock time, as aware UTC."""
    return datetime.combine(day, time(hour, minute), tzinfo=LOCAL_TZ).astimezone(UTC)


Condition = Callable[[Situation], "str | None"]


def _open(obligation: str, done_text: str) -> Condition:
    def condition(sit: Situation) -> str | None:
        status = obligation_status(obligation, sit.facts, sit.cohort)
        if status != "open":
            return f"{done_text} ({status})"
        return None

    return condition


def _always(sit: Situation) -> str | None:
    return None


def _no_host(sit: Situation) -> str | None:
    if sit.facts.host is not None:
        return "a host is registered"
    if obligation_status("career_visit", sit.facts, sit.cohort) != "open":
        return "career visit no longer outstanding"
    return None


def _speech_pending(sit: Situation) -> str | None:
    if sit.facts.speech is not None or "speech" in sit.facts.waivers:
        return "speech already delivered or waived"
    return None


def _jti_not_sent(sit: Situation) -> str | None:
    if sit.facts.jti_invited is not None:
        return f"JTI already sent on {sit.facts.jti_invited.isoformat()}"
    return None


def _closing_open(sit: Situation) -> str | None:
    if sit.state != "certified":
        return "closing conversation already held or declined"
    return None


def _not_completed(sit: Situation) -> str | None:
    if sit.state not in ("certified", "closing_conversation_held"):
        return f"participant is {sit.state}"
    return None


@dataclass(frozen=True)
class TimedRule:
    """A rule due at an offset from an anchor: a teaching day ('day'), the certification date
    ('certified'), or the registration of a host ('host')."""

    name: str
    anchor: str
    offset_days: int
    recipients: tuple[str, ...]
    condition: Condition = _always
    day: int = 1
    direction: str = AHEAD
    expires_on_day: int | None = None
    expires_after_days: int | None = None
    fires: str | None = None
    per_day: bool = False


TIMED_RULES: tuple[TimedRule, ...] = (
    TimedRule(
        "manager_conversation_reminder",
        "day",
        -21,
        ("participant", "manager"),
        _open("manager_conversation", "conversation already held"),
        expires_on_day=1,
    ),
    TimedRule("jti_invitation", "day", -14, ("participant",), _jti_not_sent, fires="invite_jti"),
    TimedRule(
        "manager_conversation_escalation",
        "day",
        -7,
        ("manager", "admin"),
        _open("manager_conversation", "conversation already held"),
    ),
    TimedRule(
        "jti_reminder",
        "day",
        -7,
        ("participant",),
        _open("jti", "JTI already answered"),
        expires_on_day=2,
    ),
    TimedRule(
        "jti_escalation",
        "day",
        -3,
        ("participant", "admin"),
        _open("jti", "JTI already answered"),
        day=2,
        expires_on_day=2,
    ),
    TimedRule("day_reminder", "day", -1, ("participant",), per_day=True),
    TimedRule(
        "host_letter",
        "host",
        0,
        ("host", "participant"),
        _open("career_visit", "career visit already held"),
    ),
    TimedRule("host_missing", "day", 0, ("participant",), _no_host, day=3, expires_on_day=4),
    TimedRule("homework_reminder", "day", -3, ("participant",), day=3, expires_on_day=3),
    TimedRule(
        "career_visit_reminder",
        "day",
        -7,
        ("participant",),
        _open("career_visit", "career visit already held"),
        day=4,
        expires_on_day=4,
    ),
    TimedRule(
        "career_visit_escalation",
        "day",
        -1,
        ("admin",),
        _open("career_visit", "career visit already held"),
        day=4,
        expires_on_day=4,
    ),
    TimedRule(
        "speech_reminder", "day", -7, ("participant",), _speech_pending, day=5, expires_on_day=5
    ),
    TimedRule(
        "closing_reminder",
        "certified",
        30,
        ("participant", "manager"),
        _closing_open,
        direction=AFTER,
        expires_after_days=60,
    ),
    TimedRule(
        "auto_complete", "certified", 60, (), _not_completed, direction=AFTER, fires="complete"
    ),
)
TIMED_RULE_BY_NAME = {rule.name: rule for rule in TIMED_RULES}
COHORT_RULES = tuple(rule for rule in TIMED_RULES if rule.anchor == "day")


@dataclass(frozen=True)
class DueMoment:
    rule: str
    occurrence: int
    due_at: datetime
    expires_at: datetime | None


@lru_cache(maxsize=512)
def cohort_deadlines(cohort: CohortPlan) -> tuple[DueMoment, ...]:
    """Every cohort-anchored rule's due moments for a participant of ``cohort``."""
    moments: list[DueMoment] = []
    for rule in COHORT_RULES:
        days = range(1, 6) if rule.per_day else (rule.day,)
        for number in days:
            anchor = cohort.day(number)
            due_day = shift_weekend(anchor + timedelta(days=rule.offset_days), rule.direction)
            expires_day = number if rule.per_day else rule.expires_on_day
            expires_at = (
                local_moment(cohort.day(expires_day), cohort.send_hour)
                if expires_day is not None
                else None
            )
            moments.append(
                DueMoment(
                    rule.name,
                    number if rule.per_day else 0,
                    local_moment(due_day, cohort.send_hour),
                    expires_at,
                )
            )
    return tuple(moments)


def deadlines_after(anchor: str, on: date, cohort: CohortPlan) -> list[DueMoment]:
    """The rules anchored on a recorded date (``certified``: the closing reminder and
    automatic completion), due from ``on``."""
    moments = []
    for rule in TIMED_RULES:
        if rule.anchor != anchor:
            continue
        due_day = shift_weekend(on + timedelta(days=rule.offset_days), rule.direction)
        expires_at = None
        if rule.expires_after_days is not None:
            expires_at = local_moment(
                shift_weekend(on + timedelta(days=rule.expires_after_days), AFTER),
                cohort.send_hour,
            )
        moments.append(DueMoment(rule.name, 0, local_moment(due_day, cohort.send_hour), expires_at))
    return moments


def certified_deadlines(certified_on: date, cohort: CohortPlan) -> list[DueMoment]:
    """The follow-ups of certification: the closing reminder and automatic completion."""
    return deadlines_after("certified", certified_on, cohort)


def host_letter_deadline(now: datetime, cohort: CohortPlan) -> DueMoment:
    """The host letter goes out when the host is registered, but not before teaching day 1."""
    first = local_moment(cohort.day(1), cohort.send_hour)
    return DueMoment("host_letter", 0, max(now, first), None)


def still_applies(rule: TimedRule, situation: Situation) -> str | None:
    """Why the rule no longer applies at send time, or ``None`` when it does."""
    if situation.state in FINAL_STATES:
        return f"participant is {situation.state}"
    return rule.condition(situation)


def digest_moment(now: datetime) -> tuple[date, datetime]:
    """The Monday 08:00 (Copenhagen) at or before ``now``: the admin digest's occurrence."""
    local = now.astimezone(LOCAL_TZ)
    monday = local.date() - timedelta(days=local.weekday())
    moment = local_moment(monday, 8)
    if moment > now:
        monday -= timedelta(days=7)
        moment = local_moment(monday, 8)
    return monday, moment


def overdue(facts: Facts, cohort: CohortPlan, today: date) -> list[tuple[str, date]]:
    """Outstanding obligations whose due day has passed."""
    return [(name, due) for name, due in outstanding(facts, cohort) if due < today]


# -- What each message says -------------------------------------------------------------------


@dataclass(frozen=True)
class ContextPart:
    """One entry of a message's template context beyond the participant, manager, cohort and
    recipient: ``key`` is the name templates see, ``source`` what fills it (``due``: an
    obligation's due day, ``due_dates``: a mapping of them, ``day``: a teaching day, by number
    or the rule's occurrence, ``jti_link``, ``articles``, ``host``, ``absence``,
    ``certificate``, ``goals``, ``certified_on``, or ``given``: handed in by the step)."""

    key: str
    source: str
    argument: str | int | None = None


def _due(obligation: str) -> ContextPart:
    return ContextPart("due", "due", obligation)


def _part(name: str, argument: str | int | None = None) -> ContextPart:
    return ContextPart(name, name, argument)


_JTI_LINK = _part("jti_link")
_CAREER_DUE = _due("career_visit")

MESSAGE_CONTEXT: dict[str, tuple[ContextPart, ...]] = {
    "welcome": (ContextPart("due", "due_dates", "manager_conversation"),),
    "manager_conversation_reminder": (_due("manager_conversation"),),
    "jti_invitation": (_JTI_LINK, _part("articles"), _due("jti")),
    "manager_conversation_escalation": (_due("manager_conversation"),),
    "jti_reminder": (_JTI_LINK, _due("jti")),
    "jti_escalation": (_JTI_LINK, _due("jti")),
    "day_reminder": (_part("day", "occurrence"),),
    "host_letter": (_part("host"), _CAREER_DUE),
    "host_missing": (_CAREER_DUE,),
    "homework_reminder": (_part("day", 3),),
    "career_visit_reminder": (_CAREER_DUE,),
    "career_visit_escalation": (_CAREER_DUE,),
    "speech_reminder": (_part("day", 5),),
    "absence_notice": (_part("absence"),),
    "certificate": (_part("certificate"), _part("goals")),
    "closing_reminder": (_part("certified_on"),),
    "withdrawal_notice": (ContextPart("reason", "given"),),
    "group_announcement": (ContextPart("group", "given"),),
    "confirmation_rejected": (ContextPart("step", "given"), ContextPart("reason", "given")),
}
# Messages to an administrator about many participants: no participant, manager or cohort of
# their own, only these keys.
ADMIN_MESSAGES: dict[str, tuple[str, ...]] = {
    "admin_digest": ("recipient", "week_of", "cohorts", "failed"),
}
# Parts that make one recipient's message more than another's with the names changed.
PERSONAL_SOURCES = frozenset({"absence", "certificate", "goals", "given"})
