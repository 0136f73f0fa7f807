from __future__ import annotations

# The programme's guards on their own: every guard refused with its exact message and
# passed when its rule holds, and why a trigger is not possible. No database.
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from programme_helpers import (
    ALL_MET,
    D1,
    D2,
    D3,
    D4,
    D5,
    EARLIER,
    FAR_HOST,
    HOST,
    LATER,
    PLAN,
    TODAY,
    at,
    days,
    sit,
)

from states.facts import Facts, Waiver
from states.programme import (
    ACTIVE_STATES,
    FINAL_STATES,
    PATH_ORDER,
    STATE_NAMES,
    TRANSITIONS,
    TRIGGERS,
    CohortPlan,
    Situation,
    StepArgs,
    normalise_trigger,
    not_possible_reason,
    refusals,
    transition_for,
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
