from __future__ import annotations

# The programme's obligations and facts on their own. No database.
import dataclasses
from datetime import date, timedelta

import pytest
from programme_helpers import ALL_MET, D2, D3, D4, D5, HOST, PLAN, TODAY, days, sit

from states.facts import DayRecord, Facts, Waiver
from states.programme import (
    OBLIGATIONS,
    CohortPlan,
    apply_waiver,
    blocking_obligations,
    obligation_due,
    obligation_met,
    obligation_status,
    outstanding,
    unwaived_absences,
    waiver_refusal,
)

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
