from __future__ import annotations

# The workflow's absence and waivers, on SQLite and PostgreSQL.
from conftest import enrol, make_cohort
from engine_helpers import D1, D2, D3, D4, D5, INVITE_DAY, PATH, drive, go, host, refused, snapshot
from helpers import on

from workflow.clock import FixedClock
from workflow.engine import Workflow

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
