from __future__ import annotations

# The clock and the calendar at the edges: LPS_NOW and dates outside the supported years,
# wall-clock times that Copenhagen skips or shows twice, steps dated before the enrolment or
# before the participant's last recorded change, and a replay that says it is one.
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import Result
from conftest import DAYS, START, Cli, enrol, make_cohort
from helpers import one_line as one_error
from hypothesis import given
from hypothesis import strategies as st

from cli.params import DATE, DATE_LIST
from states.programme import LOCAL_TZ
from workflow.clock import FixedClock, parse_moment
from workflow.db import Database
from workflow.engine import StepRequest, Workflow
from workflow.errors import BulkRefused, GuardFailed, InvalidInput
from workflow.migrate import upgrade

DAYS_ARG = ",".join(day.isoformat() for day in DAYS)


@pytest.fixture
def lite(sqlite_url: str, tmp_path: Path) -> Cli:
    """The CLI on an initialised SQLite database."""
    upgrade(Database(sqlite_url))
    return Cli(sqlite_url, env={"LPS_MAIL_DIR": str(tmp_path / "mail")})


def at(cli: Cli, now: str) -> Cli:
    return Cli(cli.url, now=now, env=cli.env)


def usage_error(result: Result) -> str:
    """The ``Error:`` line of click's usage message (after its usage and help lines)."""
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.output
    return result.stderr.splitlines()[-1]


# -- LPS_NOW ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "message"),
    [
        ("gestern", "LPS_NOW must be an ISO date-time such as 2027-03-01T09:00, got 'gestern'"),
        (
            "2027-13-01T09:00",
            "LPS_NOW must be an ISO date-time such as 2027-03-01T09:00, got '2027-13-01T09:00'",
        ),
        ("0001-01-01T00:30", "LPS_NOW '0001-01-01T00:30' is outside the supported years 2000–2199"),
        ("9999-12-31T23:59", "LPS_NOW '9999-12-31T23:59' is outside the supported years 2000–2199"),
        (
            "2199-12-31T23:30-05:00",
            "LPS_NOW '2199-12-31T23:30-05:00' is outside the supported years 2000–2199",
        ),
        ("1999-12-31T12:00", "LPS_NOW '1999-12-31T12:00' is outside the supported years 2000–2199"),
        (
            "2027-03-28T02:30",
            "LPS_NOW 2027-03-28T02:30 does not exist in Copenhagen: clocks "
            "jump from 02:00 to 03:00",
        ),
        (
            "2027-10-31T02:30",
            "LPS_NOW 2027-10-31T02:30 happens twice in Copenhagen (clocks go "
            "back from 03:00 to 02:00); give the offset: 2027-10-31T02:30+02:00 for the first, "
            "2027-10-31T02:30+01:00 for the second",
        ),
    ],
)
@pytest.mark.parametrize("command", [("cohort", "list"), ("participant", "list"), ("remind",)])
def test_a_bad_lps_now_is_bad_usage_in_one_line(
    lite: Cli, now: str, message: str, command: tuple[str, ...]
) -> None:
    assert one_error(at(lite, now)(*command), 2) == f"Error: {message}"


def test_an_ambiguous_autumn_time_with_its_offset_is_that_moment(lite: Cli) -> None:
    for now in ("2027-10-31T02:30+02:00", "2027-10-31T02:30+01:00", "2027-03-28T03:00"):
        assert at(lite, now)("cohort", "list").exit_code == 0
    assert parse_moment("2027-10-31T02:30+02:00") == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    assert parse_moment("2027-10-31T02:30+01:00") == datetime(2027, 10, 31, 1, 30, tzinfo=UTC)
    assert parse_moment("2027-10-31T03:30") == datetime(2027, 10, 31, 2, 30, tzinfo=UTC)
    assert parse_moment("2027-03-28T03:00") == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)


def test_the_library_does_not_read_lps_now(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The face reads the environment and injects the clock; the engine takes what it is given.
    monkeypatch.setenv("LPS_NOW", "not a moment")
    wf = Workflow(database, actor="tester")
    assert abs(wf.now() - datetime.now(UTC)) < timedelta(minutes=5)


moments = st.one_of(
    st.text(),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
        lambda moment: moment.isoformat()
    ),
    st.builds(
        lambda moment, minutes: (
            moment.isoformat()
            + ("+" if minutes >= 0 else "-")
            + f"{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        ),
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
        st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
    ),
    st.from_regex(r"\A(1999|2000|2027|2199|2200)-(03|10)-(2[5-9]|3[01])T0[1-3]:[0-5]\d\Z"),
)


@given(moments)
def test_parse_moment_gives_an_aware_moment_in_range_or_one_clean_refusal(text: str) -> None:
    try:
        moment = parse_moment(text)
    except InvalidInput as refusal:
        assert "\n" not in str(refusal)
        return
    assert moment.tzinfo is not None
    assert 2000 <= moment.astimezone(LOCAL_TZ).year <= 2199


dates = st.one_of(
    st.text(),
    st.dates().map(date.isoformat),
    st.dates().map(lambda day: f"{day.day}.{day.month}.{day.year:04d}"),
    st.from_regex(r"\A\d{1,2}[.\-/]\d{1,2}[.\-/]\d{4}\Z"),
)


@given(dates)
def test_date_options_give_a_date_in_range_or_one_clean_usage_error(text: str) -> None:
    try:
        day = DATE.convert(text, None, None)
    except click.BadParameter as refusal:
        assert "\n" not in refusal.message
        return
    assert isinstance(day, date)
    assert 2000 <= day.year <= 2199


@given(st.lists(dates, max_size=9).map(",".join))
def test_date_lists_give_three_to_eight_dates_in_range_or_one_clean_usage_error(
    text: str,
) -> None:
    try:
        days = DATE_LIST.convert(text, None, None)
    except click.BadParameter as refusal:
        assert "\n" not in refusal.message
        return
    assert 3 <= len(days) <= 8
    assert all(2000 <= day.year <= 2199 for day in days)


# -- dates of teaching days and steps ---------------------------------------------------------


@pytest.mark.parametrize("bad", ["9999-03-01", "1999-12-31", "2200-01-01", "1.3.9999"])
def test_teaching_days_outside_the_supported_years_are_bad_usage(lite: Cli, bad: str) -> None:
    days = ",".join([bad, *DAYS_ARG.split(",")[1:]])
    result = lite("cohort", "create", "H1", "--name", "Hold", "--days", days, "--allow-holiday")
    assert usage_error(result) == (
        f"Error: Invalid value for '--days': '{bad}' is outside the supported years 2000–2199"
    )
    assert lite("cohort", "list", "--json").stdout.strip() == "[]"


def test_a_cohort_in_year_9999_is_refused_by_the_engine(wf: Workflow) -> None:
    days = [
        date(9999, 1, 4),
        date(9999, 1, 18),
        date(9999, 2, 1),
        date(9999, 2, 15),
        date(9999, 3, 1),
    ]
    with pytest.raises(InvalidInput) as refused:
        wf.create_cohort("FAR", name="Langt ude", days=days)
    assert str(refused.value) == (
        "teaching day 9999-01-04 is outside the supported years 2000–2199"
    )
    make_cohort(wf)
    with pytest.raises(InvalidInput) as refused:
        wf.reschedule("H1", 5, date(2200, 1, 5))
    assert str(refused.value) == (
        "teaching day 2200-01-05 is outside the supported years 2000–2199"
    )
    assert [c.code for c in wf.cohorts()] == ["H1"]


def test_a_step_dated_out_of_range_is_bad_usage(lite: Cli) -> None:
    assert (
        lite(
            "cohort", "create", "H1", "--name", "Hold", "--days", DAYS_ARG, "--allow-holiday"
        ).exit_code
        == 0
    )
    result = lite("advance", "1", "complete-jti", "--on", "0001-01-01")
    assert usage_error(result) == (
        "Error: Invalid value for '--on': '0001-01-01' is outside the supported years 2000–2199"
    )


def test_a_step_dated_before_the_enrolment_is_refused(wf: Workflow) -> None:
    make_cohort(wf)
    person = enrol(wf)
    before = wf.history(person)
    with pytest.raises(GuardFailed) as refused:
        wf.advance(
            person,
            StepRequest("hold_manager_conversation", goals=("Mod",), on=date(2027, 1, 3)),
        )
    assert refused.value.reasons == [
        "the date 2027-01-03 is before the participant was enrolled (2027-01-04)"
    ]
    assert wf.history(person) == before
    # the day of the enrolment itself is fine
    wf.advance(person, StepRequest("hold_manager_conversation", goals=("Mod",), on=START.date()))
    assert wf.participant(person).state == "manager_conversation_held"


def test_a_cohort_step_dated_before_an_enrolment_refuses_that_participant(
    wf: Workflow, clock: FixedClock
) -> None:
    make_cohort(wf)
    early = enrol(wf, "early@example.dk")
    clock.set(START + timedelta(days=3))
    late = enrol(wf, "late@example.dk")
    with pytest.raises(BulkRefused) as refused:
        wf.advance_cohort(
            "H1",
            StepRequest("hold_manager_conversation", goals=("Mod",), on=date(2027, 1, 5)),
        )
    assert refused.value.refusals == {
        f"late@example.dk (#{late})": [
            "the date 2027-01-05 is before the participant was enrolled (2027-01-07)"
        ]
    }
    assert wf.participant(early).state == "manager_conversation_held"
    assert wf.participant(late).state == "enrolled"


def test_the_cli_refuses_a_step_dated_before_the_enrolment(lite: Cli) -> None:
    assert (
        lite(
            "cohort", "create", "H1", "--name", "Hold", "--days", DAYS_ARG, "--allow-holiday"
        ).exit_code
        == 0
    )
    added = lite(
        "participant",
        "add",
        "H1",
        "--name",
        "Søren Ærø",
        "--email",
        "soren@example.dk",
        "--municipality",
        "Odense",
        "--manager-name",
        "Mette",
        "--manager-email",
        "mette@example.dk",
    )
    assert added.exit_code == 0, added.output
    result = lite("advance", "1", "hold-manager-conversation", "--goal", "Mod", "--on", "3.1.2027")
    assert one_error(result, 1) == (
        "Error: the date 2027-01-03 is before the participant was enrolled (2027-01-04)"
    )


# -- a trail in time order --------------------------------------------------------------------


def test_a_clock_set_back_is_refused_naming_both_moments(wf: Workflow, clock: FixedClock) -> None:
    make_cohort(wf)
    person = enrol(wf)
    clock.set(START + timedelta(days=2))
    wf.advance(person, StepRequest("hold_manager_conversation", goals=("Mod",)))
    trail = wf.history(person)
    clock.set(START + timedelta(days=1, hours=1))
    expected = (
        "this step's moment 2027-01-05T11:00:00+01:00 comes before participant "
        f"#{person}'s last recorded change (2027-01-06T10:00:00+01:00); a trail stays in time "
        "order: is the clock (LPS_NOW) set back?"
    )
    for attempt in (
        lambda: wf.advance(person, StepRequest("withdraw", reason="Nyt job")),
        lambda: wf.waive(person, "jti", "Fritaget"),
        lambda: wf.set_host(
            person, name="Hanne", email="hanne@odense.dk", role="leader", municipality="Odense"
        ),
        lambda: wf.advance(person, StepRequest("withdraw", reason="Nyt job"), dry_run=True),
    ):
        with pytest.raises(GuardFailed) as refused:
            attempt()
        assert refused.value.reasons == [expected]
    with pytest.raises(BulkRefused) as bulk:
        wf.advance_cohort("H1", StepRequest("withdraw", reason="Nyt job"))
    assert bulk.value.refusals == {f"soren@example.dk (#{person})": [expected]}
    assert wf.history(person) == trail
    assert wf.participant(person).state == "manager_conversation_held"
    # the same moment as the last entry, or any later one, is in order
    clock.set(START + timedelta(days=2))
    wf.advance(person, StepRequest("withdraw", reason="Nyt job"))
    moments = [entry.at for entry in wf.history(person)]
    assert moments == sorted(moments)


def test_the_cli_refuses_a_clock_set_back(lite: Cli) -> None:
    assert (
        lite(
            "cohort", "create", "H1", "--name", "Hold", "--days", DAYS_ARG, "--allow-holiday"
        ).exit_code
        == 0
    )
    later = at(lite, "2027-01-06T10:00")
    added = later(
        "participant",
        "add",
        "H1",
        "--name",
        "Søren Ærø",
        "--email",
        "soren@example.dk",
        "--municipality",
        "Odense",
        "--manager-name",
        "Mette",
        "--manager-email",
        "mette@example.dk",
    )
    assert added.exit_code == 0, added.output
    result = lite("advance", "1", "withdraw", "--reason", "Nyt job")
    assert one_error(result, 1) == (
        "Error: this step's moment 2027-01-04T10:00:00+01:00 comes before participant #1's "
        "last recorded change (2027-01-06T10:00:00+01:00); a trail stays in time order: "
        "is the clock (LPS_NOW) set back?"
    )
    history = json.loads(later("history", "1", "--format", "json").stdout)
    assert [entry["event"] for entry in history] == ["enrol"]


# -- a replay says so -------------------------------------------------------------------------


def _real_now(offset: timedelta) -> str:
    return (datetime.now(UTC) + offset).astimezone(LOCAL_TZ).isoformat(timespec="seconds")


def test_remind_in_a_replay_says_so_in_its_first_line(lite: Cli) -> None:
    # Relative to the real clock, so that the test means the same whatever day it runs.
    now = _real_now(-timedelta(days=30))
    replay = at(lite, now)
    result = replay("remind")
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"Replay: LPS_NOW is {now}, 30 days before the system clock ("), first
    assert first.endswith("); this sweep acts as if it were then.")
    as_json = replay("remind", "--json")
    assert as_json.exit_code == 0
    assert as_json.stderr.splitlines()[0].startswith(f"Replay: LPS_NOW is {now}, ")
    json.loads(as_json.stdout)
    dry = replay("remind", "--dry-run")
    assert dry.stdout.splitlines()[0].startswith(f"Replay: LPS_NOW is {now}, ")


@pytest.mark.parametrize("offset", [timedelta(days=3), timedelta(days=-400)])
def test_the_replay_line_says_how_far_and_which_way(lite: Cli, offset: timedelta) -> None:
    first = at(lite, _real_now(offset))("remind").stdout.splitlines()[0]
    way = "after" if offset > timedelta(0) else "before"
    assert f", {abs(offset).days} days {way} the system clock (" in first, first


@pytest.mark.parametrize("offset", [timedelta(hours=20), timedelta(hours=-20), None])
def test_remind_near_the_system_clock_has_no_replay_line(
    lite: Cli, offset: timedelta | None
) -> None:
    cli = at(lite, _real_now(offset) if offset is not None else "")
    result = cli("remind")
    assert result.exit_code == 0, result.output
    assert "Replay" not in result.output
