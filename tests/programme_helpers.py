"""What the programme tests (test_programme_*.py) share: a cohort plan, situations and
facts. No database."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from states.definition import BUILTIN_TOML
from states.facts import DayRecord, Facts, Host
from states.programme import (
    LOCAL_TZ,
    CohortPlan,
    Situation,
)

D1, D2, D3, D4, D5 = (
    date(2027, 3, 1),
    date(2027, 3, 15),
    date(2027, 3, 29),
    date(2027, 4, 12),
    date(2027, 4, 26),
)


PLAN = CohortPlan("H1", (D1, D2, D3, D4, D5))

LATER = CohortPlan("H2", tuple(d + timedelta(days=91) for d in PLAN.days))

EARLIER = CohortPlan("H0", tuple(d - timedelta(days=7) for d in PLAN.days))

TODAY = date(2027, 1, 4)

HOST = Host("Hanne Vært", "hanne@example.dk", "leader", "Odense")

FAR_HOST = Host("Sven Vært", "sven@example.dk", "hr", "Svendborg")


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL_TZ)


def sit(
    state: str = "enrolled",
    facts: Facts | None = None,
    today: date = TODAY,
    *,
    now: datetime | None = None,
    plan: CohortPlan = PLAN,
    municipality: str = "Odense",
) -> Situation:
    return Situation(state, facts or Facts(), plan, municipality, now or at(today))


def days(*attended: bool) -> dict[int, DayRecord]:
    return {
        number: DayRecord(PLAN.day(number), flag, None if flag else "syg")
        for number, flag in enumerate(attended, start=1)
    }


ALL_MET = Facts(
    manager_conversation=date(2027, 2, 1),
    goals=("Lede møder",),
    jti_invited=date(2027, 2, 15),
    jti_completed=date(2027, 2, 20),
    days=days(True, True, True, True, True),
    host=HOST,
    career_visit=date(2027, 4, 1),
    speech=D5,
)


def four_days_no_visit() -> str:
    """The built-in file cut down to four days and no career visit (a municipality's variant)."""
    text = BUILTIN_TOML.replace('version = "leder-paa-spring/1"', 'version = "kort/1"')
    text = re.sub(r"\[\[day\]\]  # D5\ntheme = .*\n\n", "", text)
    text = re.sub(r"(\[step\.career_visit\].*\n)enabled = true", r"\1enabled = false", text)
    text = text.replace('at = "D5-7"\nexpires = "D5"', 'at = "D4-7"\nexpires = "D4"')
    text = text.replace('due = "D5"', 'due = "D4"')
    text = text.replace("alle fem dage", "alle fire dage").replace("all five days", "all four days")
    return re.sub(r"\[state\.day_5\]\nlabel = .*\n\n", "", text)
