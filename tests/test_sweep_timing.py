from __future__ import annotations

# When the sweep runs: twice, by two sweepers at once, across daylight saving, and after
# a scheduler stopped for a week.
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

from conftest import Cli, enrol, make_cohort
from helpers import outbox as outbox_rows
from smtp_server import SmtpSink
from sqlalchemy import select
from sweep_helpers import D1, Mail, Mornings, at, d, deadline_rows, step

from notifications.delivery import SmtpChannel
from workflow.clock import FixedClock
from workflow.engine import Workflow
from workflow.records import DEADLINES

# == the sweep run twice, and by two sweepers at once ==========================================


def two_participants(wf: Workflow) -> tuple[int, int]:
    make_cohort(wf)
    late = enrol(wf, "late@example.dk", manager_email="boss@example.dk")
    done = enrol(wf, "done@example.dk", manager_email="chef@example.dk")
    step(wf, done, "hold_manager_conversation", goals=("Mål",))
    return late, done


def test_a_sweep_run_twice_at_the_same_moment_sends_nothing_twice(
    wf: Workflow, clock: FixedClock, sink: SmtpSink
) -> None:
    two_participants(wf)
    mornings = Mornings(wf, clock, sink)
    first = mornings.sweep(at(d("2027-02-08")))  # D1-21
    sent = [(m.to, m.rule) for m in mornings.mails]
    assert sorted(sent) == [
        ("boss@example.dk", "manager_conversation_reminder"),
        ("boss@example.dk", "welcome"),
        ("chef@example.dk", "welcome"),
        ("done@example.dk", "welcome"),
        ("late@example.dk", "manager_conversation_reminder"),
        ("late@example.dk", "welcome"),
    ]
    assert (first.count("queued"), first.count("skipped"), first.delivered) == (1, 1, 6)
    second = mornings.sweep(at(d("2027-02-08")))
    assert len(sink.received) == 6
    assert (second.decisions, second.delivered) == ([], 0)
    keys = [r.key for r in outbox_rows(wf)]
    assert len(keys) == len(set(keys)) == 6


def test_two_sweepers_at_the_same_moment_each_succeed_and_send_each_message_once(
    wf: Workflow, clock: FixedClock, sink: SmtpSink, db_url: str
) -> None:
    """A cron ``lps remind`` overlapping the scheduler: neither fails, nothing goes twice.
    Several rounds, each with new mail to send, so that the two meet while claiming."""
    import threading

    from workflow.db import Database

    make_cohort(wf)
    for number in range(2):
        enrol(wf, f"early{number}@example.dk", manager_email=f"boss{number}@example.dk")
    other_db = Database(db_url)
    others = Workflow(other_db, clock=clock, actor="other")
    errors: list[str] = []

    def race(moment: datetime) -> None:
        clock.set(moment)
        start = threading.Barrier(2)

        def run(workflow: Workflow) -> None:
            try:
                start.wait(timeout=10)
                workflow.remind(channel=SmtpChannel.from_url(sink.url))
            except Exception as error:  # collected and reported below
                errors.append(f"{moment:%H:%M}: {type(error).__name__}: {error}")

        threads = [threading.Thread(target=run, args=(w,)) for w in (wf, others)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    try:
        race(at(d("2027-02-15")))  # D1-14: invite_jti fires; D1-21's reminders are due too
        for number in range(12):
            clock.set(at(d("2027-02-15"), 10, number))
            enrol(wf, f"p{number}@example.dk", manager_email=f"m{number}@example.dk")
            race(at(d("2027-02-15"), 10, number))
    finally:
        other_db.dispose()
    # A sweep after the races finds nothing left: every row was sent by one of the two.
    Mornings(wf, clock, sink).sweep(at(d("2027-02-15"), 11, 0))
    received = Counter(str(r.message["X-LPS-Key"]) for r in sink.received)
    rows = outbox_rows(wf)
    assert {r.status for r in rows} == {"sent"}
    assert received == Counter(r.key for r in rows)  # each exactly once
    sent = Counter(r.rule for r in rows)
    assert (sent["welcome"], sent["jti_invitation"]) == (14 * 2, 14)
    assert errors == []
    # invite_jti fired once for each participant, by one of the two.
    for participant in wf.participants():
        fired = [e for e in wf.history(participant.id) if e.event == "invite_jti"]
        assert len(fired) == 1, participant.email


# == daylight saving, end to end ==============================================================


def reminders_in(mails: list[Mail]) -> list[Mail]:
    """Leave out the Monday digest (08:00, not the cohort's send hour)."""
    return [m for m in mails if m.rule != "admin_digest"]


def test_rule_due_the_day_after_spring_forward_goes_at_nine_local(
    wf: Workflow, clock: FixedClock, sink: SmtpSink
) -> None:
    # D1 = Monday 3 April 2028: D1-7 (jti_reminder, escalation) is Monday 27 March, the day
    # after the clocks went forward; 09:00 there is 07:00 UTC. (In 2027 that Monday is Anden
    # påskedag, when nothing goes out.)
    days = (d("2028-04-03"), d("2028-04-24"), d("2028-05-08"), d("2028-05-22"), d("2028-06-12"))
    make_cohort(wf, "S28", days=days)
    enrol(wf, cohort="S28")
    mornings = Mornings(wf, clock, sink)
    mornings.sweep(at(d("2028-03-20"), 9, 0))  # D1-14: invitation
    before = len(mornings.mails)
    mornings.sweep(at(d("2028-03-27"), 8, 59))
    assert reminders_in(mornings.new_since(before)) == []
    mornings.sweep(at(d("2028-03-27"), 9, 0))
    sent = reminders_in(mornings.new_since(before))
    assert sorted((m.to, m.rule) for m in sent) == [
        ("kursus@kommune.dk", "manager_conversation_escalation"),
        ("mette@example.dk", "manager_conversation_escalation"),
        ("soren@example.dk", "jti_reminder"),
    ]
    assert {m.message["Date"].datetime for m in sent} == {datetime(2028, 3, 27, 7, 0, tzinfo=UTC)}


def test_rule_due_the_day_after_fall_back_goes_at_nine_local(
    wf: Workflow, clock: FixedClock, sink: SmtpSink
) -> None:
    days = (d("2027-11-08"), d("2027-11-22"), d("2027-12-06"), d("2027-12-20"), d("2028-01-03"))
    clock.set(datetime(2027, 10, 1, 10, 0))
    make_cohort(wf, "E27", days=days)
    enrol(wf, cohort="E27")
    mornings = Mornings(wf, clock, sink)
    mornings.sweep(at(d("2027-10-25"), 9, 0))  # D1-14, still summer time
    before = len(mornings.mails)
    mornings.sweep(at(d("2027-11-01"), 8, 59))
    assert reminders_in(mornings.new_since(before)) == []
    mornings.sweep(at(d("2027-11-01"), 9, 0))
    sent = reminders_in(mornings.new_since(before))
    assert sorted((m.to, m.rule) for m in sent) == [
        ("kursus@kommune.dk", "manager_conversation_escalation"),
        ("mette@example.dk", "manager_conversation_escalation"),
        ("soren@example.dk", "jti_reminder"),
    ]
    assert {m.message["Date"].datetime for m in sent} == {datetime(2027, 11, 1, 8, 0, tzinfo=UTC)}
    with wf.db.reading() as conn:
        due = conn.execute(
            select(DEADLINES.c.due_at).where(DEADLINES.c.rule == "jti_reminder")
        ).scalar_one()
    assert due.isoformat() == "2027-11-01T08:00:00+00:00"


# == a scheduler stopped for a week ===========================================================


def test_scheduler_stopped_for_a_week_catches_up_what_is_relevant_and_drops_the_obsolete(
    wf: Workflow, clock: FixedClock, sink: SmtpSink
) -> None:
    make_cohort(wf)
    late = enrol(wf, "late@example.dk", manager_email="boss@example.dk")
    done = enrol(wf, "done@example.dk", manager_email="chef@example.dk")
    step(wf, done, "hold_manager_conversation", goals=("Mål",))
    mornings = Mornings(wf, clock, sink)
    day = d("2027-01-05")
    while day <= D1 - timedelta(days=11):  # the last sweep before the stop: Thu 18 Feb
        mornings.sweep(at(day))
        if day == d("2027-02-16"):
            clock.set(at(day, 11, 0))
            step(wf, done, "complete_jti")
        day += timedelta(days=1)
    before = len(mornings.mails)
    # Stopped from D1-10 (Fri 19 Feb) to D1+3: one sweep on Thursday 4 March.
    report = mornings.sweep(at(D1 + timedelta(days=3)))
    caught_up = sorted((m.to, m.rule, m.occurrence) for m in mornings.new_since(before))
    assert caught_up == [
        # The conversation is still not held: the escalation is still relevant.
        ("boss@example.dk", "manager_conversation_escalation", "0"),
        ("kursus@kommune.dk", "admin_digest", "2027-03-01"),  # this week's, not last week's
        ("kursus@kommune.dk", "manager_conversation_escalation", "0"),
        # The JTI is still not answered and day 2 is ahead: the reminder is still relevant.
        ("late@example.dk", "jti_reminder", "0"),
    ]
    # The reminders for day 1 (Fri 26 Feb) came too late: dropped, and the drop recorded.
    outcomes = {(dec.participant_id, dec.rule, dec.occurrence): dec for dec in report.decisions}
    for pid in (late, done):
        dropped = outcomes[pid, "day_reminder", 1]
        assert dropped.outcome == "dropped"
        assert dropped.detail.startswith("obsolete: its moment passed on 2027-03-01")
        row = deadline_rows(wf, pid)["day_reminder", 1]
        assert (row.status, row.outcome) == ("dropped", dropped.detail)
        entries = [e for e in wf.history(pid) if e.event == "notification_dropped"]
        assert [(e.data["rule"], e.data["occurrence"], e.note) for e in entries] == [
            ("day_reminder", 1, dropped.detail)
        ]
        assert entries[0].from_state == entries[0].to_state == wf.participant(pid).state
    assert outcomes[done, "jti_reminder", 0].outcome == "skipped"
    assert deadline_rows(wf, done)["jti_reminder", 0].status == "skipped"
    # Nothing about day 1 ever reaches the server.
    assert [m for m in mornings.mails if m.rule == "day_reminder"] == []
    # The next sweep finds nothing more for the gap.
    before = len(mornings.mails)
    again = mornings.sweep(at(D1 + timedelta(days=3), 9, 10))
    assert (mornings.new_since(before), again.decisions) == ([], [])


def test_outbox_list_shows_what_was_dropped_with_the_reason(
    wf: Workflow, clock: FixedClock, lps: Cli
) -> None:
    make_cohort(wf)
    pid = enrol(wf)
    lps.now = "2027-03-01T09:05"  # the day-1 reminder (due Fri 26 Feb) is obsolete now
    shown = lps("remind", "--json")
    assert shown.exit_code == 0, shown.output
    decisions = json.loads(shown.stdout)["decisions"]
    dropped = [x for x in decisions if x["outcome"] == "dropped" and x["rule"] == "day_reminder"]
    assert [(x["participant_id"], x["rule"], x["occurrence"]) for x in dropped] == [
        (pid, "day_reminder", 1)
    ]
    assert dropped[0]["detail"].startswith("obsolete: its moment passed on 2027-03-01")
    row = deadline_rows(wf, pid)["day_reminder", 1]
    assert (row.status, row.outcome) == ("dropped", dropped[0]["detail"])
    entries = [e for e in wf.history(pid) if e.event == "notification_dropped"]
    assert [e.note for e in entries if e.data["rule"] == "day_reminder"] == [dropped[0]["detail"]]
    history = json.loads(lps("history", str(pid), "--format", "json").output)
    shown_drops = [e for e in history if e["event"] == "notification_dropped"]
    assert {(e["actor"], e["data"]["rule"], e["note"]) for e in shown_drops} >= {
        ("scheduler", "day_reminder", dropped[0]["detail"])
    }
    # Never queued, so never in the outbox.
    listed = lps("outbox", "list", "--json")
    assert {x["rule"] for x in json.loads(listed.output)} >= {"welcome", "jti_invitation"}
    assert "day_reminder" not in {x["rule"] for x in json.loads(listed.output)}
