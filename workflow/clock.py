"""The engine's only source of "now"; tests and demos replace it."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from states.programme import LOCAL_TZ
from workflow.errors import InvalidInput

__all__ = [
    "EARLIEST_YEAR",
    "LATEST_YEAR",
    "LOCAL_TZ",
    "SUPPORTED_YEARS",
    "Clock",
    "FixedClock",
    "RunningClock",
    "SystemClock",
    "date_problem",
    "in_supported_range",
    "lease_clock_for",
    "local_text",
    "parse_date",
    "parse_moment",
    "shown",
]


# Teaching days, step dates and LPS_NOW must lie in these years: wide enough for any real
# cohort, narrow enough that every deadline computed from them (weeks before day 1, months
# after day 5) stays a valid date.
EARLIEST_YEAR = 2000
LATEST_YEAR = 2199
SUPPORTED_YEARS = f"{EARLIEST_YEAR}–{LATEST_YEAR}"


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment as an aware UTC datetime."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that says what it is told; ``advance`` moves it."""

    def __init__(self, moment: datetime):
        self._moment = _aware_utc(moment)

    def now(self) -> datetime:
        return self._moment

    def set(self, moment: datetime) -> None:
        self._moment = _aware_utc(moment)


def _aware_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TZ)
    return moment.astimezone(UTC)


def in_supported_range(day: date) -> bool:
    """Whether ``day`` lies in the years lps supports (:data:`SUPPORTED_YEARS`)."""
    return EARLIEST_YEAR <= day.year <= LATEST_YEAR


def date_problem(day: date, what: str) -> str | None:
    """Why ``day`` cannot be used as ``what``, or ``None`` when it can."""
    if in_supported_range(day):
        return None
    return f"{what} {day.isoformat()} is outside the supported years {SUPPORTED_YEARS}"


def shown(text: str, limit: int = 60) -> str:
    """``text`` quoted for a one-line message: control characters escaped, long text cut."""
    cut = text if len(text) <= limit else text[:limit] + "…"
    return f"'{cut}'" if cut.isprintable() else repr(cut)


def local_text(moment: datetime) -> str:
    """A moment as Copenhagen time with its offset, to the second, for messages."""
    return moment.astimezone(LOCAL_TZ).isoformat(timespec="seconds")


_DANISH = re.compile(r"^(\d{1,2})[.\-/](\d{1,2})[.\-/](\d{4})$", re.ASCII)


def parse_date(text: str) -> date:
    """ISO ``2027-03-01``, or as Danes write it: ``1.3.2027`` or ``01-03-2027``; raise
    ``ValueError`` for anything else."""
    text = text.strip()
    match = _DANISH.match(text)
    if match:
        day, month, year = (int(part) for part in match.groups())
        return date(year, month, day)
    return date.fromisoformat(text)


def parse_moment(text: str, *, name: str = "LPS_NOW") -> datetime:
    """An ISO date or date-time in the supported years; without an offset it is Copenhagen
    wall-clock time, which must exist and be unambiguous (not inside the spring-forward gap,
    nor the repeated hour in autumn, where the offset must be given)."""
    clean = text.strip()
    try:
        moment = datetime.fromisoformat(clean)
    except ValueError:
        raise InvalidInput(
            f"{name} must be an ISO date-time such as 2027-03-01T09:00, got {shown(text)}"
        ) from None
    # Checked before any conversion: a moment near year 1 or 9999 cannot be moved to UTC.
    if not in_supported_range(moment):
        raise InvalidInput(
            f"{name} {shown(clean)} is outside the supported years {SUPPORTED_YEARS}"
        )
    if moment.tzinfo is None:
        moment = _copenhagen(moment, name)
    utc = moment.astimezone(UTC)
    if not in_supported_range(utc.astimezone(LOCAL_TZ)):
        raise InvalidInput(
            f"{name} {shown(clean)} is outside the supported years {SUPPORTED_YEARS}"
        )
    return utc


def _copenhagen(wall: datetime, name: str) -> datetime:
    """``wall`` as Copenhagen time, refusing a time that the clocks skip or show twice."""
    first = wall.replace(tzinfo=LOCAL_TZ, fold=0)
    second = wall.replace(tzinfo=LOCAL_TZ, fold=1)
    before, after = first.utcoffset(), second.utcoffset()
    if before == after:
        return first
    assert before is not None and after is not None
    shown_wall = wall.isoformat(timespec="minutes" if wall.second == 0 else "seconds")
    start, end = _transition_walls(first, before, after)
    if after > before:
        raise InvalidInput(
            f"{name} {shown_wall} does not exist in Copenhagen: clocks jump from {start} to {end}"
        )
    raise InvalidInput(
        f"{name} {shown_wall} happens twice in Copenhagen (clocks go back from {start} to "
        f"{end}); give the offset: {shown_wall}{_offset(before)} for the first, "
        f"{shown_wall}{_offset(after)} for the second"
    )


def _transition_walls(near: datetime, before: timedelta, after: timedelta) -> tuple[str, str]:
    """The wall-clock times either side of the change of offset next to ``near``: e.g.
    02:00 and 03:00 in spring, 03:00 and 02:00 in autumn."""
    wall = near.replace(tzinfo=None)
    # The change happens in UTC between these two moments; find its minute.
    low = wall - max(before, after)
    high = wall - min(before, after)
    while high - low > timedelta(minutes=1):
        middle = low + (high - low) / 2
        if middle.replace(tzinfo=UTC).astimezone(LOCAL_TZ).utcoffset() == before:
            low = middle
        else:
            high = middle
    change = high.replace(second=0, microsecond=0)
    return (change + before).strftime("%H:%M"), (change + after).strftime("%H:%M")


def _offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


_PROCESS_STARTED = time.monotonic()


class RunningClock:
    """``clock`` with the real time this process has been running added: a clock that a
    fixed (replayed) clock cannot stop. Claim leases are measured by it."""

    def __init__(self, clock: Clock):
        self._clock = clock

    def now(self) -> datetime:
        return self._clock.now() + timedelta(seconds=time.monotonic() - _PROCESS_STARTED)


def lease_clock_for(clock: Clock) -> Clock:
    """The clock a claim's lease is measured by when the engine runs on ``clock``.

    A lease is about real time passing between processes: how long a sweep that claimed a
    message may take before another may assume it died. So it is measured in real time,
    not by the engine's clock, which a replay (``LPS_NOW``) holds still: a lease measured
    by a clock that stands still would never run out, however long the sweep that holds
    it takes or however long ago it died. On the system clock the lease clock is the
    system clock. On a replayed clock it starts at the replayed moment and runs in real
    time (the process's monotonic clock): within one run a lease runs out only as real
    time passes, and a run replayed later still takes over what an earlier, dead run had
    claimed, as it would in production. (Two runs replayed at different moments are as far
    apart as their moments say; on the system clock, machines' clocks are assumed to agree
    to well within a lease.)
    """
    if isinstance(clock, SystemClock):
        return clock
    return RunningClock(clock)
