from __future__ import annotations

# Replaying an audit trail, and the steps that pass through automatically. No database.
from datetime import date

import pytest
from programme_helpers import ALL_MET, D1, D2, D3, D5, HOST, TODAY, days, sit

from states.facts import Facts, Waiver
from states.programme import (
    PASS_THROUGHS,
    STATE_NAMES,
    StepArgs,
    pass_through_for,
    refusals,
    replay,
    transition_for,
)

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
