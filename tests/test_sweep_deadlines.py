from __future__ import annotations

# The sweep's deadlines follow the cohort, and end with the path.
import json
from datetime import datetime, timedelta

from conftest import DAYS, Cli, enrol, make_cohort
from smtp_server import SmtpSink
from sweep_helpers import Mornings, at, d, deadline_rows, step, walk_to_certified

from states.programme import LOCAL_TZ
from workflow.clock import FixedClock
from workflow.engine import Workflow

# == deadlines follow the cohort, and end with the path ========================================


def test_reschedule_moves_the_pending_deadlines_and_what_the_mail_says(
    wf: Workflow, clock: FixedClock, sink: SmtpSink, lps: Cli
) -> None:
    make_cohort(wf)
    pid = enrol(wf)
    mornings = Mornings(wf, clock, sink)
    mornings.sweep(at(d("2027-02-08")))  # D1-21: the reminder goes out and is done
    before = {key: (r.status, r.due_at) for key, r in deadline_rows(wf, pid).items()}
    clock.set(at(d("2027-02-09"), 11, 0))
    wf.reschedule("H1", 1, d("2027-03-08"))
    lps.now = "2027-02-09T11:05"
    moved = lps("cohort", "reschedule", "H1", "--day", "2", "2027-03-22")
    assert moved.exit_code == 0, moved.output
    assert moved.output == (
        "Cohort H1: day 2 is now 2027-03-22; pending reminders were moved with it.\n"
    )
    after = {key: (r.status, r.due_at) for key, r in deadline_rows(wf, pid).items()}
    # Done deadlines stay where they were.
    assert after["manager_conversation_reminder", 0] == before["manager_conversation_reminder", 0]
    assert after["manager_conversation_reminder", 0][0] == "done"

    def cph(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ)

    expected = {
        ("jti_invitation", 0): cph("2027-02-22T09:00"),  # new D1-14
        ("manager_conversation_escalation", 0): cph("2027-03-01T09:00"),
        ("jti_reminder", 0): cph("2027-03-01T09:00"),
        ("day_reminder", 1): cph("2027-03-05T09:00"),  # Sun 7 Mar -> Fri 5 Mar
        ("jti_escalation", 0): cph("2027-03-19T09:00"),  # new D2-3
        ("day_reminder", 2): cph("2027-03-19T09:00"),  # Sun 21 Mar -> Fri 19 Mar
        ("day_reminder", 3): cph("2027-03-24T09:00"),  # unchanged: before Easter
    }
    for key, moment in expected.items():
        assert after[key] == ("pending", moment), key
    # At the old moments nothing; at the new ones, the mail with the new date.
    before_count = len(mornings.mails)
    mornings.sweep(at(d("2027-02-15")))
    assert mornings.new_since(before_count) == []
    mornings.sweep(at(d("2027-02-22")))
    assert [m.rule for m in mornings.new_since(before_count)] == ["jti_invitation"]
    mornings.sweep(at(d("2027-03-05")))
    reminder = [m for m in mornings.mails if m.rule == "day_reminder"]
    assert [m.subject for m in reminder] == [
        "Husk 1. undervisningsdag mandag den 8. marts 2027 kl. 9.00"
    ]


def test_withdrawal_cancels_pending_deadlines_and_undelivered_mail(
    wf: Workflow, clock: FixedClock, sink: SmtpSink, lps: Cli
) -> None:
    make_cohort(wf)
    pid = enrol(wf)
    mornings = Mornings(wf, clock, sink)
    mornings.sweep(at(d("2027-01-05")))  # the welcome goes out
    mornings.sweep(at(d("2027-02-08")))  # and the D1-21 reminder
    sink.refuse_with(451)
    mornings.sweep(at(d("2027-02-15")))  # the invitation is queued, but the server refuses
    clock.set(at(d("2027-02-15"), 11, 0))
    step(wf, pid, "withdraw", reason="Flyttet")
    rows = deadline_rows(wf, pid)
    assert {k for k, r in rows.items() if r.status == "done"} == {
        ("manager_conversation_reminder", 0),
        ("jti_invitation", 0),
    }
    assert {(r.status, r.outcome) for r in rows.values() if r.status != "done"} == {
        ("cancelled", "participant withdrawn")
    }
    assert len([r for r in rows.values() if r.status == "cancelled"]) == 13
    # The refused invitation is not sent after the withdrawal; the drop says why.
    dropped = json.loads(lps("outbox", "list", "--status", "dropped", "--json").output)
    assert [(x["rule"], x["last_error"]) for x in dropped] == [
        ("jti_invitation", "participant withdrawn before delivery")
    ]
    sink.refuse_with(None)
    before = len(mornings.mails)
    day = d("2027-02-16")
    while day <= d("2027-07-01"):
        mornings.sweep(at(day))
        day += timedelta(days=1)
    late = mornings.new_since(before)
    assert sorted((m.day, m.to, m.rule) for m in late) == [
        (d("2027-02-16"), "kursus@kommune.dk", "withdrawal_notice"),
        (d("2027-02-16"), "mette@example.dk", "withdrawal_notice"),
        (d("2027-02-16"), "soren@example.dk", "withdrawal_notice"),
    ]
    assert [m.rule for m in mornings.mails if m.rule == "jti_invitation"] == []


def test_deferral_cancels_the_old_deadlines_and_schedules_the_new_cohort(
    wf: Workflow, clock: FixedClock, sink: SmtpSink
) -> None:
    make_cohort(wf)
    later_days = tuple(day + timedelta(days=91) for day in DAYS)  # D1 Monday 31 May
    make_cohort(wf, "H2", days=later_days)
    pid = enrol(wf)
    clock.set(at(d("2027-01-20"), 11, 0))
    step(wf, pid, "defer", to="H2", reason="Barsel")
    old = deadline_rows(wf, pid)
    assert {(r.status, r.outcome) for r in old.values()} == {("cancelled", "participant deferred")}
    moved = next(p for p in wf.participants(cohort="H2"))
    new = deadline_rows(wf, moved.id)
    assert len(new) == 15
    assert new["manager_conversation_reminder", 0].due_at == datetime(
        2027, 5, 10, 9, 0, tzinfo=LOCAL_TZ
    )
    mornings = Mornings(wf, clock, sink)
    mornings.sweep(at(d("2027-02-08")))  # the old cohort's D1-21: nothing about it
    assert [(m.to, m.rule) for m in mornings.mails if m.rule != "welcome"] == []
    mornings.sweep(at(d("2027-05-10")))  # the new cohort's D1-21
    reminders = [m for m in mornings.mails if m.rule == "manager_conversation_reminder"]
    assert sorted((m.to, m.key.split(":")[0]) for m in reminders) == [
        ("mette@example.dk", str(moved.id)),
        ("soren@example.dk", str(moved.id)),
    ]


def test_completion_cancels_the_follow_ups(wf: Workflow, clock: FixedClock, sink: SmtpSink) -> None:
    make_cohort(wf)
    pid = enrol(wf)
    walk_to_certified(wf, clock, pid, ("Mål",))
    rows = deadline_rows(wf, pid)
    assert rows["closing_reminder", 0].status == "pending"
    assert rows["auto_complete", 0].status == "pending"
    clock.set(at(d("2027-05-03"), 11, 0))
    step(wf, pid, "decline_closing_conversation")
    rows = deadline_rows(wf, pid)
    for key in (("closing_reminder", 0), ("auto_complete", 0)):
        assert (rows[key].status, rows[key].outcome) == ("cancelled", "participant completed")
    assert [k for k, r in rows.items() if r.status == "pending"] == []
    mornings = Mornings(wf, clock, sink)
    mornings.sweep(at(d("2027-07-01")))
    assert [m.rule for m in mornings.mails if m.rule == "closing_reminder"] == []
    assert wf.participant(pid).state == "completed"


def test_auto_complete_fires_sixty_days_after_certification(
    wf: Workflow, clock: FixedClock, sink: SmtpSink
) -> None:
    make_cohort(wf)
    pid = enrol(wf)
    walk_to_certified(wf, clock, pid, ("Mål",))
    mornings = Mornings(wf, clock, sink)
    mornings.sweep(at(d("2027-06-25"), 8, 59))
    assert wf.participant(pid).state == "certified"
    report = mornings.sweep(at(d("2027-06-25"), 9, 0))
    assert [(x.rule, x.outcome) for x in report.decisions] == [("auto_complete", "fired")]
    assert wf.participant(pid).state == "completed"
    last = wf.history(pid)[-1]
    assert (last.event, last.actor, last.from_state, last.to_state) == (
        "complete",
        "scheduler",
        "certified",
        "completed",
    )
