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

from states.definition import RuleSetting
from states.facts import Facts
from states.programme import (
    BUILTIN,
    FINAL_STATES,
    LOCAL_TZ,
    CohortPlan,
    Programme,
    Situation,
    obligation_status,
    outstanding,
)
from states.workdays import working_day

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
    "timed_rule_by_name",
    "timed_rules",
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


@dataclass(frozen=True)
class _Block:
    """What code fixes about a timed rule: who it goes to, what it re-checks at send time, and
    the trigger it fires."""

    recipients: tuple[str, ...]
    condition: Condition = _always
    fires: str | None = None


_CONVERSATION_OPEN = _open("manager_conversation", "conversation already held")
_JTI_OPEN = _open("jti", "JTI already answered")
_VISIT_OPEN = _open("career_visit", "career visit already held")
_BLOCKS: dict[str, _Block] = {
    "manager_conversation_reminder": _Block(("participant", "manager"), _CONVERSATION_OPEN),
    "jti_invitation": _Block(("participant",), _jti_not_sent, fires="invite_jti"),
    "manager_conversation_escalation": _Block(("manager", "admin"), _CONVERSATION_OPEN),
    "jti_reminder": _Block(("participant",), _JTI_OPEN),
    "jti_escalation": _Block(("participant", "admin"), _JTI_OPEN),
    "day_reminder": _Block(("participant",)),
    "host_letter": _Block(("host", "participant"), _VISIT_OPEN),
    "host_missing": _Block(("participant",), _no_host),
    "homework_reminder": _Block(("participant",)),
    "career_visit_reminder": _Block(("participant",), _VISIT_OPEN),
    "career_visit_escalation": _Block(("admin",), _VISIT_OPEN),
    "speech_reminder": _Block(("participant",), _speech_pending),
    "closing_reminder": _Block(("participant", "manager"), _closing_open),
    "auto_complete": _Block((), _not_completed, fires="complete"),
}


def _timed_rule(setting: RuleSetting) -> TimedRule:
    block = _BLOCKS[setting.name]
    at, expires = setting.at, setting.expires
    anchor = "day" if at.anchor in ("day", "each_day") else at.anchor
    return TimedRule(
        setting.name,
        anchor,
        at.offset,
        block.recipients,
        block.condition,
        day=at.day or 1,
        direction=AFTER if at.anchor == "certified" else AHEAD,
        expires_on_day=expires.day if expires is not None and expires.anchor == "day" else None,
        expires_after_days=(
            expires.offset if expires is not None and expires.anchor == "certified" else None
        ),
        fires=block.fires,
        per_day=at.anchor == "each_day",
    )


@lru_cache(maxsize=64)
def timed_rules(programme: Programme) -> tuple[TimedRule, ...]:
    """The timed rules a programme has switched on, in the order of its definition."""
    return tuple(_timed_rule(s) for s in programme.definition.rules if s.enabled)


@lru_cache(maxsize=64)
def timed_rule_by_name(programme: Programme) -> dict[str, TimedRule]:
    """The programme's timed rules that are on, by name."""
    return {rule.name: rule for rule in timed_rules(programme)}


TIMED_RULES: tuple[TimedRule, ...] = timed_rules(BUILTIN)
TIMED_RULE_BY_NAME = timed_rule_by_name(BUILTIN)
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
    for rule in timed_rules(cohort.rules):
        if rule.anchor != "day":
            continue
        days = range(1, len(cohort.days) + 1) if rule.per_day else (rule.day,)
        for number in days:
            anchor = cohort.day(number)
            due_day = working_day(
                anchor + timedelta(days=rule.offset_days), rule.direction, cohort.closures
            )
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
    for rule in timed_rules(cohort.rules):
        if rule.anchor != anchor:
            continue
        due_day = working_day(
            on + timedelta(days=rule.offset_days), rule.direction, cohort.closures
        )
        expires_at = None
        if rule.expires_after_days is not None:
            expires_at = local_moment(
                working_day(on + timedelta(days=rule.expires_after_days), AFTER, cohort.closures),
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
