from __future__ import annotations

# The programme definition on its own: guards, refusals, obligations, replay, pass-through and
# the diagram. No database.
import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from states import diagram
from states.facts import DayRecord, Facts, Host, Waiver
from states.programme import (
    ACTIVE_STATES,
    FINAL_STATES,
    INITIAL_STATE,
    LOCAL_TZ,
    OBLIGATIONS,
    PASS_THROUGHS,
    PATH_ORDER,
    STATE_BY_NAME,
    STATE_NAMES,
    STATES,
    TRANSITIONS,
    TRIGGERS,
    CohortPlan,
    Situation,
    StepArgs,
    apply_waiver,
    blocking_obligations,
    normalise_trigger,
    not_possible_reason,
    obligation_due,
    obligation_met,
    obligation_status,
    outstanding,
    pass_through_for,
    refusals,
    replay,
    transition_for,
    unwaived_absences,
    waiver_refusal,
)

D1, D2, D3, D4, D5 = (
    date(2027, 3, 1),
    date(2027, 3, 15),
    date(2027, 3, 29),
    date(2027, 4, 12),
    date(2027, 4, 26),
)
PLAN = CohortPlan("H1", (D1, D2, D3, D4, D5))
LATER = CohortPlan("H2", tuple(d + timedelta(days=91) for d in PLAN.days))
EARLIER = CohortPlan("H0", tuple(d - timedelta(days=7) for d in PLAN.days))
TODAY = date(2027, 1, 4)
HOST = Host("Hanne Vært", "hanne@example.dk", "leader", "Odense")
FAR_HOST = Host("Sven Vært", "sven@example.dk", "hr", "Svendborg")


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL_TZ)


def sit(
    state: str = "enrolled",
    facts: Facts | None = None,
    today: date = TODAY,
    *,
    now: datetime | None = None,
    plan: CohortPlan = PLAN,
    municipality: str = "Odense",
) -> Situation:
    return Situation(state, facts or Facts(), plan, municipality, now or at(today))


def days(*attended: bool) -> dict[int, DayRecord]:
    return {
        number: DayRecord(PLAN.day(number), flag, None if flag else "syg")
        for number, flag in enumerate(attended, start=1)
    }


ALL_MET = Facts(
    manager_conversation=date(2027, 2, 1),
    goals=("Lede møder",),
    jti_invited=date(2027, 2, 15),
    jti_completed=date(2027, 2, 20),
    days=days(True, True, True, True, True),
    host=HOST,
    career_visit=date(2027, 4, 1),
    speech=D5,
)


# -- every guard: refused with its exact message, passed when its rule holds ------------------


@dataclass(frozen=True)
class Case:
    guard: str
    situation: Situation
    args: StepArgs
    message: str | None  # None: the rule holds

    def __str__(self) -> str:
        return self.guard


def refuse(guard: str, situation: Situation, args: StepArgs, message: str) -> Any:
    return pytest.param(Case(guard, situation, args, message), id=f"{guard}-refuses")


def allow(guard: str, situation: Situation, args: StepArgs, label: str = "passes") -> Any:
    return pytest.param(Case(guard, situation, args, None), id=f"{guard}-{label}")


GUARD_CASES = [
    refuse(
        "at_least_one_goal",
        sit(),
        StepArgs(),
        "at least one learning goal is required",
    ),
    refuse(
        "at_least_one_goal",
        sit(),
        StepArgs(goals=("Lede møder", "  ")),
        "a learning goal cannot be empty",
    ),
    allow("at_least_one_goal", sit(), StepArgs(goals=("Lede møder",))),
    allow("at_least_one_goal", sit(), StepArgs(automatic=True), "automatic"),
    refuse(
        "date_not_in_future",
        sit(),
        StepArgs(on=date(2027, 1, 5)),
        "the date 2027-01-05 is in the future (today is 2027-01-04)",
    ),
    allow("date_not_in_future", sit(), StepArgs(on=TODAY), "today"),
    allow("date_not_in_future", sit(), StepArgs(), "no-date"),
    refuse(
        "date_not_in_future",
        sit(now=at(date(2027, 1, 4), 23, 59)),
        StepArgs(on=date(2027, 1, 5)),
        "the date 2027-01-05 is in the future (today is 2027-01-04)",
    ),
    refuse(
        "manager_conversation_not_recorded",
        sit(facts=Facts(manager_conversation=date(2027, 1, 3))),
        StepArgs(goals=("x",)),
        "the manager conversation is already recorded (on 2027-01-03)",
    ),
    allow("manager_conversation_not_recorded", sit(), StepArgs(goals=("x",))),
    refuse(
        "jti_send_window",
        sit(now=at(date(2027, 2, 14), 23, 59)),
        StepArgs(),
        "the JTI and articles go out from 2027-02-15 (14 days before day 1)",
    ),
    allow("jti_send_window", sit(now=at(date(2027, 2, 15), 0, 0)), StepArgs(), "from-d1-14"),
    allow("jti_send_window", sit(), StepArgs(early=True), "early"),
    refuse(
        "jti_invited",
        sit("day_1", today=D1),
        StepArgs(),
        "the JTI has not been sent yet (invite_jti)",
    ),
    allow("jti_invited", sit("jti_invited", Facts(jti_invited=date(2027, 2, 15)), D1), StepArgs()),
    refuse(
        "answered_after_invitation",
        sit("jti_invited", Facts(jti_invited=date(2027, 2, 15)), D1),
        StepArgs(on=date(2027, 2, 14)),
        "the JTI cannot be answered on 2027-02-14, before it was sent (2027-02-15)",
    ),
    allow(
        "answered_after_invitation",
        sit("jti_invited", Facts(jti_invited=date(2027, 2, 15)), D1),
        StepArgs(on=date(2027, 2, 15)),
    ),
    refuse(
        "jti_not_recorded",
        sit("day_1", Facts(jti_invited=date(2027, 2, 15), jti_completed=date(2027, 2, 16)), D1),
        StepArgs(),
        "the JTI answer is already recorded (on 2027-02-16)",
    ),
    allow(
        "jti_not_recorded",
        sit("day_1", Facts(jti_invited=date(2027, 2, 15)), D1),
        StepArgs(),
    ),
    refuse(
        "day_has_come",
        sit("jti_completed", now=at(D1 - timedelta(days=1), 23, 59)),
        StepArgs(),
        "teaching day 1 is on 2027-03-01; it can be registered from that date",
    ),
    refuse(
        "day_has_come",
        sit("day_3", Facts(days=days(True, True, True)), D4 - timedelta(days=1)),
        StepArgs(),
        "teaching day 4 is on 2027-04-12; it can be registered from that date",
    ),
    refuse(
        "day_has_come",
        sit("day_5", Facts(days=days(True, True, True, True, True)), D5),
        StepArgs(),
        "all five teaching days are already registered",
    ),
    allow("day_has_come", sit("jti_completed", now=at(D1, 0, 0)), StepArgs(), "on-the-day"),
    allow("day_has_come", sit("day_1", Facts(days=days(True)), D3), StepArgs(), "later"),
    refuse(
        "reason_for_absence",
        sit("jti_completed", today=D1),
        StepArgs(absent=True),
        "an absent day needs a reason",
    ),
    refuse(
        "reason_for_absence",
        sit("jti_completed", today=D1),
        StepArgs(absent=True, reason="   "),
        "an absent day needs a reason",
    ),
    allow("reason_for_absence", sit(today=D1), StepArgs(absent=True, reason="syg")),
    allow("reason_for_absence", sit(today=D1), StepArgs(), "attended"),
    refuse(
        "host_registered",
        sit("day_3", today=D3),
        StepArgs(),
        "no host is registered; register one with `lps host set` first",
    ),
    allow("host_registered", sit("day_3", Facts(host=HOST), D3), StepArgs()),
    refuse(
        "host_in_own_municipality",
        sit("day_3", Facts(host=FAR_HOST), D3),
        StepArgs(),
        "the host is in Svendborg, but the participant is in Odense: "
        "the career visit must be in the participant's own municipality",
    ),
    allow("host_in_own_municipality", sit("day_3", Facts(host=HOST), D3), StepArgs()),
    allow(
        "host_in_own_municipality",
        sit("day_3", Facts(host=HOST), D3, municipality=" ODENSE "),
        StepArgs(),
        "case-and-space-insensitive",
    ),
    refuse(
        "visit_from_day_one",
        sit("day_3", Facts(host=HOST), D3),
        StepArgs(on=D1 - timedelta(days=1)),
        "the career visit date 2027-02-28 is before teaching day 1 (2027-03-01)",
    ),
    refuse(
        "visit_from_day_one",
        sit("day_3", Facts(host=HOST), D1 - timedelta(days=1)),
        StepArgs(),
        "the career visit date 2027-02-28 is before teaching day 1 (2027-03-01)",
    ),
    allow("visit_from_day_one", sit("day_3", Facts(host=HOST), D3), StepArgs(on=D1)),
    refuse(
        "career_visit_not_recorded",
        sit("day_4", Facts(host=HOST, career_visit=date(2027, 3, 2)), D4),
        StepArgs(),
        "the career visit is already recorded (on 2027-03-02)",
    ),
    allow(
        "career_visit_not_recorded",
        sit("day_3", Facts(host=HOST, career_visit=date(2027, 3, 2)), D3),
        StepArgs(automatic=True),
        "automatic",
    ),
    refuse(
        "day_five_attended",
        sit("day_5", Facts(days=days(True, True, True, True, False)), D5),
        StepArgs(),
        "teaching day 5 is not registered as attended; the speech is given on day 5",
    ),
    refuse(
        "day_five_attended",
        sit("day_4", Facts(days=days(True, True, True, True)), D5),
        StepArgs(),
        "teaching day 5 is not registered as attended; the speech is given on day 5",
    ),
    allow(
        "day_five_attended",
        sit("day_5", Facts(days=days(True, False, True, True, True)), D5),
        StepArgs(),
    ),
    refuse(
        "speech_not_recorded",
        sit("day_5", Facts(days=days(True, True, True, True, True), speech=D5), D5),
        StepArgs(),
        "the speech is already recorded (on 2027-04-26)",
    ),
    allow(
        "speech_not_recorded",
        sit("day_5", Facts(days=days(True, True, True, True, True)), D5),
        StepArgs(),
    ),
    refuse(
        "obligations_met",
        sit("day_5", today=D5),
        StepArgs(),
        "obligations not met or waived: manager_conversation, jti, career_visit, "
        "attendance, speech",
    ),
    refuse(
        "obligations_met",
        sit("speech_delivered", ALL_MET.with_changes(career_visit=None, jti_completed=None), D5),
        StepArgs(),
        "obligations not met or waived: jti, career_visit",
    ),
    allow("obligations_met", sit("speech_delivered", ALL_MET, D5), StepArgs()),
    allow(
        "obligations_met",
        sit(
            "day_5",
            ALL_MET.with_changes(
                speech=None,
                career_visit=None,
                waivers={
                    "speech": Waiver(D5, "syg"),
                    "career_visit": Waiver(D5, "ingen vært"),
                },
            ),
            D5,
        ),
        StepArgs(),
        "waived",
    ),
    refuse(
        "after_certification",
        sit("certified", Facts(certified=D5), D5 + timedelta(days=3)),
        StepArgs(on=D5 - timedelta(days=1)),
        "the closing conversation date 2027-04-25 is before the certificate was issued "
        "(2027-04-26)",
    ),
    allow(
        "after_certification",
        sit("certified", Facts(certified=D5), D5 + timedelta(days=3)),
        StepArgs(on=D5),
    ),
    refuse(
        "sixty_days_after_certification",
        sit("certified", Facts(certified=D5), D5 + timedelta(days=59)),
        StepArgs(),
        "without a closing conversation the path completes on its own from 2027-06-25; "
        "hold it (hold_closing_conversation) or decline it (decline_closing_conversation)",
    ),
    refuse(
        "sixty_days_after_certification",
        sit("certified", Facts(), D5 + timedelta(days=90)),
        StepArgs(),
        "the participant is not certified",
    ),
    allow(
        "sixty_days_after_certification",
        sit("certified", Facts(certified=D5), now=at(D5 + timedelta(days=60), 0, 0)),
        StepArgs(),
    ),
    refuse("reason_required", sit(), StepArgs(), "a reason is required"),
    refuse("reason_required", sit(), StepArgs(reason=" \t"), "a reason is required"),
    allow("reason_required", sit(), StepArgs(reason="flytter")),
    refuse(
        "before_day_one",
        sit("jti_completed", now=at(D1, 0, 0)),
        StepArgs(reason="x", target=LATER),
        "a deferral must come before teaching day 1 (2027-03-01)",
    ),
    allow("before_day_one", sit(now=at(D1 - timedelta(days=1), 23, 59)), StepArgs()),
    refuse(
        "later_cohort",
        sit(),
        StepArgs(reason="x"),
        "name the later cohort to move to",
    ),
    refuse(
        "later_cohort",
        sit(),
        StepArgs(target=EARLIER),
        "cohort H0 starts 2027-02-22, not after cohort H1 (2027-03-01)",
    ),
    refuse(
        "later_cohort",
        sit(),
        StepArgs(target=PLAN),
        "cohort H1 starts 2027-03-01, not after cohort H1 (2027-03-01)",
    ),
    refuse(
        "later_cohort",
        sit(),
        StepArgs(target=CohortPlan("H1b", PLAN.days)),
        "cohort H1b starts 2027-03-01, not after cohort H1 (2027-03-01)",
    ),
    refuse(
        "later_cohort",
        sit(today=LATER.day(1)),
        StepArgs(target=LATER),
        "cohort H2 has already started (2027-05-31)",
    ),
    allow("later_cohort", sit(), StepArgs(target=LATER)),
]


GUARDS = {guard.name: guard for t in TRANSITIONS for guard in t.guards}


def test_every_guard_of_every_transition_has_cases() -> None:
    refused = {c.values[0].guard for c in GUARD_CASES if c.values[0].message is not None}
    passed = {c.values[0].guard for c in GUARD_CASES if c.values[0].message is None}
    assert refused == set(GUARDS)
    assert passed == set(GUARDS)


@pytest.mark.parametrize("case", GUARD_CASES)
def test_guard(case: Case) -> None:
    assert GUARDS[case.guard].check(case.situation, case.args) == case.message


def _failing_cases(guard: str) -> list[Case]:
    return [
        c.values[0]
        for c in GUARD_CASES
        if c.values[0].guard == guard and c.values[0].message is not None
    ]


TRANSITION_GUARDS = [
    pytest.param(t, source, guard.name, id=f"{t.trigger}-{source}-{guard.name}")
    for t in TRANSITIONS
    for source in t.sources
    for guard in t.guards
]


@pytest.mark.parametrize(("transition", "source", "guard"), TRANSITION_GUARDS)
def test_refusals_name_each_broken_guard_of_the_transition(
    transition: Any, source: str, guard: str
) -> None:
    for case in _failing_cases(guard):
        situation = Situation(
            source,
            case.situation.facts,
            case.situation.cohort,
            case.situation.municipality,
            case.situation.now,
        )
        assert case.message in refusals(transition.trigger, situation, case.args)


def _happy(trigger: str, source: str) -> tuple[Facts, datetime, StepArgs]:
    """A situation in which ``trigger`` from ``source`` breaks no rule."""
    registered = {
        "jti_invited": 0,
        "jti_completed": 0,
        "day_1": 1,
        "day_2": 2,
        "day_3": 3,
        "career_visit_held": 3,
        "day_4": 4,
        "day_5": 5,
        "speech_delivered": 5,
    }.get(source, 0)
    facts = Facts(jti_invited=date(2027, 2, 15), days=days(*[True] * registered), host=HOST)
    if trigger == "hold_manager_conversation":
        return Facts(), at(TODAY), StepArgs(goals=("Lede møder",))
    if trigger == "invite_jti":
        return Facts(), at(date(2027, 2, 15)), StepArgs()
    if trigger == "complete_jti":
        return facts, at(date(2027, 2, 20)) if registered == 0 else at(D5), StepArgs()
    if trigger == "register_day":
        return facts, at(PLAN.day(registered + 1)), StepArgs()
    if trigger == "hold_career_visit":
        return facts, at(D5), StepArgs(on=D2)
    if trigger == "deliver_speech":
        return facts, at(D5), StepArgs()
    if trigger == "certify":
        return ALL_MET, at(D5), StepArgs()
    if trigger == "hold_closing_conversation":
        return ALL_MET.with_changes(certified=D5), at(D5 + timedelta(days=10)), StepArgs()
    if trigger == "complete":
        return ALL_MET.with_changes(certified=D5), at(D5 + timedelta(days=60)), StepArgs()
    if trigger == "decline_closing_conversation":
        return ALL_MET.with_changes(certified=D5), at(D5 + timedelta(days=1)), StepArgs()
    if trigger == "withdraw":
        return Facts(), at(TODAY), StepArgs(reason="nyt job")
    if trigger == "defer":
        return Facts(), at(TODAY), StepArgs(reason="barsel", target=LATER)
    raise AssertionError(trigger)


TRANSITION_SOURCES = [
    pytest.param(t, source, id=f"{t.trigger}-{source}") for t in TRANSITIONS for source in t.sources
]


@pytest.mark.parametrize(("transition", "source"), TRANSITION_SOURCES)
def test_transition_passes_when_every_rule_holds(transition: Any, source: str) -> None:
    facts, now, args = _happy(transition.trigger, source)
    situation = Situation(source, facts, PLAN, "Odense", now)
    assert refusals(transition.trigger, situation, args) == []
    assert transition_for(transition.trigger, source) is transition


def test_a_refusal_names_every_broken_rule_in_order() -> None:
    situation = sit("jti_completed", today=D1)
    assert refusals("defer", situation, StepArgs(target=EARLIER)) == [
        "a reason is required",
        "a deferral must come before teaching day 1 (2027-03-01)",
        "cohort H0 starts 2027-02-22, not after cohort H1 (2027-03-01)",
    ]
    assert refusals(
        "hold_career_visit", sit("day_2", today=D2), StepArgs(on=D2 + timedelta(days=1))
    ) == [
        "no host is registered; register one with `lps host set` first",
        "the date 2027-03-16 is in the future (today is 2027-03-15)",
    ]


def test_unknown_trigger_is_refused_with_the_list_of_triggers() -> None:
    assert refusals("fly", sit(), StepArgs()) == [
        "unknown trigger 'fly'; choose one of: " + ", ".join(TRIGGERS)
    ]


def test_triggers_are_listed_once_in_programme_order() -> None:
    assert TRIGGERS == (
        "hold_manager_conversation",
        "invite_jti",
        "complete_jti",
        "register_day",
        "hold_career_visit",
        "deliver_speech",
        "certify",
        "hold_closing_conversation",
        "complete",
        "decline_closing_conversation",
        "withdraw",
        "defer",
    )


def test_kebab_case_and_capitals_are_normalised() -> None:
    assert normalise_trigger(" Register-Day ") == "register_day"
    assert normalise_trigger("career-visit") == "career_visit"


# -- not_possible_reason ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "state", "reason"),
    [
        (
            "complete_jti",
            "enrolled",
            "complete_jti is not possible in state enrolled; first: invite_jti (to reach "
            "jti_invited)",
        ),
        (
            "register_day",
            "manager_conversation_held",
            "register_day is not possible in state manager_conversation_held; first: invite_jti "
            "(to reach jti_invited)",
        ),
        (
            "hold_career_visit",
            "jti_completed",
            "hold_career_visit is not possible in state jti_completed; first: register_day (to "
            "reach day_1)",
        ),
        (
            "certify",
            "day_4",
            "certify is not possible in state day_4; first: register_day (to reach day_5)",
        ),
        (
            "deliver_speech",
            "career_visit_held",
            "deliver_speech is not possible in state career_visit_held; first: register_day (to "
            "reach day_5)",
        ),
        (
            "hold_closing_conversation",
            "speech_delivered",
            "hold_closing_conversation is not possible in state speech_delivered; first: certify "
            "(to reach certified)",
        ),
        (
            "decline_closing_conversation",
            "enrolled",
            "decline_closing_conversation is not possible in state enrolled; first: certify (to "
            "reach certified)",
        ),
        (
            "defer",
            "day_1",
            "defer is not possible in state day_1; it is possible from enrolled, "
            "manager_conversation_held, jti_invited, jti_completed",
        ),
        (
            "invite_jti",
            "jti_invited",
            "invite_jti is not possible in state jti_invited; it is possible from enrolled, "
            "manager_conversation_held",
        ),
        (
            "decline_closing_conversation",
            "closing_conversation_held",
            "decline_closing_conversation is not possible in state closing_conversation_held; "
            "it is possible from certified",
        ),
        (
            "withdraw",
            "withdrawn",
            "withdraw is not possible: the participant is withdrawn (withdrawn); the path has "
            "ended",
        ),
        (
            "register_day",
            "completed",
            "register_day is not possible: the participant is completed (completed); the path "
            "has ended",
        ),
        (
            "complete",
            "deferred",
            "complete is not possible: the participant is deferred (deferred); the path has ended",
        ),
    ],
)
def test_not_possible_reason(trigger: str, state: str, reason: str) -> None:
    assert not_possible_reason(trigger, state) == reason
    assert refusals(trigger, sit(state), StepArgs()) == [reason]


IMPOSSIBLE = [
    (trigger, state)
    for trigger in TRIGGERS
    for state in STATE_NAMES
    if transition_for(trigger, state) is None
]


@pytest.mark.parametrize(("trigger", "state"), IMPOSSIBLE)
def test_every_impossible_trigger_names_the_state_and_the_way_forward(
    trigger: str, state: str
) -> None:
    reason = not_possible_reason(trigger, state)
    assert reason.startswith(f"{trigger} is not possible")
    assert f"({state})" in reason or f"in state {state};" in reason
    sources = {s for t in TRANSITIONS if t.trigger == trigger for s in t.sources}
    if state in FINAL_STATES:
        assert reason.endswith("the path has ended")
    elif PATH_ORDER[state] < min(PATH_ORDER[s] for s in sources):
        # "first: X (to reach S)": S is where the trigger starts, and X leads there.
        hint = reason.split("first: ", 1)[1]
        needed, reach = hint.split(" (to reach ")
        reach = reach.rstrip(")")
        assert reach in sources
        for name in needed.split(" or "):
            assert any(t.dest == reach for t in TRANSITIONS if t.trigger == name)
    else:
        listed = reason.split("it is possible from ", 1)[1].split(", ")
        assert set(listed) == sources
        assert listed == sorted(listed, key=PATH_ORDER.__getitem__)


def test_every_trigger_is_possible_from_some_active_state_and_none_from_a_final_one() -> None:
    for trigger in TRIGGERS:
        assert any(transition_for(trigger, s) for s in ACTIVE_STATES), trigger
        assert not any(transition_for(trigger, s) for s in FINAL_STATES), trigger


def test_withdraw_is_possible_from_every_active_state_and_defer_only_before_day_one() -> None:
    assert {s for s in STATE_NAMES if transition_for("withdraw", s)} == set(ACTIVE_STATES)
    assert {s for s in STATE_NAMES if transition_for("defer", s)} == {
        "enrolled",
        "manager_conversation_held",
        "jti_invited",
        "jti_completed",
    }


def test_no_transition_moves_backwards() -> None:
    for t in TRANSITIONS:
        for source in t.sources:
            if t.dest is not None:
                assert PATH_ORDER[t.dest] > PATH_ORDER[source], (t.trigger, source)


def test_the_skips_of_the_programme() -> None:
    skips = {
        (t.trigger, source, t.dest, t.skip) for t in TRANSITIONS if t.skip for source in t.sources
    }
    assert skips == {
        ("invite_jti", "enrolled", "jti_invited", "manager_conversation"),
        ("register_day", "jti_invited", "day_1", "jti"),
        ("register_day", "day_3", "day_4", "career_visit"),
    }


def test_late_facts_are_recorded_without_moving() -> None:
    # A JTI answered after day 1, a career visit between day 1 and day 3, a manager
    # conversation after the invitation: each is possible and keeps the state.
    for trigger, state in [
        ("complete_jti", "day_1"),
        ("complete_jti", "speech_delivered"),
        ("hold_career_visit", "day_1"),
        ("hold_career_visit", "day_2"),
        ("hold_career_visit", "day_5"),
        ("hold_manager_conversation", "jti_invited"),
        ("hold_manager_conversation", "day_4"),
    ]:
        transition = transition_for(trigger, state)
        assert transition is not None and transition.dest is None, (trigger, state)


# -- obligations ------------------------------------------------------------------------------


def test_obligation_due_dates() -> None:
    assert {name: obligation_due(name, PLAN) for name in OBLIGATIONS} == {
        "manager_conversation": date(2027, 2, 15),
        "jti": D2,
        "career_visit": D4,
        "attendance": D5,
        "speech": D5,
    }
    with pytest.raises(KeyError):
        obligation_due("homework", PLAN)


def test_outstanding_lists_open_obligations_earliest_first() -> None:
    assert outstanding(Facts(), PLAN) == [
        ("manager_conversation", date(2027, 2, 15)),
        ("jti", D2),
        ("career_visit", D4),
        ("attendance", D5),
        ("speech", D5),
    ]
    assert outstanding(ALL_MET, PLAN) == []
    partly = ALL_MET.with_changes(
        jti_completed=None, waivers={"career_visit": Waiver(D4, "ingen vært")}, career_visit=None
    )
    assert outstanding(partly, PLAN) == [("jti", D2)]


@pytest.mark.parametrize(
    ("name", "facts", "status"),
    [
        ("manager_conversation", Facts(), "open"),
        ("manager_conversation", Facts(manager_conversation=TODAY), "met"),
        (
            "manager_conversation",
            Facts(waivers={"manager_conversation": Waiver(TODAY, "x")}),
            "waived",
        ),
        ("jti", Facts(jti_invited=TODAY), "open"),
        ("jti", Facts(jti_completed=TODAY), "met"),
        ("jti", Facts(waivers={"jti": Waiver(TODAY, "x")}), "waived"),
        ("career_visit", Facts(host=HOST), "open"),
        ("career_visit", Facts(career_visit=D2), "met"),
        ("career_visit", Facts(waivers={"career_visit": Waiver(TODAY, "x")}), "waived"),
        ("speech", Facts(), "open"),
        ("speech", Facts(speech=D5), "met"),
        ("speech", Facts(waivers={"speech": Waiver(D5, "x")}), "waived"),
        # a met obligation stays met even with a waiver on record
        ("jti", Facts(jti_completed=TODAY, waivers={"jti": Waiver(TODAY, "x")}), "met"),
    ],
)
def test_obligation_status(name: str, facts: Facts, status: str) -> None:
    assert obligation_status(name, facts, PLAN) == status


def _waived_attendance(records: dict[int, DayRecord], covered: int) -> Facts:
    return Facts(days=records, waivers={"attendance": Waiver(D2, "syg", covered)})


@pytest.mark.parametrize(
    ("facts", "max_absences", "status"),
    [
        pytest.param(Facts(days=days(True, True, True, True, True)), 0, "met", id="all-five"),
        pytest.param(Facts(days=days(True, True, True, True)), 0, "open", id="four-days"),
        pytest.param(Facts(days=days(True, False, True, True, True)), 0, "open", id="absent"),
        pytest.param(Facts(days=days(True, False, True, True, True)), 1, "met", id="allowed"),
        pytest.param(Facts(days=days(True, False, True, True)), 1, "open", id="allowed-not-done"),
        pytest.param(Facts(days=days(False, False, True, True, True)), 1, "open", id="two-of-one"),
        pytest.param(
            _waived_attendance(days(True, False, True, True, True), 1), 0, "waived", id="waived"
        ),
        pytest.param(
            _waived_attendance(days(True, False), 1), 0, "open", id="waived-before-day-five"
        ),
        pytest.param(
            _waived_attendance(days(True, False, False, True, True), 1),
            0,
            "open",
            id="absent-again-after-waiver",
        ),
        pytest.param(
            _waived_attendance(days(True, False, False, True, True), 1),
            1,
            "waived",
            id="second-absence-allowed",
        ),
        pytest.param(
            _waived_attendance(days(False, False, True, True, True), 2),
            1,
            "waived",
            id="waiver-beyond-allowance",
        ),
    ],
)
def test_attendance_status_with_absences_and_waivers(
    facts: Facts, max_absences: int, status: str
) -> None:
    plan = CohortPlan("H1", PLAN.days, max_absences=max_absences)
    assert obligation_status("attendance", facts, plan) == status
    assert (("attendance", D5) in outstanding(facts, plan)) == (status == "open")


def test_unwaived_absences() -> None:
    facts = Facts(days=days(True, False, False))
    assert unwaived_absences(facts) == 2
    assert unwaived_absences(apply_waiver("attendance", facts, "syg", D3)) == 0
    later = apply_waiver("attendance", facts, "syg", D3).with_changes(
        days=days(True, False, False, False)
    )
    assert unwaived_absences(later) == 1


@pytest.mark.parametrize(
    ("name", "facts", "max_absences", "message"),
    [
        (
            "homework",
            Facts(),
            0,
            "unknown obligation 'homework'; choose one of: manager_conversation, jti, "
            "career_visit, attendance, speech",
        ),
        (
            "jti",
            Facts(jti_completed=TODAY),
            0,
            "obligation jti is already met; there is nothing to waive",
        ),
        (
            "attendance",
            Facts(days=days(True, True, True, True, True)),
            0,
            "obligation attendance is already met; there is nothing to waive",
        ),
        (
            "attendance",
            Facts(days=days(True, True)),
            0,
            "obligation attendance has no absence to waive; register the absent day first",
        ),
        (
            "attendance",
            Facts(days=days(True, False)),
            1,
            "obligation attendance has no absence to waive; register the absent day first",
        ),
        (
            "attendance",
            _waived_attendance(days(True, False, True), 1),
            0,
            "obligation attendance has no absence to waive; register the absent day first",
        ),
        (
            "career_visit",
            Facts(waivers={"career_visit": Waiver(D4, "ingen vært")}),
            0,
            "obligation career_visit is already waived (ingen vært)",
        ),
    ],
)
def test_waiver_refusals(name: str, facts: Facts, max_absences: int, message: str) -> None:
    plan = CohortPlan("H1", PLAN.days, max_absences=max_absences)
    assert waiver_refusal(name, facts, plan) == message


@pytest.mark.parametrize(
    ("name", "facts", "max_absences"),
    [
        ("manager_conversation", Facts(), 0),
        ("jti", Facts(jti_invited=TODAY), 0),
        ("career_visit", Facts(), 0),
        ("speech", Facts(), 0),
        ("attendance", Facts(days=days(True, False)), 0),
        ("attendance", Facts(days=days(False, False)), 1),
        ("attendance", _waived_attendance(days(True, False, False), 1), 0),
    ],
)
def test_waiver_allowed(name: str, facts: Facts, max_absences: int) -> None:
    plan = CohortPlan("H1", PLAN.days, max_absences=max_absences)
    assert waiver_refusal(name, facts, plan) is None


def test_apply_waiver_records_date_reason_and_covered_absences() -> None:
    facts = Facts(days=days(True, False, False))
    waived = apply_waiver("attendance", facts, "hospitalsophold", D3)
    assert waived.waivers == {"attendance": Waiver(D3, "hospitalsophold", 2)}
    assert facts.waivers == {}  # the original is untouched
    assert (
        obligation_status(
            "attendance", waived.with_changes(days=days(True, False, False, True, True)), PLAN
        )
        == "waived"
    )


def test_obligation_met_ignores_waivers() -> None:
    waived = Facts(waivers={name: Waiver(TODAY, "x") for name in OBLIGATIONS})
    assert not any(obligation_met(name, waived, PLAN) for name in OBLIGATIONS)
    assert all(obligation_met(name, ALL_MET, PLAN) for name in OBLIGATIONS)


def test_blocking_obligations() -> None:
    assert blocking_obligations("certify", sit("day_5", today=D5)) == list(OBLIGATIONS)
    assert blocking_obligations("certify", sit("day_5", ALL_MET, D5)) == []
    assert blocking_obligations(
        "deliver_speech", sit("day_5", Facts(days=days(True, True, True, True, False)), D5)
    ) == ["attendance"]
    assert blocking_obligations("deliver_speech", sit("day_5", ALL_MET, D5)) == []
    assert blocking_obligations("withdraw", sit()) == []


# -- replay -----------------------------------------------------------------------------------

LEGAL_TRAIL = [
    ("enrol", None, "enrolled"),
    ("invite_jti", "enrolled", "jti_invited"),
    ("hold_manager_conversation", "jti_invited", "jti_invited"),
    ("register_day", "jti_invited", "day_1"),
    ("complete_jti", "day_1", "day_1"),
    ("set_host", "day_1", "day_1"),
    ("hold_career_visit", "day_1", "day_1"),
    ("register_day", "day_1", "day_2"),
    ("register_day", "day_2", "day_3"),
    ("hold_career_visit", "day_3", "career_visit_held"),
    ("register_day", "career_visit_held", "day_4"),
    ("register_day", "day_4", "day_5"),
    ("waive", "day_5", "day_5"),
    ("deliver_speech", "day_5", "speech_delivered"),
    ("certify", "speech_delivered", "certified"),
    ("hold_closing_conversation", "certified", "closing_conversation_held"),
    ("complete", "closing_conversation_held", "completed"),
]


def test_replay_accepts_a_legal_trail() -> None:
    assert replay(LEGAL_TRAIL) == "completed"
    assert replay(LEGAL_TRAIL[:4]) == "day_1"
    assert replay([]) is None
    assert replay([("enrol", None, "enrolled"), ("withdraw", "enrolled", "withdrawn")]) == (
        "withdrawn"
    )


@pytest.mark.parametrize(
    ("trail", "message"),
    [
        (
            [("register_day", None, "day_1")],
            "entry 1 (register_day) must enrol into enrolled",
        ),
        (
            [("enrol", None, "enrolled"), ("enrol", None, "enrolled")],
            "entry 2 (enrol) starts from None, expected enrolled",
        ),
        (
            [("enrol", None, "enrolled"), ("register_day", "enrolled", "day_1")],
            "entry 2: register_day cannot lead from enrolled to day_1",
        ),
        (
            [
                ("enrol", None, "enrolled"),
                ("hold_manager_conversation", "enrolled", "manager_conversation_held"),
                ("register_day", "jti_invited", "day_1"),
            ],
            "entry 3 (register_day) starts from jti_invited, expected manager_conversation_held",
        ),
        (
            [("enrol", None, "enrolled"), ("fly", "enrolled", "flying")],
            "entry 2 (fly) ends in unknown state 'flying'",
        ),
        (
            [("enrol", None, "enrolled"), ("withdraw", "enrolled", None)],
            "entry 2 (withdraw) ends in unknown state None",
        ),
        (
            [*LEGAL_TRAIL[:14], ("complete", "speech_delivered", "completed"), *LEGAL_TRAIL[14:]],
            "entry 15: complete cannot lead from speech_delivered to completed",
        ),
        (
            [
                ("enrol", None, "enrolled"),
                ("withdraw", "enrolled", "withdrawn"),
                ("withdraw", "withdrawn", "withdrawn"),
                ("register_day", "withdrawn", "day_1"),
            ],
            "entry 4: register_day cannot lead from withdrawn to day_1",
        ),
    ],
)
def test_replay_names_the_first_illegal_entry(
    trail: list[tuple[str, str | None, str | None]], message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        replay(trail)
    assert str(raised.value) == message


# -- pass-through -----------------------------------------------------------------------------


def test_early_career_visit_passes_through_day_three() -> None:
    facts = Facts(host=HOST, career_visit=date(2027, 3, 2), days=days(True, True, True))
    rule = pass_through_for(sit("day_3", facts, D3))
    assert rule is not None
    assert rule.trigger == "hold_career_visit"
    assert rule.note(sit("day_3", facts, D3)) == (
        "passed through automatically: career visit recorded on 2027-03-02"
    )
    situation = sit("day_3", facts, D3)
    assert refusals(rule.trigger, situation, StepArgs(automatic=True)) == []
    assert transition_for(rule.trigger, "day_3").dest == "career_visit_held"  # type: ignore[union-attr]


def test_no_pass_through_without_the_fact() -> None:
    assert pass_through_for(sit("day_3", Facts(host=HOST, days=days(True, True, True)), D3)) is None
    assert pass_through_for(sit("enrolled")) is None
    # a visit recorded on day 1 does not move the participant until day 3 is reached
    visited = Facts(host=HOST, career_visit=date(2027, 3, 2), days=days(True))
    assert pass_through_for(sit("day_1", visited, D1)) is None
    assert pass_through_for(sit("day_2", visited, D2)) is None


def test_recorded_manager_conversation_passes_through_enrolled() -> None:
    facts = Facts(manager_conversation=date(2027, 1, 3), goals=("x",))
    situation = sit("enrolled", facts)
    rule = pass_through_for(situation)
    assert rule is not None
    assert rule.trigger == "hold_manager_conversation"
    assert rule.note(situation) == (
        "passed through automatically: manager conversation recorded on 2027-01-03"
    )
    assert refusals(rule.trigger, situation, StepArgs(automatic=True)) == []


@pytest.mark.parametrize("state", ["day_5", "speech_delivered"])
def test_certified_automatically_when_every_obligation_is_met_or_waived(state: str) -> None:
    situation = sit(state, ALL_MET, D5)
    rule = pass_through_for(situation)
    assert rule is not None and rule.trigger == "certify"
    assert rule.note(situation) == "certified automatically: every obligation met or waived"
    waived = ALL_MET.with_changes(speech=None, waivers={"speech": Waiver(D5, "syg")})
    assert pass_through_for(sit(state, waived, D5)) is not None
    assert pass_through_for(sit(state, ALL_MET.with_changes(speech=None), D5)) is None
    assert pass_through_for(sit(state, ALL_MET.with_changes(jti_completed=None), D5)) is None


def test_every_pass_through_follows_a_real_arrow() -> None:
    for rule in PASS_THROUGHS:
        transition = transition_for(rule.trigger, rule.state)
        assert transition is not None and transition.dest is not None, rule


def test_no_pass_through_from_other_states() -> None:
    for state in STATE_NAMES:
        if state in {rule.state for rule in PASS_THROUGHS}:
            continue
        assert (
            pass_through_for(sit(state, ALL_MET.with_changes(manager_conversation=TODAY), D5))
            is None
        )


# -- facts ------------------------------------------------------------------------------------


def test_facts_survive_their_json_document() -> None:
    facts = ALL_MET.with_changes(
        days=days(True, False, True, True, True),
        certified=D5,
        closing_conversation=D5 + timedelta(days=30),
        agreements="Praktik i Q3",
        internship=True,
        waivers={"attendance": Waiver(D2, "syg", 1)},
    )
    doc = facts.to_json()
    assert doc["days"]["2"] == {"on": "2027-03-15", "attended": False, "reason": "syg"}
    assert doc["host"]["municipality"] == "Odense"
    assert doc["waivers"]["attendance"] == {
        "on": "2027-03-15",
        "reason": "syg",
        "absences_covered": 1,
    }
    assert Facts.from_json(doc) == facts
    assert Facts.from_json(None) == Facts()
    assert Facts().to_json() == {}
    assert facts.absences == 1


def test_the_engine_stores_only_that_the_jti_was_sent_and_answered() -> None:
    jti_fields = {f.name: f.type for f in dataclasses.fields(Facts) if "jti" in f.name}
    assert jti_fields == {"jti_invited": "date | None", "jti_completed": "date | None"}
    doc = ALL_MET.to_json()
    assert {key for key in doc if "jti" in key} == {"jti_invited", "jti_completed"}


# -- states and diagram -----------------------------------------------------------------------


def test_states_in_programme_order_with_danish_labels() -> None:
    assert [(s.name, s.label_da) for s in STATES] == [
        ("enrolled", "Tilmeldt"),
        ("manager_conversation_held", "Samtale med nærmeste leder afholdt"),
        ("jti_invited", "JTI og artikler udsendt"),
        ("jti_completed", "JTI besvaret"),
        ("day_1", "Undervisningsdag 1"),
        ("day_2", "Undervisningsdag 2"),
        ("day_3", "Undervisningsdag 3"),
        ("career_visit_held", "Karrieresamtale afholdt"),
        ("day_4", "Undervisningsdag 4"),
        ("day_5", "Undervisningsdag 5"),
        ("speech_delivered", "Lederindlæg holdt"),
        ("certified", "Kursusbevis udstedt"),
        ("closing_conversation_held", "Afsluttende samtale afholdt"),
        ("completed", "Afsluttet"),
        ("withdrawn", "Udmeldt"),
        ("deferred", "Udsat"),
    ]
    assert INITIAL_STATE == "enrolled"
    assert sorted(FINAL_STATES) == ["completed", "deferred", "withdrawn"]
    assert STATE_BY_NAME["certified"].label_da == "Kursusbevis udstedt"


@pytest.mark.parametrize("exits", [False, True])
def test_mermaid_mentions_every_state_and_danish_label(exits: bool) -> None:
    text = diagram.mermaid(exits)
    assert text.startswith("stateDiagram-v2\n")
    for state in STATES:
        assert f"    {state.name} : {state.label_da}\n" in text
    assert "    [*] --> enrolled : enrol\n" in text
    assert (
        "    enrolled --> jti_invited : invite_jti (skips manager_conversation) [timed]\n" in text
    )
    assert "    day_3 --> day_4 : register_day (skips career_visit)\n" in text
    assert "    speech_delivered --> certified : certify\n" in text
    for final in FINAL_STATES:
        assert f"    {final} --> [*]\n" in text
    assert ("    day_2 --> withdrawn : withdraw\n" in text) == exits
    assert ("    jti_completed --> deferred : defer\n" in text) == exits


@pytest.mark.parametrize("exits", [False, True])
def test_dot_mentions_every_state_and_danish_label(exits: bool) -> None:
    text = diagram.dot(exits)
    assert text.startswith("digraph leder_paa_spring {\n")
    assert text.endswith("}\n")
    for state in STATES:
        assert f'{state.name} [label="{state.label_da}\\n({state.name})"' in text
    assert '    jti_invited -> day_1 [label="register_day (skips jti)", style=dashed' in text
    assert '    certified -> completed [label="complete [timed]"' in text
    assert ('    certified -> withdrawn [label="withdraw"' in text) == exits


def test_every_state_changing_arrow_is_drawn() -> None:
    text = diagram.mermaid(True)
    for t in TRANSITIONS:
        if t.dest is None:
            continue
        for source in t.sources:
            assert f"    {source} --> {t.dest} : {t.trigger}" in text, (t.trigger, source)
