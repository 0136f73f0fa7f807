"""Dates and times as Danes and English readers write them, in Copenhagen wall-clock time."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

__all__ = [
    "COPENHAGEN",
    "LANGUAGES",
    "check_language",
    "format_date",
    "format_datetime",
    "format_time",
    "to_local",
]


COPENHAGEN = ZoneInfo("Europe/Copenhagen")
LANGUAGES: tuple[str, ...] = ("da", "en")

_WEEKDAYS = {
    "da": ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_MONTHS = {
    "da": (
        "januar",
        "februar",
        "marts",
        "april",
        "maj",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "december",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}


def check_language(language: str) -> str:
    """Return ``language`` if it is supported, else raise ``ValueError``."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of: {', '.join(LANGUAGES)}")
    return language


def to_local(dt: datetime) -> datetime:
    """Convert a timezone-aware datetime to Europe/Copenhagen; refuse naive datetimes."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"datetime {dt.isoformat()} has no timezone")
    return dt.astimezone(COPENHAGEN)


def format_date(d: date, language: str) -> str:
    """Format a date: "mandag den 5. april 2027" (da) or "Monday 5 April 2027" (en).

    An aware datetime is first converted to Copenhagen time and its local date is used.
    """
    check_language(language)
    if isinstance(d, datetime):
        d = to_local(d).date()
    weekday = _WEEKDAYS[language][d.weekday()]
    month = _MONTHS[language][d.month - 1]
    if language == "da":
        return f"{weekday} den {d.day}. {month} {d.year}"
    return f"{weekday} {d.day} {month} {d.year}"


def format_time(dt: datetime, language: str) -> str:
    """Format the Copenhagen clock time of an aware datetime: "9.00" (da) or "09:00" (en)."""
    check_language(language)
    local = to_local(dt)
    if language == "da":
        return f"{local.hour}.{local.minute:02d}"
    return f"{local.hour:02d}:{local.minute:02d}"


def format_datetime(dt: datetime, language: str) -> str:
    """Format an aware datetime in Copenhagen time.

    Danish: "mandag den 5. april 2027 kl. 9.00"; English: "Monday 5 April 2027 at 09:00".
    """
    check_language(language)
    local = to_local(dt)
    joiner = "kl." if language == "da" else "at"
    return f"{format_date(local.date(), language)} {joiner} {format_time(local, language)}"
