"""The engine's only source of "now"; tests and demos replace it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

from states.programme import LOCAL_TZ
from workflow.errors import InvalidInput


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


def parse_moment(text: str, *, name: str = "LPS_NOW") -> datetime:
    """An ISO date or date-time; without an offset it is Copenhagen wall-clock time."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{name} must be an ISO date-time such as 2027-03-01T09:00, got '{text}'"
        ) from None
    return _aware_utc(moment)
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
