"""Danish working days: weekends, public holidays (from the ``holidays`` package, which keeps
Store bededag up to 2023 only) and the closure days a programme or a cohort adds."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

__all__ = ["AFTER", "AHEAD", "holiday_name", "is_working_day", "working_day"]

AHEAD = "ahead"
AFTER = "after"


@lru_cache(maxsize=64)
def _year(year: int) -> dict[date, str]:
    # Imported when a date is first checked, so that commands which check none do not pay
    # for loading it (some 45 ms).
    import holidays

    return dict(holidays.country_holidays("DK", years=year, language="da").items())


def holiday_name(day: date) -> str | None:
    """The Danish public holiday on ``day`` ("Kristi himmelfartsdag"), or ``None``."""
    return _year(day.year).get(day)


def is_working_day(day: date, closures: frozenset[date] = frozenset()) -> bool:
    """Monday to Friday, not a public holiday and not a closure day."""
    return day.weekday() < 5 and holiday_name(day) is None and day not in closures


def working_day(day: date, direction: str, closures: frozenset[date] = frozenset()) -> date:
    """``day`` if it is a working day; else the working day before it (a rule that looks
    ahead, ``AHEAD``) or after it (a follow-up, ``AFTER``)."""
    step = timedelta(days=-1 if direction == AHEAD else 1)
    # A year has fewer than 120 days off in a row even with the longest closure allowed.
    for _ in range(400):
        if is_working_day(day, closures):
            return day
        day += step
    raise ValueError(f"no working day near {day.isoformat()}")
