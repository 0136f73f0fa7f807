from __future__ import annotations

# The workflow along the programme's path, on SQLite and PostgreSQL: the whole path, skips
# and the end of the path.
from datetime import date, timedelta

from conftest import START, make_cohort
from engine_helpers import D1, D2, D3, D4, D5, INVITE_DAY, drive, go, host, refused, snapshot, trail
from helpers import on

from states.programme import replay
from workflow.clock import FixedClock
from workflow.engine import Workflow

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
