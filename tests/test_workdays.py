"""Danish working days: public holidays from the holidays package, Store bededag only up to
2023, closure days of a programme or a cohort; reminders move off them, and a cohort cannot
put a teaching day on a holiday unless told to."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from cli_helpers import errors
from conftest import Cli
from helpers import fails, ok
from hypothesis import given
from hypothesis import strategies as st

from states.definition import BUILTIN_TOML, parse_definition
from states.programme import CohortPlan, compose
from states.rules import AFTER, AHEAD, certified_deadlines, cohort_deadlines
from states.workdays import holiday_name, is_working_day, working_day

ASCENSION_AND_WHITSUN = [
    # year, Kristi himmelfartsdag, Pinsedag, Anden pinsedag
    (2025, date(2025, 5, 29), date(2025, 6, 8), date(2025, 6, 9)),
    (2026, date(2026, 5, 14), date(2026, 5, 24), date(2026, 5, 25)),
    (2027, date(2027, 5, 6), date(2027, 5, 16), date(2027, 5, 17)),
    (2028, date(2028, 5, 25), date(2028, 6, 4), date(2028, 6, 5)),
    (2029, date(2029, 5, 10), date(2029, 5, 20), date(2029, 5, 21)),
    (2030, date(2030, 5, 30), date(2030, 6, 9), date(2030, 6, 10)),
]


@pytest.mark.parametrize(("year", "ascension", "whitsun", "whit_monday"), ASCENSION_AND_WHITSUN)
def test_ascension_and_whitsun_are_holidays_every_year(
    year: int, ascension: date, whitsun: date, whit_monday: date
) -> None:
    assert holiday_name(ascension) == "Kristi himmelfartsdag"
    assert holiday_name(whitsun) == "Pinsedag"
    assert holiday_name(whit_monday) == "Anden pinsedag"
    # A rule looking ahead to Thursday's holiday goes the Wednesday before; a follow-up due on
    # Anden pinsedag goes the Tuesday after.
    assert working_day(ascension, AHEAD) == ascension - timedelta(days=1)
    assert working_day(whit_monday, AFTER) == whit_monday + timedelta(days=1)
    assert working_day(whitsun, AHEAD) == whitsun - timedelta(days=2)


def test_store_bededag_is_a_holiday_up_to_2023_only() -> None:
    assert holiday_name(date(2023, 5, 5)) == "Store bededag"
    assert not is_working_day(date(2023, 5, 5))
    # The fourth Friday after Easter 2024 and 2027 is an ordinary working day.
    assert holiday_name(date(2024, 4, 26)) is None and is_working_day(date(2024, 4, 26))
    assert is_working_day(date(2027, 4, 23))


def test_a_reminder_due_on_kristi_himmelfartsdag_goes_the_wednesday_before_at_nine() -> None:
    # D4 is Monday 13 May 2027: D4-7 is Kristi himmelfartsdag (Thursday 6 May).
    plan = CohortPlan(
        "K27",
        (
            date(2027, 4, 5),
            date(2027, 4, 19),
            date(2027, 4, 28),
            date(2027, 5, 13),
            date(2027, 5, 27),
        ),
    )
    moments = {(m.rule, m.occurrence): m for m in cohort_deadlines(plan)}
    assert moments["career_visit_reminder", 0].due_at == datetime(2027, 5, 5, 7, tzinfo=UTC)


def test_a_follow_up_due_on_anden_pinsedag_goes_the_tuesday_after() -> None:
    plan = CohortPlan("P27", (date(2027, 1, 4),) * 5)
    # Certified Friday 16 April 2027: +30 is Sunday 16 May (Pinsedag), then Anden pinsedag.
    moments = {m.rule: m for m in certified_deadlines(date(2027, 4, 16), plan)}
    assert moments["closing_reminder"].due_at == datetime(2027, 5, 18, 7, tzinfo=UTC)


def test_closure_days_of_the_programme_and_of_the_cohort_are_days_off() -> None:
    text = BUILTIN_TOML.replace(
        "closure_days = []", "closure_days = [[2027-12-24, 2027-12-31], 2028-01-03]"
    )
    programme = compose(parse_definition(text))
    assert len(programme.definition.closures) == 9
    days = (
        date(2028, 1, 10),
        date(2028, 1, 24),
        date(2028, 2, 7),
        date(2028, 2, 21),
        date(2028, 3, 6),
    )
    plan = CohortPlan("J28", days, programme=programme)
    moments = {(m.rule, m.occurrence): m for m in cohort_deadlines(plan)}
    # D1-14 is Monday 27 December, in the Christmas closure: the working day before is
    # Thursday 23 December.
    assert moments["jti_invitation", 0].due_at == datetime(2027, 12, 23, 8, tzinfo=UTC)
    # The cohort closes Friday 7 January too: the day reminder for D1 goes on Thursday 6th.
    closed = CohortPlan("J28", days, programme=programme, closed=frozenset({date(2028, 1, 7)}))
    moments = {(m.rule, m.occurrence): m for m in cohort_deadlines(closed)}
    assert moments["day_reminder", 1].due_at == datetime(2028, 1, 6, 8, tzinfo=UTC)


@given(st.dates(date(2020, 1, 1), date(2035, 12, 31)), st.sampled_from([AHEAD, AFTER]))
def test_working_day_is_a_working_day_on_the_right_side(day: date, direction: str) -> None:
    moved = working_day(day, direction)
    assert is_working_day(moved)
    assert (moved <= day) if direction == AHEAD else (moved >= day)
    assert abs((moved - day).days) <= 5


DAYS_ON_ASCENSION = "2027-04-05,2027-04-19,2027-05-06,2027-05-20,2027-06-03"


def test_cohort_create_refuses_a_teaching_day_on_a_holiday_naming_it(lps: Cli) -> None:
    result = fails(lps, "cohort", "create", "H9", "--name", "Hold", "--days", DAYS_ON_ASCENSION)
    assert errors(result) == [
        "Error: 2027-05-06 is Kristi himmelfartsdag; add --allow-holiday to keep it"
    ]
    assert ok(lps, "cohort", "list", "--json").stdout.strip() == "[]"
    ok(
        lps,
        "cohort",
        "create",
        "H9",
        "--name",
        "Hold",
        "--days",
        DAYS_ON_ASCENSION,
        "--allow-holiday",
    )


def test_cohort_reschedule_refuses_a_holiday_unless_allowed(lps: Cli) -> None:
    ok(
        lps,
        "cohort",
        "create",
        "H9",
        "--name",
        "Hold",
        "--days",
        "2027-04-05,2027-04-19,2027-05-03,2027-05-20,2027-06-03",
    )
    result = fails(lps, "cohort", "reschedule", "H9", "--day", "4", "2027-05-17")
    assert errors(result) == ["Error: 2027-05-17 is Anden pinsedag; add --allow-holiday to keep it"]
    ok(lps, "cohort", "reschedule", "H9", "--day", "4", "2027-05-17", "--allow-holiday")


def test_a_cohort_closure_day_is_refused_as_a_teaching_day(lps: Cli, tmp_path: Path) -> None:
    result = fails(
        lps,
        "cohort",
        "create",
        "H9",
        "--name",
        "Hold",
        "--days",
        "2027-04-05,2027-04-19,2027-05-03,2027-05-20,2027-06-03",
        "--closure-day",
        "2027-05-03",
    )
    assert errors(result) == ["Error: 2027-05-03 is a closure day; add --allow-holiday to keep it"]
