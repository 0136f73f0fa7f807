"""iCalendar export: parsed back with the icalendar package."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import DAYS, Cli, enrol, make_cohort
from icalendar import Calendar, Event

from cli.main import COMMANDS
from workflow.clock import FixedClock
from workflow.engine import StepRequest, Workflow
from workflow.errors import InvalidInput, NotFound

COPENHAGEN = ZoneInfo("Europe/Copenhagen")


@pytest.fixture(autouse=True)
def calendar_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """``lps calendar`` as cli/main.py registers it."""
    monkeypatch.setitem(
        COMMANDS, "calendar", ("cli.calendar", "calendar", "iCalendar files of a cohort's days.")
    )


def parse(data: bytes) -> Calendar:
    return Calendar.from_ical(data)


def events(calendar: Calendar) -> dict[str, Event]:
    return {str(event["uid"]): event for event in calendar.walk("VEVENT")}


def test_the_cohort_calendar_has_the_five_teaching_days(wf: Workflow) -> None:
    make_cohort(wf, "F27", venue="Odense Rådhus")
    calendar = parse(wf.calendar("F27"))
    found = events(calendar)
    assert sorted(found) == [f"F27-day-{n}@lps" for n in range(1, 6)]
    first = found["F27-day-1@lps"]
    assert str(first["summary"]) == "Leder på spring, dag 1: Ledelse i en kommunal kontekst"
    assert str(found["F27-day-5@lps"]["summary"]) == (
        "Leder på spring, dag 5: Min vej mod ledelse, fortsat"
    )
    assert str(first["location"]) == "Odense Rådhus"
    for number, day in enumerate(DAYS, start=1):
        event = found[f"F27-day-{number}@lps"]
        start, end = event.decoded("dtstart"), event.decoded("dtend")
        assert start == datetime(day.year, day.month, day.day, 9, 0, tzinfo=COPENHAGEN)
        assert end == datetime(day.year, day.month, day.day, 16, 0, tzinfo=COPENHAGEN)
        assert event["dtstart"].params["TZID"] == "Europe/Copenhagen"
        assert str(start.tzinfo) == "Europe/Copenhagen"
        assert event.decoded("sequence") == 0
    assert str(calendar["version"]) == "2.0"
    assert str(calendar["method"]) == "PUBLISH"


def test_teaching_days_keep_nine_oclock_across_the_daylight_saving_change(wf: Workflow) -> None:
    # Summer time starts on Sunday 28 March 2027: day 2 is in winter, day 3 in summer time.
    make_cohort(wf)
    found = events(parse(wf.calendar("H1")))
    winter = found["H1-day-2@lps"].decoded("dtstart")
    summer = found["H1-day-3@lps"].decoded("dtstart")
    assert winter.utcoffset() == timedelta(hours=1)
    assert summer.utcoffset() == timedelta(hours=2)
    assert winter.astimezone(UTC) == datetime(2027, 3, 15, 8, 0, tzinfo=UTC)
    assert summer.astimezone(UTC) == datetime(2027, 3, 29, 7, 0, tzinfo=UTC)


def test_the_file_carries_a_copenhagen_vtimezone_with_both_offsets(wf: Workflow) -> None:
    make_cohort(wf)
    data = wf.calendar("H1")
    zones = parse(data).walk("VTIMEZONE")
    assert [str(z["tzid"]) for z in zones] == ["Europe/Copenhagen"]
    offsets = {
        (part.name, part.decoded("tzoffsetto"))
        for part in zones[0].subcomponents
        if part.name in ("STANDARD", "DAYLIGHT")
    }
    assert ("STANDARD", timedelta(hours=1)) in offsets
    assert ("DAYLIGHT", timedelta(hours=2)) in offsets
    assert b"\r\n" in data
    assert b"DTSTART;TZID=Europe/Copenhagen:20270329T090000" in data


def test_uids_are_stable_between_exports(wf: Workflow, clock: FixedClock) -> None:
    make_cohort(wf)
    person = enrol(wf)
    first = parse(wf.calendar("H1", str(person)))
    clock.set(datetime(2027, 2, 1, 12, 0))
    second = parse(wf.calendar("H1", "soren@example.dk"))
    assert sorted(events(first)) == sorted(events(second))
    assert first.walk("VEVENT")[0].decoded("dtstamp") != second.walk("VEVENT")[0].decoded("dtstamp")


def test_rescheduling_raises_the_sequence_and_moves_the_day(wf: Workflow) -> None:
    make_cohort(wf)
    person = enrol(wf)
    before = events(parse(wf.calendar("H1", str(person))))
    wf.reschedule("H1", 3, date(2027, 3, 31))
    after = events(parse(wf.calendar("H1", str(person))))
    assert sorted(after) == sorted(before)
    assert all(event.decoded("sequence") == 0 for event in before.values())
    assert all(event.decoded("sequence") == 1 for event in after.values())
    moved = after["H1-day-3@lps"].decoded("dtstart")
    assert moved == datetime(2027, 3, 31, 9, 0, tzinfo=COPENHAGEN)
    assert after["H1-day-2@lps"].decoded("dtstart") == before["H1-day-2@lps"].decoded("dtstart")

    wf.reschedule("H1", 4, date(2027, 4, 14))
    again = events(parse(wf.calendar("H1", str(person))))
    assert again["H1-day-4@lps"].decoded("sequence") == 2
    # The career visit is due on day 4: its deadline moved with the day.
    assert again[f"{person}-career_visit@lps"].decoded("dtstart") == date(2027, 4, 14)


def test_a_participant_calendar_has_their_deadlines_and_conversations(
    wf: Workflow, clock: FixedClock
) -> None:
    make_cohort(wf)
    person = enrol(wf)
    clock.set(datetime(2027, 1, 6, 10, 0))
    wf.advance(
        person, StepRequest("hold_manager_conversation", goals=("Tydelighed",), on=date(2027, 1, 5))
    )
    found = events(parse(wf.calendar("H1", str(person))))
    assert sorted(found) == sorted(
        [f"H1-day-{n}@lps" for n in range(1, 6)]
        + [
            f"{person}-manager_conversation@lps",
            f"{person}-jti@lps",
            f"{person}-career_visit@lps",
            f"{person}-speech@lps",
            f"{person}-manager_conversation-held@lps",
        ]
    )
    deadline = found[f"{person}-manager_conversation@lps"]
    assert str(deadline["summary"]) == "Frist: samtale med nærmeste leder"
    assert deadline.decoded("dtstart") == date(2027, 2, 15)
    assert deadline.decoded("dtend") == date(2027, 2, 16)
    assert str(deadline["description"]) == "Opfyldt 5.1.2027."
    jti = found[f"{person}-jti@lps"]
    assert jti.decoded("dtstart") == DAYS[1]
    assert str(jti["description"]) == "Endnu ikke opfyldt."
    held = found[f"{person}-manager_conversation-held@lps"]
    assert str(held["summary"]) == "Samtale med nærmeste leder (afholdt)"
    assert held.decoded("dtstart") == date(2027, 1, 5)

    clock.set(datetime(2027, 3, 1, 10, 0))
    wf.advance(person, StepRequest("invite_jti"))
    wf.advance(person, StepRequest("register_day"))
    wf.set_host(
        person, name="Hanne Vært", email="h@odense.dk", role="leader", municipality="Odense"
    )
    clock.set(datetime(2027, 3, 10, 10, 0))
    wf.advance(person, StepRequest("hold_career_visit"))
    wf.waive(person, "jti", "Besvaret på papir")
    found = events(parse(wf.calendar("H1", str(person))))
    visit = found[f"{person}-career_visit-held@lps"]
    assert str(visit["summary"]) == "Karrieresamtale (afholdt)"
    assert visit.decoded("dtstart") == date(2027, 3, 10)
    assert str(visit["description"]) == "Vært: Hanne Vært, Odense"
    assert str(found[f"{person}-jti@lps"]["description"]) == "Fritaget: Besvaret på papir"


def test_an_english_speaking_participant_gets_english_events(wf: Workflow) -> None:
    make_cohort(wf)
    person = enrol(wf, email="anna@example.dk", name="Anna Smith", language="en")
    found = events(parse(wf.calendar("H1", str(person))))
    assert str(found["H1-day-2@lps"]["summary"]) == "Leder på spring, day 2: You as a leader"
    assert str(found[f"{person}-jti@lps"]["summary"]) == "Deadline: answer the JTI questionnaire"


def test_a_participant_of_another_cohort_or_nobody_is_refused(wf: Workflow) -> None:
    make_cohort(wf)
    make_cohort(wf, "H2", days=tuple(d + timedelta(days=7) for d in DAYS))
    other = enrol(wf, email="bo@example.dk", cohort="H2")
    with pytest.raises(InvalidInput) as refused:
        wf.calendar("H1", str(other))
    assert str(refused.value) == f"participant #{other} (bo@example.dk) is in cohort H2, not H1"
    with pytest.raises(NotFound):
        wf.calendar("H1", "nobody@example.dk")
    with pytest.raises(NotFound):
        wf.calendar("NOPE")


def test_lps_calendar_writes_a_file_or_standard_output(
    lps: Cli, wf: Workflow, tmp_path: Path
) -> None:
    make_cohort(wf)
    person = enrol(wf)
    target = tmp_path / "hold.ics"
    written = lps("calendar", "H1", "--participant", str(person), "--output", str(target))
    assert written.exit_code == 0, written.output
    assert written.output == f"Wrote 9 events to {target}\n"
    assert len(events(parse(target.read_bytes()))) == 9

    printed = lps("calendar", "H1")
    assert printed.exit_code == 0
    assert len(events(parse(printed.stdout_bytes))) == 5

    missing = lps("calendar", "H1", "--participant", "nobody@example.dk")
    assert missing.exit_code == 1
    assert missing.output == (
        "Error: no participant with email 'nobody@example.dk'; see `lps participant list`\n"
    )
