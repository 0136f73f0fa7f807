"""iCalendar files: a cohort's five teaching days and, for one participant, their deadlines and
recorded conversations.

Every event has a UID that stays the same from one export to the next, and SEQUENCE is the
cohort's schedule sequence, which :meth:`Workflow.reschedule` bumps: a calendar that imports
the file again updates the moved day instead of adding a second one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from urllib.parse import quote

from icalendar import Calendar, Event, Timezone

from states.programme import LOCAL_TZ
from workflow.attachments import Attachment, shared
from workflow.errors import InvalidInput
from workflow.kernel import Runtime
from workflow.queries import cohort_row, next_due, participant_and_cohort
from workflow.records import CohortRow, Step
from workflow.settings import Settings
from workflow.views import ParticipantView, participant_view

PRODID = "-//Leder på spring//lps//DA"
DAY_STARTS = time(9, 0)
DAY_ENDS = time(16, 0)

_TEXT = {
    "da": {
        "day": "Leder på spring, dag {number}: {theme}",
        "day_description": "{cohort}. Undervisningsdag {number}: {theme}.",
        "manager_conversation": "Frist: samtale med nærmeste leder",
        "jti": "Frist: besvar JTI-spørgeskemaet",
        "career_visit": "Frist: karrieresamtale",
        "speech": "Frist: lederindlæg",
        "met": "Opfyldt {on}.",
        "waived": "Fritaget: {reason}",
        "open": "Endnu ikke opfyldt.",
        "held_manager_conversation": "Samtale med nærmeste leder (afholdt)",
        "held_career_visit": "Karrieresamtale (afholdt)",
        "held_closing_conversation": "Afsluttende samtale (afholdt)",
        "host": "Vært: {name}, {municipality}",
        "calendar": "Leder på spring: {cohort}",
    },
    "en": {
        "day": "Leder på spring, day {number}: {theme}",
        "day_description": "{cohort}. Teaching day {number}: {theme}.",
        "manager_conversation": "Deadline: conversation with your manager",
        "jti": "Deadline: answer the JTI questionnaire",
        "career_visit": "Deadline: career visit",
        "speech": "Deadline: leadership speech",
        "met": "Done on {on}.",
        "waived": "Waived: {reason}",
        "open": "Not done yet.",
        "held_manager_conversation": "Conversation with your manager (held)",
        "held_career_visit": "Career visit (held)",
        "held_closing_conversation": "Closing conversation (held)",
        "host": "Host: {name}, {municipality}",
        "calendar": "Leder på spring: {cohort}",
    },
}
# Attendance is due on day 5 itself, already an event; it asks for nothing beyond the days.
DEADLINES = ("manager_conversation", "jti", "career_visit", "speech")


def _uid(*parts: object) -> str:
    return "-".join(quote(str(part), safe="") for part in parts) + "@lps"


def cohort_calendar(runtime: Runtime, code: str, participant: str | int | None = None) -> bytes:
    """The iCalendar file of cohort ``code``; with ``participant`` (id or email, a member of
    the cohort) also their obligation deadlines and recorded conversations, in their
    language."""
    view = None
    with runtime.db.reading() as conn:
        cohort = cohort_row(conn, code)
        if participant is not None:
            row, of_cohort = participant_and_cohort(conn, participant)
            view = participant_view(row, of_cohort, next_due(conn, row.id), runtime.today())
    if view is not None and view.cohort != cohort.code:
        raise InvalidInput(
            f"participant #{view.id} ({view.email}) is in cohort {view.cohort}, not {cohort.code}"
        )
    language = view.language if view is not None else "da"
    if view is not None:
        cohort = cohort.as_version(view.definition_version)
    return calendar_file(cohort, language=language, stamp=runtime.now(), view=view)


def calendar_file(
    cohort: CohortRow,
    *,
    language: str,
    stamp: datetime,
    view: ParticipantView | None = None,
) -> bytes:
    """The iCalendar bytes for a cohort (and optionally one participant) from loaded rows."""
    text = _TEXT[language]
    numbers = range(1, len(cohort.days) + 1)
    events = [_teaching_day(cohort, number, language, stamp) for number in numbers]
    if view is not None:
        events += _participant_events(view, cohort, text, stamp)

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    name = text["calendar"].format(cohort=cohort.name)
    calendar.add("x-wr-calname", f"{name} – {view.name}" if view is not None else name)
    calendar.add("x-wr-timezone", str(LOCAL_TZ))
    dates = [_start_date(event) for event in events]
    calendar.add_component(
        Timezone.from_tzinfo(
            LOCAL_TZ,
            tzid=str(LOCAL_TZ),
            first_date=date(min(dates).year, 1, 1),
            last_date=date(max(dates).year + 1, 12, 31),
        )
    )
    for event in events:
        calendar.add_component(event)
    return bytes(calendar.to_ical())


def teaching_days_attachment(cohort: CohortRow, language: str) -> Attachment:
    """The welcome mail's calendar of the five teaching days, built (and its digest taken) once
    per cohort schedule and language (DTSTAMP is when the schedule was last set, so the bytes
    are stable); it holds nobody's personal data, so it is stored once for all the welcomes."""
    return _cached_days(cohort.id, cohort.schedule_sequence, cohort.code, language, _Frozen(cohort))


class _Frozen:
    """A hashable handle on a cohort row for the cache: equal when id and schedule are."""

    def __init__(self, cohort: CohortRow):
        self.cohort = cohort

    def __hash__(self) -> int:
        return hash((self.cohort.id, self.cohort.schedule_sequence, self.cohort.days))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Frozen) and hash(self) == hash(other)


@lru_cache(maxsize=256)
def _cached_days(
    cohort_id: int, sequence: int, code: str, language: str, frozen: _Frozen
) -> Attachment:
    cohort = frozen.cohort
    stamp = datetime.combine(cohort.days[0], time(0), tzinfo=LOCAL_TZ) - timedelta(days=60)
    return shared(
        "leder-paa-spring.ics",
        "text/calendar; method=PUBLISH",
        calendar_file(cohort, language=language, stamp=stamp),
    )


def _start_date(event: Event) -> date:
    start = event.decoded("dtstart")
    return start.date() if isinstance(start, datetime) else start


def _event(uid: str, summary: str, sequence: int, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("sequence", sequence)
    event.add("summary", summary)
    return event


def _teaching_day(cohort: CohortRow, number: int, language: str, stamp: datetime) -> Event:
    day = cohort.days[number - 1]
    theme_da, theme_en = cohort.rules.day_themes[number - 1]
    theme = theme_da if language == "da" else theme_en
    text = _TEXT[language]
    event = _event(
        _uid(cohort.code, "day", number),
        text["day"].format(number=number, theme=theme),
        cohort.schedule_sequence,
        stamp,
    )
    event.add("dtstart", datetime.combine(day, DAY_STARTS, tzinfo=LOCAL_TZ))
    event.add("dtend", datetime.combine(day, DAY_ENDS, tzinfo=LOCAL_TZ))
    event.add(
        "description",
        text["day_description"].format(cohort=cohort.name, number=number, theme=theme),
    )
    if cohort.venue:
        event.add("location", cohort.venue)
    event.add("transp", "OPAQUE")
    return event


def _all_day(event: Event, day: date) -> Event:
    event.add("dtstart", day)
    event.add("dtend", day + timedelta(days=1))
    event.add("transp", "TRANSPARENT")
    return event


def _short(day: date) -> str:
    return f"{day.day}.{day.month}.{day.year}"


def _participant_events(
    view: ParticipantView, cohort: CohortRow, text: dict[str, str], stamp: datetime
) -> list[Event]:
    facts = view.facts
    met_on = {
        "manager_conversation": facts.manager_conversation,
        "jti": facts.jti_completed,
        "career_visit": facts.career_visit,
        "speech": facts.speech,
    }
    events = []
    for obligation in view.obligations:
        if obligation.name not in DEADLINES:
            continue
        event = _all_day(
            _event(
                _uid(view.id, obligation.name),
                text[obligation.name],
                cohort.schedule_sequence,
                stamp,
            ),
            obligation.due,
        )
        done = met_on[obligation.name]
        if obligation.status == "met" and done is not None:
            event.add("description", text["met"].format(on=_short(done)))
        elif obligation.status == "waived":
            event.add("description", text["waived"].format(reason=obligation.waiver_reason or ""))
        else:
            event.add("description", text["open"])
        events.append(event)
    held = (
        ("manager_conversation", facts.manager_conversation),
        ("career_visit", facts.career_visit),
        ("closing_conversation", facts.closing_conversation),
    )
    for conversation, on in held:
        if on is None:
            continue
        event = _all_day(
            _event(
                _uid(view.id, conversation, "held"),
                text[f"held_{conversation}"],
                cohort.schedule_sequence,
                stamp,
            ),
            on,
        )
        if conversation == "career_visit" and facts.host is not None:
            event.add(
                "description",
                text["host"].format(name=facts.host.name, municipality=facts.host.municipality),
            )
        events.append(event)
    return events


__all__ = ["DAY_ENDS", "DAY_STARTS", "PRODID", "cohort_calendar"]


def teaching_days_maker(step: Step, settings: Settings) -> Callable[[str], Attachment | None]:
    """The welcome mail's attachment: the cohort's teaching days as a calendar file."""
    return lambda language: teaching_days_attachment(step.cohort, language)
