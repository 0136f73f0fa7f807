"""The engine's only source of "now"; tests and demos replace it."""

from __future__ import annotations

from datetime import UTC, datetime
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
