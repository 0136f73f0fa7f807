from __future__ import annotations

# The engine through its public API, on SQLite and PostgreSQL: paths, skips, late and early
# facts, waivers, refusals, deferral, locking, bulk steps and the audit chain.
import itertools
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from conftest import DAYS, START, enrol, make_cohort
from helpers import on
from sqlalchemy import select

from states.facts import Host
from states.programme import ACTIVE_STATES, TRIGGERS, StepArgs, replay
from workflow import kernel
from workflow.audit import GENESIS, entry_hash
from workflow.clock import FixedClock
from workflow.engine import StepRequest, StepResult, Workflow
from workflow.errors import BulkRefused, ConcurrentChange, GuardFailed, InvalidInput, NotFound
from workflow.records import AUDIT, PARTICIPANTS, ParticipantRow, Step, load_cohorts, write_steps

D1, D2, D3, D4, D5 = DAYS
INVITE_DAY = D1 - timedelta(days=14)  # 2027-02-15
LATER_DAYS = tuple(d + timedelta(days=91) for d in DAYS)  # from 2027-05-31
EARLIER_DAYS = tuple(d - timedelta(days=7) for d in DAYS)  # from 2027-02-22


def go(wf: Workflow, pid: int | str, trigger: str, **kw: Any) -> StepResult:
    return wf.advance(pid, StepRequest(trigger, **kw))


def host(wf: Workflow, pid: int, municipality: str = "Odense") -> None:
    wf.set_host(
        pid, name="Hanne Vært", email="hanne@example.dk", role="leader", municipality=municipality
    )


def trail(wf: Workflow, pid: int | str) -> list[tuple[str, str | None, str]]:
    return [(e.event, e.from_state, e.to_state) for e in wf.history(pid)]


def snapshot(wf: Workflow, pid: int) -> tuple[Any, ...]:
    view = wf.participant(pid)
    return view.state, view.version, view.facts, [e.as_json() for e in wf.history(pid)]


def refused(action: Callable[[], object]) -> GuardFailed:
    with pytest.raises(GuardFailed) as raised:
        action()
    return raised.value


# The programme in table order; each step takes the participant one state further.
PATH: list[tuple[str, Callable[[Workflow, FixedClock, int], object]]] = [
    (
        "manager_conversation_held",
        lambda wf, clock, pid: go(wf, pid, "hold_manager_conversation", goals=("Lede møder",)),
    ),
    ("jti_invited", lambda wf, clock, pid: (on(clock, INVITE_DAY), go(wf, pid, "invite_jti"))),
    ("jti_completed", lambda wf, clock, pid: go(wf, pid, "complete_jti")),
    ("day_1", lambda wf, clock, pid: (on(clock, D1), go(wf, pid, "register_day"))),
    ("day_2", lambda wf, clock, pid: (on(clock, D2), go(wf, pid, "register_day"))),
    ("day_3", lambda wf, clock, pid: (on(clock, D3), go(wf, pid, "register_day"))),
    (
        "career_visit_held",
        lambda wf, clock, pid: (host(wf, pid), go(wf, pid, "hold_career_visit")),
    ),
    ("day_4", lambda wf, clock, pid: (on(clock, D4), go(wf, pid, "register_day"))),
    ("day_5", lambda wf, clock, pid: (on(clock, D5), go(wf, pid, "register_day"))),
    ("certified", lambda wf, clock, pid: go(wf, pid, "deliver_speech")),
    (
        "closing_conversation_held",
        lambda wf, clock, pid: (
            on(clock, D5 + timedelta(days=20)),
            go(wf, pid, "hold_closing_conversation"),
        ),
    ),
    ("completed", lambda wf, clock, pid: go(wf, pid, "complete")),
]


def drive(wf: Workflow, clock: FixedClock, pid: int, target: str) -> None:
    """Walk a participant along the programme until it is in ``target``. ``speech_delivered``
    is reached by skipping the career visit, so that the speech does not certify."""
    if target == "enrolled":
        return
    for state, action in PATH:
        if target == "speech_delivered" and state == "career_visit_held":
            continue
        if target == "speech_delivered" and state == "certified":
            go(wf, pid, "deliver_speech")
            break
        action(wf, clock, pid)
        assert wf.participant(pid).state == state
        if state == target:
            break
    assert wf.participant(pid).state == target


@pytest.fixture
def pid(wf: Workflow) -> int:
    make_cohort(wf)
    return enrol(wf)


# -- the whole path ---------------------------------------------------------------------------


def test_whole_path_from_enrolment_to_completed(wf: Workflow, clock: FixedClock) -> None:
    make_cohort(wf)
    result = wf.enrol(
        "H1",
        name="Søren Ærø",
        email="Soren@Example.dk",
        municipality="Odense",
        manager_name="Mette Leder",
        manager_email="mette@example.dk",
    )
    pid = result.participant.id
    assert result.participant.state == "enrolled"
    assert result.participant.email == "soren@example.dk"
    assert [(e.event, e.from_state, e.to_state, e.data) for e in result.entries] == [
        ("enrol", None, "enrolled", {"notified": ["welcome"]})
    ]
    assert result.notifications == ["welcome → participant, manager"]

    step = go(wf, pid, "hold_manager_conversation", goals=(" Lede møder ", "Give feedback"))
    assert step.participant.state == "manager_conversation_held"
    assert step.participant.facts.goals == ("Lede møder", "Give feedback")
    assert step.participant.facts.manager_conversation == START.date()

    on(clock, INVITE_DAY, 9)
    step = go(wf, pid, "invite-jti")
    assert step.entries[0].data == {"notified": ["jti_invitation"]}
    assert step.participant.facts.jti_invited == INVITE_DAY

    on(clock, INVITE_DAY + timedelta(days=3))
    assert go(wf, pid, "complete_jti").participant.state == "jti_completed"

    for number, day in enumerate((D1, D2, D3), start=1):
        on(clock, day)
        step = go(wf, pid, "register_day")
        assert step.participant.state == f"day_{number}"
        assert step.entries[0].data == {"day": number, "attended": True}

    host(wf, pid)
    on(clock, D3 + timedelta(days=5))
    assert go(wf, pid, "hold_career_visit").participant.state == "career_visit_held"

    on(clock, D4)
    assert go(wf, pid, "register_day").participant.state == "day_4"
    on(clock, D5)
    assert go(wf, pid, "register_day").participant.state == "day_5"

    step = go(wf, pid, "deliver_speech")
    assert step.participant.state == "certified"
    assert [(e.event, e.from_state, e.to_state, e.note, e.data) for e in step.entries] == [
        ("deliver_speech", "day_5", "speech_delivered", None, {}),
        (
            "certify",
            "speech_delivered",
            "certified",
            "certified automatically: every obligation met or waived",
            {"automatic": True, "notified": ["certificate"]},
        ),
    ]
    assert step.notifications == ["certificate → participant, manager"]
    assert step.participant.outstanding == []
    assert step.participant.facts.certified == D5

    on(clock, D5 + timedelta(days=30))
    step = go(
        wf,
        pid,
        "hold_closing_conversation",
        on=D5 + timedelta(days=28),
        note="Praktik i efteråret",
        internship=True,
    )
    assert step.participant.state == "closing_conversation_held"
    entry = step.entries[0]
    assert entry.note == "Praktik i efteråret"
    assert entry.data == {"on": "2027-05-24", "internship": True}
    assert step.participant.facts.agreements == "Praktik i efteråret"
    assert step.participant.facts.internship is True

    assert go(wf, pid, "complete").participant.state == "completed"
    assert trail(wf, "soren@example.dk") == [
        ("enrol", None, "enrolled"),
        ("hold_manager_conversation", "enrolled", "manager_conversation_held"),
        ("invite_jti", "manager_conversation_held", "jti_invited"),
        ("complete_jti", "jti_invited", "jti_completed"),
        ("register_day", "jti_completed", "day_1"),
        ("register_day", "day_1", "day_2"),
        ("register_day", "day_2", "day_3"),
        ("set_host", "day_3", "day_3"),
        ("hold_career_visit", "day_3", "career_visit_held"),
        ("register_day", "career_visit_held", "day_4"),
        ("register_day", "day_4", "day_5"),
        ("deliver_speech", "day_5", "speech_delivered"),
        ("certify", "speech_delivered", "certified"),
        ("hold_closing_conversation", "certified", "closing_conversation_held"),
        ("complete", "closing_conversation_held", "completed"),
    ]
    assert replay(trail(wf, pid)) == "completed"
    assert {e.actor for e in wf.history(pid)} == {"tester"}
    view = wf.participant(pid)
    assert view.facts.completed == D5 + timedelta(days=30)
    assert view.next_due is None
    assert all(o.status == "met" for o in view.obligations)


# -- skips ------------------------------------------------------------------------------------


def test_invite_jti_from_enrolled_leaves_manager_conversation_outstanding(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    on(clock, INVITE_DAY)
    step = go(wf, pid, "invite_jti")
    assert [(e.event, e.from_state, e.to_state) for e in step.entries] == [
        ("invite_jti", "enrolled", "jti_invited")
    ]
    view = wf.participant(pid)
    assert view.state == "jti_invited"
    assert view.outstanding[0] == "manager_conversation"
    conversation = {o.name: o for o in view.obligations}["manager_conversation"]
    assert (conversation.status, conversation.due, conversation.overdue) == (
        "open",
        INVITE_DAY,
        False,
    )

    on(clock, INVITE_DAY + timedelta(days=1))
    conversation = {o.name: o for o in wf.participant(pid).obligations}["manager_conversation"]
    assert conversation.overdue
    assert [v.id for v in wf.participants(overdue=True)] == [pid]

    # recorded late, with its real date: the participant stays where they are
    step = go(
        wf, pid, "hold_manager_conversation", goals=("Lede møder",), on=INVITE_DAY - timedelta(2)
    )
    assert [(e.event, e.from_state, e.to_state, e.data) for e in step.entries] == [
        ("hold_manager_conversation", "jti_invited", "jti_invited", {"on": "2027-02-13"})
    ]
    view = wf.participant(pid)
    assert view.state == "jti_invited"
    assert "manager_conversation" not in view.outstanding
    assert view.facts.manager_conversation == date(2027, 2, 13)
    assert wf.participants(overdue=True) == []


def test_invite_jti_before_the_window_needs_early(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    reasons = refused(lambda: go(wf, pid, "invite_jti")).reasons
    assert reasons == ["the JTI and articles go out from 2027-02-15 (14 days before day 1)"]
    step = go(wf, pid, "invite_jti", early=True)
    assert step.participant.state == "jti_invited"
    assert step.entries[0].data == {"early": True, "notified": ["jti_invitation"]}


def test_day_one_from_jti_invited_leaves_jti_outstanding_and_a_late_answer_stays_put(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    go(wf, pid, "hold_manager_conversation", goals=("Lede møder",))
    on(clock, INVITE_DAY)
    go(wf, pid, "invite_jti")
    on(clock, D1)
    step = go(wf, pid, "register_day")
    assert [(e.event, e.from_state, e.to_state) for e in step.entries] == [
        ("register_day", "jti_invited", "day_1")
    ]
    assert step.participant.outstanding[0] == "jti"

    on(clock, D1 + timedelta(days=3))
    assert refused(lambda: go(wf, pid, "complete_jti", on=INVITE_DAY - timedelta(1))).reasons == [
        "the JTI cannot be answered on 2027-02-14, before it was sent (2027-02-15)"
    ]
    step = go(wf, pid, "complete_jti", on=D1 + timedelta(days=2))
    assert [(e.event, e.from_state, e.to_state, e.data) for e in step.entries] == [
        ("complete_jti", "day_1", "day_1", {"on": "2027-03-03"})
    ]
    view = wf.participant(pid)
    assert view.state == "day_1"
    assert "jti" not in view.outstanding
    assert view.facts.jti_completed == date(2027, 3, 3)
    on(clock, D2)
    assert go(wf, pid, "register_day").participant.state == "day_2"


def test_day_four_from_day_three_leaves_career_visit_outstanding(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    drive(wf, clock, pid, "day_3")
    on(clock, D4)
    step = go(wf, pid, "register_day")
    assert [(e.event, e.from_state, e.to_state) for e in step.entries] == [
        ("register_day", "day_3", "day_4")
    ]
    assert step.participant.outstanding == ["career_visit", "attendance", "speech"]

    host(wf, pid)
    step = go(wf, pid, "hold_career_visit", on=D4 - timedelta(days=1))
    assert [(e.event, e.from_state, e.to_state, e.data) for e in step.entries] == [
        ("hold_career_visit", "day_4", "day_4", {"on": "2027-04-11"})
    ]
    assert wf.participant(pid).state == "day_4"
    assert wf.participant(pid).outstanding == ["attendance", "speech"]


def test_early_career_visit_passes_through_when_day_three_is_registered(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    drive(wf, clock, pid, "day_1")
    assert refused(lambda: go(wf, pid, "hold_career_visit")).reasons == [
        "no host is registered; register one with `lps host set` first"
    ]
    host(wf, pid)
    on(clock, D1 + timedelta(days=2))
    assert refused(lambda: go(wf, pid, "hold_career_visit", on=D1 - timedelta(1))).reasons == [
        "the career visit date 2027-02-28 is before teaching day 1 (2027-03-01)"
    ]
    step = go(wf, pid, "hold_career_visit", on=D1 + timedelta(days=1))
    assert [(e.event, e.from_state, e.to_state) for e in step.entries] == [
        ("hold_career_visit", "day_1", "day_1")
    ]
    on(clock, D2)
    step = go(wf, pid, "register_day")
    assert [(e.event, e.to_state) for e in step.entries] == [("register_day", "day_2")]

    on(clock, D3)
    step = go(wf, pid, "register_day")
    assert step.participant.state == "career_visit_held"
    assert [(e.event, e.from_state, e.to_state, e.note, e.data) for e in step.entries] == [
        ("register_day", "day_2", "day_3", None, {"day": 3, "attended": True}),
        (
            "hold_career_visit",
            "day_3",
            "career_visit_held",
            "passed through automatically: career visit recorded on 2027-03-02",
            {"automatic": True},
        ),
    ]
    history = wf.history(pid)
    assert history[-1].data == {"automatic": True}
    assert "automatically" in (history[-1].note or "")
    assert wf.participant(pid).facts.career_visit == date(2027, 3, 2)
    on(clock, D4)
    assert go(wf, pid, "register_day").participant.state == "day_4"


def test_recorded_facts_are_refused_a_second_time(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    drive(wf, clock, pid, "day_1")
    host(wf, pid)
    go(wf, pid, "hold_career_visit")
    assert refused(lambda: go(wf, pid, "hold_career_visit")).reasons == [
        "the career visit is already recorded (on 2027-03-01)"
    ]
    assert refused(lambda: go(wf, pid, "complete_jti")).reasons == [
        "the JTI answer is already recorded (on 2027-02-15)"
    ]


# -- absence and waivers ----------------------------------------------------------------------


def test_absent_day_then_waived_attendance_certifies_after_the_speech(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    drive(wf, clock, pid, "day_1")
    on(clock, D2)
    assert refused(lambda: go(wf, pid, "register_day", absent=True)).reasons == [
        "an absent day needs a reason"
    ]
    step = go(wf, pid, "register_day", absent=True, reason="Syg")
    assert step.participant.state == "day_2"
    assert [(e.event, e.note, e.data) for e in step.entries] == [
        ("register_day", "Syg", {"day": 2, "attended": False, "notified": ["absence_notice"]})
    ]
    assert step.notifications == ["absence_notice → participant, manager"]

    step = wf.waive(pid, "attendance", "  Indlagt på hospitalet ")
    assert [(e.event, e.from_state, e.to_state, e.note, e.data) for e in step.entries] == [
        ("waive", "day_2", "day_2", "Indlagt på hospitalet", {"obligation": "attendance"})
    ]
    assert wf.participant(pid).state == "day_2"
    # the waiver covers the absence; attendance is settled once all five days are registered
    assert "attendance" in wf.participant(pid).outstanding

    for state, action in PATH[5:9]:
        action(wf, clock, pid)
        assert wf.participant(pid).state == state
    view = wf.participant(pid)
    assert view.outstanding == ["speech"]
    attendance = {o.name: o for o in view.obligations}["attendance"]
    assert (attendance.status, attendance.waiver_reason) == ("waived", "Indlagt på hospitalet")

    step = go(wf, pid, "deliver_speech")
    assert step.participant.state == "certified"
    assert [(e.event, e.data.get("automatic")) for e in step.entries] == [
        ("deliver_speech", None),
        ("certify", True),
    ]


def test_an_absence_after_the_waiver_opens_attendance_again(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    drive(wf, clock, pid, "day_1")
    on(clock, D2)
    go(wf, pid, "register_day", absent=True, reason="Syg")
    wf.waive(pid, "attendance", "Syg")
    assert refused(lambda: wf.waive(pid, "attendance", "igen")).reasons == [
        "obligation attendance has no absence to waive; register the absent day first"
    ]
    on(clock, D3)
    go(wf, pid, "register_day", absent=True, reason="Barn syg")
    host(wf, pid)
    go(wf, pid, "hold_career_visit")
    on(clock, D4)
    go(wf, pid, "register_day")
    on(clock, D5)
    go(wf, pid, "register_day")
    step = go(wf, pid, "deliver_speech")
    assert step.participant.state == "speech_delivered"
    assert step.participant.outstanding == ["attendance"]
    error = refused(lambda: go(wf, pid, "certify"))
    assert error.reasons == ["obligations not met or waived: attendance"]
    assert error.obligations == ["attendance"]
    step = wf.waive(pid, "attendance", "Barn syg")
    assert [(e.event, e.to_state) for e in step.entries] == [
        ("waive", "speech_delivered"),
        ("certify", "certified"),
    ]


def test_absences_within_the_cohort_allowance_need_no_waiver(
    wf: Workflow, clock: FixedClock
) -> None:
    make_cohort(wf, max_absences=1)
    pid = enrol(wf)
    drive(wf, clock, pid, "day_1")
    on(clock, D2)
    go(wf, pid, "register_day", absent=True, reason="Syg")
    assert refused(lambda: wf.waive(pid, "attendance", "x")).reasons == [
        "obligation attendance has no absence to waive; register the absent day first"
    ]
    on(clock, D3)
    go(wf, pid, "register_day")
    host(wf, pid)
    go(wf, pid, "hold_career_visit")
    on(clock, D4)
    go(wf, pid, "register_day")
    on(clock, D5)
    go(wf, pid, "register_day")
    assert go(wf, pid, "deliver_speech").participant.state == "certified"


def test_absent_on_day_five_no_speech_and_certified_once_both_are_waived(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    drive(wf, clock, pid, "day_4")
    on(clock, D5)
    go(wf, pid, "register_day", absent=True, reason="Syg")
    error = refused(lambda: go(wf, pid, "deliver_speech"))
    assert error.reasons == [
        "teaching day 5 is not registered as attended; the speech is given on day 5"
    ]
    assert error.obligations == ["attendance"]
    wf.waive(pid, "attendance", "Syg på dag 5")
    assert wf.participant(pid).state == "day_5"
    step = wf.waive(pid, "speech", "Holdt talen skriftligt")
    assert [(e.event, e.from_state, e.to_state, e.note) for e in step.entries] == [
        ("waive", "day_5", "day_5", "Holdt talen skriftligt"),
        (
            "certify",
            "day_5",
            "certified",
            "certified automatically: every obligation met or waived",
        ),
    ]


def test_waiver_refusals(wf: Workflow, clock: FixedClock, pid: int) -> None:
    before = snapshot(wf, pid)
    assert refused(lambda: wf.waive(pid, "jti", "  ")).reasons == ["a reason is required"]
    assert refused(lambda: wf.waive(pid, "homework", "x")).reasons == [
        "unknown obligation 'homework'; choose one of: manager_conversation, jti, "
        "career_visit, attendance, speech"
    ]
    go(wf, pid, "hold_manager_conversation", goals=("x",))
    assert refused(lambda: wf.waive(pid, "manager-conversation", "x")).reasons == [
        "obligation manager_conversation is already met; there is nothing to waive"
    ]
    wf.waive(pid, "career-visit", "Ingen vært i kommunen")
    assert refused(lambda: wf.waive(pid, "career_visit", "igen")).reasons == [
        "obligation career_visit is already waived (Ingen vært i kommunen)"
    ]
    assert before[1] + 2 == wf.participant(pid).version


def test_certify_is_refused_naming_the_unmet_obligations(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    go(wf, pid, "hold_manager_conversation", goals=("x",))
    on(clock, INVITE_DAY)
    go(wf, pid, "invite_jti")
    for day in (D1, D2, D3, D4, D5):
        on(clock, day)
        go(wf, pid, "register_day")
    assert wf.participant(pid).state == "day_5"
    go(wf, pid, "deliver_speech")
    before = snapshot(wf, pid)
    assert before[0] == "speech_delivered"
    error = refused(lambda: go(wf, pid, "certify"))
    assert error.reasons == ["obligations not met or waived: jti, career_visit"]
    assert error.obligations == ["jti", "career_visit"]
    assert str(error) == "obligations not met or waived: jti, career_visit"
    assert snapshot(wf, pid) == before

    step = wf.waive(pid, "jti", "Udbyder nede")
    assert step.participant.state == "speech_delivered"
    step = wf.waive(pid, "career_visit", "Ingen vært")
    assert step.participant.state == "certified"
    assert wf.history(pid)[-1].data == {"automatic": True, "notified": ["certificate"]}


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


# -- the end of the path ----------------------------------------------------------------------


def test_decline_closing_conversation(wf: Workflow, clock: FixedClock, pid: int) -> None:
    drive(wf, clock, pid, "certified")
    on(clock, D5 + timedelta(days=10))
    step = go(wf, pid, "decline-closing-conversation")
    assert [(e.event, e.from_state, e.to_state) for e in step.entries] == [
        ("decline_closing_conversation", "certified", "completed")
    ]
    view = wf.participant(pid)
    assert view.state == "completed"
    assert view.facts.closing_declined == D5 + timedelta(days=10)
    assert view.facts.completed == D5 + timedelta(days=10)
    assert view.next_due is None


def test_decline_is_only_possible_from_certified(wf: Workflow, clock: FixedClock, pid: int) -> None:
    drive(wf, clock, pid, "closing_conversation_held")
    assert refused(lambda: go(wf, pid, "decline_closing_conversation")).reasons == [
        "decline_closing_conversation is not possible in state closing_conversation_held; "
        "it is possible from certified"
    ]


def test_complete_from_certified_waits_sixty_days(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    drive(wf, clock, pid, "certified")
    assert wf.participant(pid).facts.certified == D5
    on(clock, D5 + timedelta(days=59), 23)
    before = snapshot(wf, pid)
    assert refused(lambda: go(wf, pid, "complete")).reasons == [
        "without a closing conversation the path completes on its own from 2027-06-25; "
        "hold it (hold_closing_conversation) or decline it (decline_closing_conversation)"
    ]
    assert snapshot(wf, pid) == before
    on(clock, D5 + timedelta(days=60), 0)
    step = go(wf, pid, "complete")
    assert [(e.event, e.from_state, e.to_state) for e in step.entries] == [
        ("complete", "certified", "completed")
    ]
    assert wf.participant(pid).facts.completed == D5 + timedelta(days=60)


def test_closing_conversation_not_before_the_certificate(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    drive(wf, clock, pid, "certified")
    on(clock, D5 + timedelta(days=5))
    assert refused(
        lambda: go(wf, pid, "hold_closing_conversation", on=D5 - timedelta(days=1))
    ).reasons == [
        "the closing conversation date 2027-04-25 is before the certificate was issued (2027-04-26)"
    ]
    assert refused(
        lambda: go(wf, pid, "hold_closing_conversation", on=D5 + timedelta(days=6))
    ).reasons == ["the date 2027-05-02 is in the future (today is 2027-05-01)"]
    step = go(wf, pid, "hold_closing_conversation", on=D5, internship=False)
    assert step.entries[0].data == {"on": "2027-04-26", "internship": False}
    assert step.participant.facts.internship is False


# -- enrolment and cohorts --------------------------------------------------------------------


def test_enrol_refused_from_day_one(wf: Workflow, clock: FixedClock) -> None:
    make_cohort(wf)
    on(clock, D1 - timedelta(days=1), 23)
    enrol(wf, "early@example.dk")
    on(clock, D1, 0)
    assert refused(lambda: enrol(wf, "late@example.dk")).reasons == [
        "cohort H1 started on 2027-03-01; enrolment closes before teaching day 1"
    ]
    assert [v.email for v in wf.participants()] == ["early@example.dk"]


def test_enrol_refuses_a_duplicate_email_in_the_cohort_case_insensitively(
    wf: Workflow,
) -> None:
    make_cohort(wf)
    make_cohort(wf, "H2", days=LATER_DAYS)
    first = enrol(wf, "soren@example.dk")
    before = snapshot(wf, first)
    assert refused(lambda: enrol(wf, " Soren@EXAMPLE.dk ")).reasons == [
        "soren@example.dk is already enrolled in cohort H1"
    ]
    assert snapshot(wf, first) == before
    assert len(wf.participants(cohort="H1")) == 1
    # the same person may be enrolled in another cohort
    other = enrol(wf, "Soren@Example.dk", cohort="H2")
    assert wf.participant(other).email == "soren@example.dk"


@pytest.mark.parametrize(
    ("details", "reasons"),
    [
        (
            {"email": "soren.example.dk"},
            ["the participant's email is not a valid email address: 'soren.example.dk' has no @"],
        ),
        (
            {"email": "soren@example"},
            [
                "the participant's email is not a valid email address: 'soren@example' has no "
                "dot after the @"
            ],
        ),
        (
            {"email": "a b@example.dk"},
            [
                "the participant's email is not a valid email address: 'a b@example.dk' has ' ' "
                "before the @"
            ],
        ),
        ({"email": ""}, ["the participant's email is missing"]),
        (
            {"manager_email": "mette"},
            ["the manager's email is not a valid email address: 'mette' has no @"],
        ),
        ({"manager_name": "  "}, ["the manager's name is missing"]),
        ({"municipality": ""}, ["the municipality is missing"]),
        ({"name": ""}, ["the participant's name is missing"]),
        ({"language": "sv"}, ["the language is unknown ('sv'); use da or en"]),
        (
            {"email": "x", "municipality": " ", "manager_name": "", "manager_email": ""},
            [
                "the participant's email is not a valid email address: 'x' has no @",
                "the municipality is missing",
                "the manager's name is missing",
                "the manager's email is missing",
            ],
        ),
    ],
)
def test_enrol_refusals_name_every_broken_rule(
    wf: Workflow, details: dict[str, str], reasons: list[str]
) -> None:
    make_cohort(wf)
    values = {
        "name": "Søren Ærø",
        "email": "soren@example.dk",
        "municipality": "Odense",
        "manager_name": "Mette Leder",
        "manager_email": "mette@example.dk",
        **details,
    }
    assert refused(lambda: wf.enrol("H1", **values)).reasons == reasons
    assert wf.participants() == []
    assert wf.cohort("H1").participants == 0


def test_enrol_names_a_duplicate_email_along_with_the_other_broken_rules(wf: Workflow) -> None:
    make_cohort(wf)
    enrol(wf)
    assert refused(lambda: enrol(wf, municipality="")).reasons == [
        "the municipality is missing",
        "soren@example.dk is already enrolled in cohort H1",
    ]


def test_enrol_in_an_unknown_cohort(wf: Workflow) -> None:
    with pytest.raises(NotFound) as raised:
        enrol(wf, cohort="H9")
    assert str(raised.value) == "no cohort with code 'H9'; see `lps cohort list`"


@pytest.mark.parametrize(
    ("days", "message"),
    [
        (
            (D1, D3, D2, D4, D5),
            "teaching days must be five strictly increasing dates; "
            "2027-03-15 does not come after 2027-03-29",
        ),
        (
            (D1, D2, D2, D4, D5),
            "teaching days must be five strictly increasing dates; "
            "2027-03-15 does not come after 2027-03-15",
        ),
        ((D1, D2, D3, D4), "a cohort has five teaching days; got 4"),
    ],
)
def test_cohort_days_must_increase(wf: Workflow, days: tuple[date, ...], message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        make_cohort(wf, days=days)
    assert str(raised.value) == message
    assert wf.cohorts() == []


def test_cohort_refusals(wf: Workflow) -> None:
    make_cohort(wf)
    with pytest.raises(InvalidInput, match=r"^cohort H1 already exists; choose another code$"):
        make_cohort(wf, days=LATER_DAYS)
    with pytest.raises(InvalidInput, match=r"^the absences allowed must be between 0 and 4$"):
        make_cohort(wf, "H2", max_absences=5)
    with pytest.raises(
        InvalidInput, match=r"^the admin email is not a valid email address: 'kursus' has no @$"
    ):
        make_cohort(wf, "H2", admin_email="kursus")
    assert [c.code for c in wf.cohorts()] == ["H1"]
    assert wf.cohort("H1").days == DAYS


def test_reschedule_moves_the_day_and_the_pending_reminders(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    rule, due = wf.participant(pid).next_due  # type: ignore[misc]
    assert rule == "manager_conversation_reminder"
    assert due == datetime(2027, 2, 8, 8, 0, tzinfo=due.tzinfo)  # D1-21 at 09:00 Copenhagen
    view = wf.reschedule("H1", 1, date(2027, 3, 8))
    assert view.days[0] == date(2027, 3, 8)
    rule, due = wf.participant(pid).next_due  # type: ignore[misc]
    assert (rule, due.isoformat()) == ("manager_conversation_reminder", "2027-02-15T08:00:00+00:00")
    with pytest.raises(InvalidInput) as raised:
        wf.reschedule("H1", 2, date(2027, 3, 1))
    assert str(raised.value) == (
        "teaching days must be five strictly increasing dates; "
        "2027-03-01 does not come after 2027-03-08"
    )
    assert wf.cohort("H1").days[1] == D2


# -- hosts ------------------------------------------------------------------------------------


def test_host_in_another_municipality_is_refused(wf: Workflow, clock: FixedClock, pid: int) -> None:
    before = snapshot(wf, pid)
    assert refused(lambda: host(wf, pid, municipality="Svendborg")).reasons == [
        "the host is in Svendborg, but the participant is in Odense: "
        "the career visit must be in the participant's own municipality"
    ]
    assert snapshot(wf, pid) == before
    assert wf.participant(pid).facts.host is None
    assert refused(
        lambda: wf.set_host(pid, name=" ", email="nope", role="boss", municipality="Odense")
    ).reasons == [
        "the host's name is missing",
        "the host's email is not a valid email address: 'nope' has no @",
        "the host's role must be one of leader, hr",
    ]
    view = wf.set_host(
        pid, name="Hanne", email="hanne@example.dk", role="hr", municipality=" ODENSE "
    )
    assert view.facts.host == Host("Hanne", "hanne@example.dk", "hr", "ODENSE")
    assert wf.history(pid)[-1].as_json() | {"at": None} == {
        "seq": 2,
        "at": None,
        "actor": "tester",
        "event": "set_host",
        "from_state": "enrolled",
        "to_state": "enrolled",
        "note": None,
        "data": {"role": "hr"},
    }


# -- refusals write nothing -------------------------------------------------------------------


def test_a_refusal_writes_nothing(wf: Workflow, clock: FixedClock, pid: int) -> None:
    go(wf, pid, "hold_manager_conversation", goals=("x",))
    before = snapshot(wf, pid)
    attempts: list[Callable[[], object]] = [
        lambda: go(wf, pid, "register_day"),
        lambda: go(wf, pid, "invite_jti"),
        lambda: go(wf, pid, "certify"),
        lambda: go(wf, pid, "hold_manager_conversation", goals=("y",)),
        lambda: go(wf, pid, "complete_jti"),
        lambda: go(wf, pid, "withdraw"),
    ]
    for attempt in attempts:
        with pytest.raises(GuardFailed):
            attempt()
        assert snapshot(wf, pid) == before
    with pytest.raises(GuardFailed) as raised:
        go(wf, pid, "fly")
    assert raised.value.reasons[0].startswith("unknown trigger 'fly'; choose one of: ")
    assert snapshot(wf, pid) == before


def test_dry_run_writes_nothing(wf: Workflow, clock: FixedClock, pid: int) -> None:
    before = snapshot(wf, pid)
    result = wf.advance(pid, StepRequest("withdraw", reason="x"), dry_run=True)
    assert result.dry_run
    assert result.participant.state == "withdrawn"
    assert [(e.event, e.to_state) for e in result.entries] == [("withdraw", "withdrawn")]
    assert snapshot(wf, pid) == before


def test_unknown_participant(wf: Workflow, pid: int) -> None:
    with pytest.raises(NotFound, match=r"^no participant with id 99; see `lps participant list`$"):
        go(wf, 99, "withdraw", reason="x")
    with pytest.raises(
        NotFound, match=r"^no participant with email 'nobody@example.dk'; see `lps participant"
    ):
        wf.history("nobody@example.dk")


# -- optimistic locking -----------------------------------------------------------------------


def test_a_write_on_a_stale_read_raises_concurrent_change(
    wf: Workflow, database: Any, clock: FixedClock, pid: int
) -> None:
    other = Workflow(database, clock=clock, actor="other")

    def change(step: Step) -> list[str]:
        # between our read and our write, the other administrator records the conversation
        other.advance(pid, StepRequest("hold_manager_conversation", goals=("x",)))
        return kernel.fire(wf.runtime, step, "withdraw", StepArgs(reason="Nyt job"))

    with pytest.raises(ConcurrentChange) as raised:
        kernel.change(wf.runtime, pid, change)
    assert str(raised.value) == (
        f"participant #{pid} was changed by someone else at the same time; "
        "nothing was written; try again"
    )
    view = wf.participant(pid)
    assert view.state == "manager_conversation_held"
    assert view.version == 2
    assert [(e.event, e.actor) for e in wf.history(pid)] == [
        ("enrol", "tester"),
        ("hold_manager_conversation", "other"),
    ]
    # read again, the step goes through
    assert go(wf, pid, "withdraw", reason="Nyt job").participant.state == "withdrawn"


def test_write_steps_reports_a_stale_step_and_writes_none_of_it(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    with wf.db.reading() as conn:
        row = ParticipantRow.from_row(
            conn.execute(select(PARTICIPANTS).where(PARTICIPANTS.c.id == pid)).one()
        )
        cohort = load_cohorts(conn, {row.cohort_id})[row.cohort_id]
    go(wf, pid, "hold_manager_conversation", goals=("x",))  # someone else, after our read
    before = snapshot(wf, pid)

    stale = Step(row, cohort, wf.now(), "stale")
    stale.state = "withdrawn"
    stale.record("withdraw", row.state, "withdrawn", note="stale")
    with wf.db.transaction() as conn:
        assert write_steps(conn, [stale]) == [stale]
    assert snapshot(wf, pid) == before

    stale = Step(row, cohort, wf.now(), "stale")
    stale.record("set_host", row.state, row.state)
    with pytest.raises(ConcurrentChange), wf.db.transaction() as conn:
        kernel.write(conn, [stale])
    assert snapshot(wf, pid) == before


# -- a whole cohort at once -------------------------------------------------------------------


def test_advance_cohort_advances_every_active_participant_except_those_left_out(
    wf: Workflow, clock: FixedClock
) -> None:
    make_cohort(wf)
    a = enrol(wf, "a@example.dk")
    b = enrol(wf, "b@example.dk")
    c = enrol(wf, "c@example.dk")
    d = enrol(wf, "d@example.dk")
    go(wf, d, "withdraw", reason="Nyt job")
    on(clock, INVITE_DAY)
    result = wf.advance_cohort("H1", StepRequest("invite-jti"), except_refs=[" C@Example.dk "])
    assert result.advanced == [(a, "enrolled", "jti_invited"), (b, "enrolled", "jti_invited")]
    assert result.skipped == 1
    assert result.refused == {}
    assert [wf.participant(p).state for p in (a, b, c, d)] == [
        "jti_invited",
        "jti_invited",
        "enrolled",
        "withdrawn",
    ]
    result = wf.advance_cohort("H1", StepRequest("invite_jti"), except_refs=[str(a), str(b)])
    assert result.advanced == [(c, "enrolled", "jti_invited")]
    assert result.skipped == 2


def test_advance_cohort_writes_the_rest_and_lists_the_refused(
    wf: Workflow, clock: FixedClock
) -> None:
    make_cohort(wf)
    a = enrol(wf, "a@example.dk")
    b = enrol(wf, "b@example.dk")
    c = enrol(wf, "c@example.dk")
    on(clock, INVITE_DAY)
    wf.advance_cohort("H1", StepRequest("invite_jti"), except_refs=[str(c)])
    on(clock, D1)
    before = snapshot(wf, c)
    with pytest.raises(BulkRefused) as raised:
        wf.advance_cohort("H1", StepRequest("register_day"))
    error = raised.value
    assert error.refusals == {
        f"c@example.dk (#{c})": [
            "register_day is not possible in state enrolled; first: invite_jti "
            "(to reach jti_invited)"
        ]
    }
    assert error.done == 2
    assert error.lines() == [
        f"c@example.dk (#{c}): register_day is not possible in state enrolled; first: "
        "invite_jti (to reach jti_invited)",
        "1 participant(s) refused, 2 advanced",
    ]
    assert [wf.participant(p).state for p in (a, b)] == ["day_1", "day_1"]
    assert snapshot(wf, c) == before


def test_advance_cohort_refuses_an_unknown_trigger_or_cohort(wf: Workflow) -> None:
    make_cohort(wf)
    with pytest.raises(InvalidInput, match=r"^unknown trigger 'fly'; choose one of: "):
        wf.advance_cohort("H1", StepRequest("fly"))
    with pytest.raises(NotFound, match=r"^no cohort with code 'H9'"):
        wf.advance_cohort("H9", StepRequest("invite_jti"))


# -- the audit chain and versions -------------------------------------------------------------


def test_audit_hash_chain_and_versions(wf: Workflow, clock: FixedClock, pid: int) -> None:
    versions = [wf.participant(pid).version]
    assert versions == [1]
    steps: list[Callable[[], object]] = [
        lambda: go(wf, pid, "hold_manager_conversation", goals=("x",), note="God samtale"),
        lambda: (on(clock, INVITE_DAY), go(wf, pid, "invite_jti")),
        lambda: host(wf, pid),
        lambda: wf.waive(pid, "jti", "Udbyder nede"),
        lambda: (on(clock, D1), go(wf, pid, "register_day", absent=True, reason="Syg")),
        lambda: go(wf, pid, "withdraw", reason="Nyt job"),
    ]
    for action in steps:
        action()
        versions.append(wf.participant(pid).version)
    assert versions == list(range(1, len(steps) + 2))

    with wf.db.reading() as conn:
        rows = [
            r._mapping
            for r in conn.execute(
                select(AUDIT).where(AUDIT.c.participant_id == pid).order_by(AUDIT.c.seq)
            )
        ]
        head = conn.execute(
            select(PARTICIPANTS.c.audit_head, PARTICIPANTS.c.audit_seq).where(
                PARTICIPANTS.c.id == pid
            )
        ).one()
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0]["prev_hash"] == GENESIS
    for earlier, later in itertools.pairwise(rows):
        assert later["prev_hash"] == earlier["hash"]
    for row in rows:
        assert row["hash"] == entry_hash(
            prev_hash=row["prev_hash"],
            participant_id=row["participant_id"],
            seq=row["seq"],
            at=row["at"],
            actor=row["actor"],
            event=row["event"],
            from_state=row["from_state"],
            to_state=row["to_state"],
            digest=row["note_digest"],
            data=row["data"],
        )
    assert len({r["hash"] for r in rows}) == len(rows)
    assert (head.audit_head, head.audit_seq) == (rows[-1]["hash"], len(rows))
    assert [(e.event, e.note) for e in wf.history(pid)] == [
        ("enrol", None),
        ("hold_manager_conversation", "God samtale"),
        ("invite_jti", None),
        ("set_host", None),
        ("waive", "Udbyder nede"),
        ("register_day", "Syg"),
        ("withdraw", "Nyt job"),
    ]


def test_each_participant_has_its_own_chain(wf: Workflow, clock: FixedClock) -> None:
    make_cohort(wf)
    a = enrol(wf, "a@example.dk")
    b = enrol(wf, "b@example.dk")
    go(wf, a, "hold_manager_conversation", goals=("x",))
    go(wf, b, "withdraw", reason="x")
    go(wf, a, "withdraw", reason="y")
    assert [e.seq for e in wf.history(a)] == [1, 2, 3]
    assert [e.seq for e in wf.history(b)] == [1, 2]
    assert wf.participant(a).version == 3
    assert wf.participant(b).version == 2


def test_pass_through_is_one_write(wf: Workflow, clock: FixedClock, pid: int) -> None:
    drive(wf, clock, pid, "day_5")
    version = wf.participant(pid).version
    step = go(wf, pid, "deliver_speech")
    assert len(step.entries) == 2
    assert wf.participant(pid).version == version + 1
    assert step.participant.version == version + 1


def test_moving_day_one_past_an_early_career_visit_does_not_strand_the_participant(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    drive(wf, clock, pid, "day_1")
    host(wf, pid)
    on(clock, D1 + timedelta(days=1))
    go(wf, pid, "hold_career_visit")  # recorded on 2027-03-02
    try:
        wf.reschedule("H1", 1, date(2027, 3, 5))
    except InvalidInput:
        return  # refusing to move day 1 past recorded facts is an acceptable answer
    on(clock, D2)
    go(wf, pid, "register_day")
    on(clock, D3)
    step = go(wf, pid, "register_day")  # either a clean refusal or a step, never a crash
    assert step.participant.state in ("day_3", "career_visit_held")


def test_advance_cohort_leaves_out_a_participant_named_as_hash_id(
    wf: Workflow, clock: FixedClock
) -> None:
    make_cohort(wf)
    a = enrol(wf, "a@example.dk")
    b = enrol(wf, "b@example.dk")
    assert wf.participant(f"#{b}").id == b  # single-participant commands accept #ID
    on(clock, INVITE_DAY)
    result = wf.advance_cohort("H1", StepRequest("invite_jti"), except_refs=[f"#{b}"])
    assert result.advanced == [(a, "enrolled", "jti_invited")]
    assert result.skipped == 1
    assert wf.participant(b).state == "enrolled"
