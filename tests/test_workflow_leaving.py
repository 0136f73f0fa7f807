from __future__ import annotations

# Leaving the path, on SQLite and PostgreSQL: withdrawal and deferral to a later cohort.
from datetime import date, timedelta

import pytest
from conftest import enrol, make_cohort
from engine_helpers import (
    D1,
    EARLIER_DAYS,
    INVITE_DAY,
    LATER_DAYS,
    drive,
    go,
    host,
    refused,
    snapshot,
    trail,
)
from helpers import on

from states.facts import Host
from states.programme import ACTIVE_STATES, TRIGGERS, replay
from workflow.clock import FixedClock
from workflow.engine import StepRequest, Workflow
from workflow.errors import InvalidInput, NotFound

# -- withdraw ---------------------------------------------------------------------------------


def test_withdraw_needs_a_reason(wf: Workflow, pid: int) -> None:
    before = snapshot(wf, pid)
    for reason in (None, "", "   "):
        assert refused(lambda r=reason: go(wf, pid, "withdraw", reason=r)).reasons == [
            "a reason is required"
        ]
    assert snapshot(wf, pid) == before


@pytest.mark.parametrize("state", ACTIVE_STATES)
def test_withdraw_works_from_every_active_state_and_nothing_works_after(
    wf: Workflow, clock: FixedClock, pid: int, state: str
) -> None:
    drive(wf, clock, pid, state)
    step = go(wf, pid, "withdraw", reason="Nyt job")
    assert [(e.event, e.from_state, e.to_state, e.note) for e in step.entries] == [
        ("withdraw", state, "withdrawn", "Nyt job")
    ]
    assert step.entries[0].data["notified"] == ["withdrawal_notice"]
    view = wf.participant(pid)
    assert view.state == "withdrawn"
    assert view.next_due is None
    assert view.overdue == []

    before = snapshot(wf, pid)
    for trigger in TRIGGERS:
        reasons = refused(
            lambda t=trigger: go(wf, pid, t, reason="x", goals=("x",), to="H1")
        ).reasons
        assert reasons == [
            f"{trigger} is not possible: the participant is withdrawn (withdrawn); "
            "the path has ended"
        ]
    assert "the participant is withdrawn; the path has ended" in (
        refused(lambda: wf.waive(pid, "speech", "x")).reasons
    )
    assert refused(lambda: host(wf, pid)).reasons == [
        "the participant is withdrawn; the path has ended"
    ]
    assert not any(t.possible for t in wf.triggers(pid))
    assert snapshot(wf, pid) == before


# -- defer ------------------------------------------------------------------------------------


def test_defer_before_day_one_moves_to_a_later_cohort(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    make_cohort(wf, "H2", days=LATER_DAYS)
    on(clock, date(2027, 1, 6))
    go(wf, pid, "hold_manager_conversation", goals=("Lede møder",), on=date(2027, 1, 5))
    host(wf, pid)
    on(clock, INVITE_DAY)
    go(wf, pid, "invite_jti")
    on(clock, D1 - timedelta(days=1))
    step = go(wf, pid, "defer", reason="Barsel", to="H2")
    assert [(e.event, e.from_state, e.to_state, e.note, e.data) for e in step.entries] == [
        ("defer", "jti_invited", "deferred", "Barsel", {"to": "H2"})
    ]
    old = wf.participant(pid)
    assert old.state == "deferred"
    assert old.cohort == "H1"
    assert old.next_due is None
    assert replay(trail(wf, pid)) == "deferred"

    new = wf.participant("soren@example.dk")
    assert new.id != pid
    assert new.cohort == "H2"
    assert new.state == "manager_conversation_held"
    assert new.facts.manager_conversation == date(2027, 1, 5)
    assert new.facts.goals == ("Lede møder",)
    assert new.facts.host == Host("Hanne Vært", "hanne@example.dk", "leader", "Odense")
    assert new.facts.jti_invited is None
    assert new.outstanding == ["jti", "career_visit", "attendance", "speech"]
    assert [(e.event, e.from_state, e.to_state, e.note, e.data) for e in wf.history(new.id)] == [
        ("enrol", None, "enrolled", f"deferred from cohort H1 (#{pid})", {"notified": ["welcome"]}),
        (
            "hold_manager_conversation",
            "enrolled",
            "manager_conversation_held",
            "passed through automatically: manager conversation recorded on 2027-01-05",
            {"automatic": True},
        ),
    ]
    assert wf.cohort("H1").by_state == {"deferred": 1}
    assert wf.cohort("H2").by_state == {"manager_conversation_held": 1}


def test_defer_without_a_conversation_starts_enrolled(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    make_cohort(wf, "H2", days=LATER_DAYS)
    go(wf, pid, "defer", reason="Travlt", to="H2")
    new = wf.participant("soren@example.dk")
    assert (new.cohort, new.state) == ("H2", "enrolled")
    assert trail(wf, new.id) == [("enrol", None, "enrolled")]


def test_defer_refusals(wf: Workflow, clock: FixedClock, pid: int) -> None:
    make_cohort(wf, "H0", days=EARLIER_DAYS)
    make_cohort(wf, "H2", days=LATER_DAYS)
    before = snapshot(wf, pid)
    assert refused(lambda: go(wf, pid, "defer")).reasons == [
        "a reason is required",
        "name the later cohort to move to",
    ]
    assert refused(lambda: go(wf, pid, "defer", reason="x", to="H0")).reasons == [
        "cohort H0 starts 2027-02-22, not after cohort H1 (2027-03-01)"
    ]
    assert refused(lambda: go(wf, pid, "defer", reason="x", to="H1")).reasons == [
        "cohort H1 starts 2027-03-01, not after cohort H1 (2027-03-01)"
    ]
    with pytest.raises(NotFound, match=r"^no cohort with code 'H9'; see `lps cohort list`$"):
        go(wf, pid, "defer", reason="x", to="H9")
    assert snapshot(wf, pid) == before

    drive(wf, clock, pid, "jti_completed")
    on(clock, D1)
    assert refused(lambda: go(wf, pid, "defer", reason="x", to="H2")).reasons == [
        "a deferral must come before teaching day 1 (2027-03-01)"
    ]
    go(wf, pid, "register_day")
    assert refused(lambda: go(wf, pid, "defer", reason="x", to="H2")).reasons == [
        "defer is not possible in state day_1; it is possible from enrolled, "
        "manager_conversation_held, jti_invited, jti_completed"
    ]
    assert wf.cohort("H2").participants == 0


def test_defer_to_a_cohort_the_participant_is_already_in_writes_nothing(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    make_cohort(wf, "H2", days=LATER_DAYS)
    enrol(wf, cohort="H2")
    before = snapshot(wf, pid)
    assert refused(lambda: go(wf, pid, "defer", reason="x", to="H2")).reasons == [
        "soren@example.dk is already enrolled in cohort H2"
    ]
    assert snapshot(wf, pid) == before
    assert wf.cohort("H2").participants == 1


def test_advance_cohort_refuses_defer(wf: Workflow, pid: int) -> None:
    with pytest.raises(
        InvalidInput, match=r"^defer moves one participant at a time; name the participant$"
    ):
        wf.advance_cohort("H1", StepRequest("defer", reason="x", to="H2"))
