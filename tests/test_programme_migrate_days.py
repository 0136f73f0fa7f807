"""Moving a cohort to a version with another number of teaching days: the days a version adds
are given dates, the days it has no place for are kept for whoever stays, and a cohort can
hold participants on two versions at once. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

from conftest import DAYS, START, Cli, make_cohort
from engine_helpers import drive, go
from helpers import enrol_in_h1, fails, install_programme_text, ok, on
from hypothesis import given
from hypothesis import strategies as st
from programme_helpers import four_days_no_visit
from sqlalchemy import select

from states.definition import BUILTIN_TOML
from workflow.clock import FixedClock
from workflow.engine import Workflow
from workflow.errors import GuardFailed, InvalidInput
from workflow.moves import parse_days
from workflow.records import COHORTS
from workflow.verify import verify_audit

D1, D2, D3, D4, D5 = DAYS
D6 = date(2027, 5, 10)
WHIT_MONDAY = date(2027, 5, 17)


def six_days() -> str:
    """The built-in file with a sixth teaching day, on which the speech is given."""
    text = BUILTIN_TOML.replace('version = "leder-paa-spring/1"', 'version = "seks-dage/1"')
    text = text.replace(
        '[[day]]  # D5\ntheme = { da = "Min vej mod ledelse, fortsat", '
        'en = "My path to leadership, continued" }\n',
        '[[day]]  # D5\ntheme = { da = "Min vej mod ledelse, fortsat", '
        'en = "My path to leadership, continued" }\n\n'
        '[[day]]  # D6\ntheme = { da = "Lederindlæg", en = "Leadership speeches" }\n',
    )
    text = text.replace('at = "D5-7"\nexpires = "D5"', 'at = "D6-7"\nexpires = "D6"')
    text = text.replace('due = "D5"', 'due = "D6"')
    text = text.replace("alle fem dage", "alle seks dage").replace("all five days", "all six")
    return text.replace(
        "[state.speech_delivered]",
        '[state.day_6]\nlabel = { da = "Undervisningsdag 6", en = "Teaching day 6" }\n\n'
        "[state.speech_delivered]",
    )


def stored_days(wf: Workflow) -> list[date | None]:
    with wf.db.reading() as conn:
        row = conn.execute(select(COHORTS).where(COHORTS.c.code == "H1")).one()
    return [getattr(row, f"day_{n}") for n in range(1, 9)]


def test_to_four_days_the_fifth_is_kept_for_those_who_stay_and_a_way_back_finds_it(
    wf: Workflow, clock: FixedClock, tmp_path: Path
) -> None:
    make_cohort(wf)
    early, middle, late = enrol_in_h1(wf, "Anna", "Bo", "Carl")
    drive(wf, clock, middle, "day_2")
    clock.set(START)
    drive(wf, clock, late, "career_visit_held")
    install_programme_text(wf, tmp_path / "kort", four_days_no_visit())

    plan = wf.plan_migration("H1", "kort/1")
    assert (plan.from_days, plan.to_days) == (DAYS, DAYS[:4])
    outcome = {m.id: (m.outcome, m.reasons) for m in plan.participants}
    assert outcome[early][0] == outcome[middle][0] == "moves"
    assert outcome[late] == (
        "blocked",
        (
            "state career_visit_held has no place in kort/1; map it with "
            "--map career_visit_held=STATE",
            "a career visit is recorded (2027-03-29); kort/1 has none",
        ),
    )
    done = wf.apply_migration(plan.plan)
    assert (done.moved, [m.id for m in done.blocked]) == (2, [late])
    assert wf.cohort("H1").days == DAYS[:4]
    assert stored_days(wf)[:5] == list(DAYS)  # day 5 is still Carl's
    assert wf.participant(late).definition_version == "leder-paa-spring/1"

    # Each one's calendar has the teaching days of their own version.
    assert wf.calendar("H1", late).count(b"DTSTART;TZID=Europe/Copenhagen:20270426T") == 1
    assert wf.calendar("H1", middle).count(b"DTSTART;TZID=Europe/Copenhagen:20270426T") == 0

    # Bo finishes on four days, with the speech on day 4; Carl on his five.
    on(clock, D3)
    go(wf, middle, "register_day")
    on(clock, D4)
    go(wf, middle, "register_day")
    go(wf, late, "register_day")
    go(wf, middle, "deliver_speech")
    assert wf.participant(middle).state == "certified"
    assert {o.name: o.due for o in wf.participant(middle).obligations}["speech"] == D4
    assert {o.name: o.due for o in wf.participant(late).obligations}["speech"] == D5
    on(clock, D5)
    go(wf, late, "register_day")
    go(wf, late, "deliver_speech")
    assert wf.participant(late).state == "certified"

    # Back to five days: day 5 is where it was, and no --day is needed.
    back = wf.plan_migration("H1", "leder-paa-spring/1")
    assert back.to_days == DAYS
    assert {m.id: m.outcome for m in back.participants}[late] == "moves"
    assert (
        "already on leder-paa-spring/1"
        in next(m for m in back.participants if m.id == late).reasons[0]
    )
    report = verify_audit(wf.db)
    assert report.ok, report.problems


def test_to_six_days_the_sixth_needs_a_date_on_a_working_day(
    lps: Cli, wf: Workflow, clock: FixedClock, tmp_path: Path
) -> None:
    make_cohort(wf)
    (anna,) = enrol_in_h1(wf, "Anna")
    drive(wf, clock, anna, "day_5")
    install_programme_text(wf, tmp_path / "seks", six_days())
    lps.now = clock.now().isoformat()
    migrate = ("programme", "migrate", "--cohort", "H1", "--to", "seks-dage/1", "--dry-run")

    refused = fails(lps, *migrate)
    assert refused.stderr == (
        "Error: seks-dage/1 has 6 teaching days and cohort H1 has 5; give the new ones their "
        "dates with --day 6=YYYY-MM-DD\n"
    )
    holiday = fails(lps, *migrate, "--day", f"6={WHIT_MONDAY}")
    assert holiday.stderr == (
        "Error: 2027-05-17 is Anden pinsedag; add --allow-holiday to keep it\n"
    )
    assert fails(lps, *migrate, "--day", "6=2027-04-20").stderr == (
        "Error: day 6 (2027-04-20) must come after day 5 (2027-04-26)\n"
    )
    assert fails(lps, *migrate, "--day", "3=2027-05-10").stderr == (
        "Error: --day 3: day 3 of cohort H1 is 2027-03-29; move it with `lps cohort reschedule`\n"
    )
    assert fails(lps, *migrate, "--day", "6=10. maj").stderr == (
        "Error: --day '6=10. maj': '10. maj' is not a date (YYYY-MM-DD)\n"
    )

    dry = ok(lps, *migrate, "--day", f"6={D6}")
    assert "  teaching days: 5 → 6; day 6 on 2027-05-10\n" in dry.stdout
    plan = re.search(r"^Plan (\w+):", dry.stdout, re.M)
    assert plan is not None
    assert stored_days(wf)[5] is None  # a dry run changes nothing
    applied = ok(lps, "programme", "migrate", "--apply", plan.group(1), "--json")
    assert json.loads(applied.stdout)["moved"] == 1
    assert wf.cohort("H1").days == (*DAYS, D6)

    # Day 6 comes before the speech now.
    early = fails(lps, "advance", str(anna), "deliver_speech")
    assert early.stderr == (
        "Error: deliver_speech is not possible in state day_5; first: register_day "
        "(to reach day_6)\n"
    )
    on(clock, D6)
    go(wf, anna, "register_day")
    go(wf, anna, "deliver_speech")
    assert wf.participant(anna).state == "certified"
    assert ok(lps, "audit", "verify").exit_code == 0


def test_an_apply_with_blocked_participants_moves_the_others_and_exits_1(
    lps: Cli, wf: Workflow, clock: FixedClock, tmp_path: Path
) -> None:
    make_cohort(wf)
    anna, bo = enrol_in_h1(wf, "Anna", "Bo")
    drive(wf, clock, bo, "day_5")
    install_programme_text(wf, tmp_path / "kort", four_days_no_visit())
    lps.now = clock.now().isoformat()

    dry = fails(lps, "programme", "migrate", "--cohort", "H1", "--to", "kort/1", "--dry-run")
    assert dry.stderr == "Error: 1 of 2 participants are blocked\n"
    assert "  teaching days: 5 → 4; day 5 (2027-04-26) kept only for those who stay\n" in (
        dry.stdout
    )
    plan = re.search(r"^Plan (\w+):", dry.stdout, re.M)
    assert plan is not None
    applied = fails(lps, "programme", "migrate", "--apply", plan.group(1))
    assert applied.stdout == (
        f"Plan {plan.group(1)}: moved 1 participants of cohort H1 to kort/1; "
        "0 finished left as they were.\n"
    )
    assert applied.stderr == (
        f"Error: #{bo} bo@odense.dk stays on leder-paa-spring/1: state day_5 has no place in "
        "kort/1; map it with --map day_5=STATE; a career visit is recorded (2027-03-29); "
        "kort/1 has none; 5 teaching days are registered; kort/1 has 4\n"
    )
    assert wf.participant(anna).definition_version == "kort/1"
    assert wf.participant(bo).definition_version == "leder-paa-spring/1"
    listed = {p["version"]: p for p in json.loads(ok(lps, "programme", "list", "--json").stdout)}
    assert (listed["kort/1"]["cohorts"], listed["kort/1"]["participants"]) == (1, 1)
    assert (
        listed["leder-paa-spring/1"]["cohorts"],
        listed["leder-paa-spring/1"]["participants"],
    ) == (
        0,
        1,
    )
    mixed = fails(lps, "programme", "migrate", "--apply", plan.group(1), "--day", "6=2027-05-10",
                  code=2)  # fmt: skip
    assert mixed.stderr.endswith(
        "Error: --apply PLAN carries out the plan as the dry run made it; give it alone\n"
    )
    again = fails(lps, "programme", "migrate", "--apply", plan.group(1))
    assert again.stderr.startswith(f"Error: plan {plan.group(1)} was applied on ")
    assert again.stderr.endswith(" by tester; make a new dry run\n")


def test_a_reschedule_moves_each_participants_deadlines_by_their_own_version(
    wf: Workflow, clock: FixedClock, tmp_path: Path
) -> None:
    make_cohort(wf)
    anna, bo = enrol_in_h1(wf, "Anna", "Bo")
    drive(wf, clock, bo, "day_5")
    install_programme_text(wf, tmp_path / "kort", four_days_no_visit())
    clock.set(START)
    wf.apply_migration(wf.plan_migration("H1", "kort/1").plan)

    moved = D4 + timedelta(days=1)
    wf.reschedule("H1", 4, moved)
    speech = {o.name: o.due for o in wf.participant(anna).obligations}["speech"]
    assert speech == moved  # kort/1: the speech on day 4
    assert {o.name: o.due for o in wf.participant(bo).obligations}["speech"] == D5
    try:
        wf.reschedule("H1", 4, D5)
    except InvalidInput as refused:
        assert str(refused) == (
            "day 4 must come before 2027-04-26, day 5 of those still on a programme version "
            "with more days"
        )
    else:
        raise AssertionError("day 4 was moved onto the kept day 5")


def test_a_sixth_day_on_a_holiday_is_accepted_when_asked(
    wf: Workflow, clock: FixedClock, tmp_path: Path
) -> None:
    make_cohort(wf)
    install_programme_text(wf, tmp_path / "seks", six_days())
    try:
        wf.plan_migration("H1", "seks-dage/1", days=[f"6={WHIT_MONDAY}"])
    except GuardFailed as refused:
        assert "2027-05-17 is Anden pinsedag" in str(refused)
    else:
        raise AssertionError("a sixth day on Whit Monday was accepted")
    plan = wf.plan_migration("H1", "seks-dage/1", days=[f"6={WHIT_MONDAY}"], allow_holiday=True)
    wf.apply_migration(plan.plan)
    assert wf.cohort("H1").days[-1] == WHIT_MONDAY


@given(st.lists(st.text(max_size=14), max_size=4))
def test_any_day_option_is_numbered_dates_or_a_clear_refusal(pairs: list[str]) -> None:
    try:
        parsed = parse_days(pairs)
    except InvalidInput as refused:
        assert str(refused).startswith("--day "), str(refused)
        assert "\n" not in str(refused) and "\r" not in str(refused)
    else:
        assert len(parsed) == len(pairs)
        assert [n for n, _ in parsed] == sorted({n for n, _ in parsed})
        assert all(1 <= n <= 8 for n, _ in parsed)


@given(st.dictionaries(st.integers(1, 8), st.dates(date(2000, 1, 1), date(2099, 12, 31))))
def test_numbered_dates_come_back_as_given(days: dict[int, date]) -> None:
    pairs = [f"{n}={day.isoformat()}" for n, day in days.items()]
    assert parse_days(pairs) == tuple(sorted(days.items()))


def test_a_new_days_date_may_be_written_as_danes_write_it() -> None:
    assert parse_days(["6=10.5.2027", " 7 = 2027-05-24 "]) == ((6, D6), (7, date(2027, 5, 24)))
