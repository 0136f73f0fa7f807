"""The deadline sweep end to end: a real database (SQLite and PostgreSQL), a clock the test
moves, and a real SMTP server on loopback that records what it receives.

Every expectation is read off PROGRAMME.md ("Timed rules and notifications"): who gets which
message on which day, once, and never about something already done.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from conftest import DAYS, START, Cli, enrol, make_cohort
from helpers import outbox as outbox_rows
from smtp_server import Received, SmtpSink
from sqlalchemy import func, select

from notifications.delivery import SmtpChannel, message_id_for
from states.programme import LOCAL_TZ
from workflow.clock import FixedClock
from workflow.engine import StepRequest, Workflow
from workflow.errors import InvalidInput, NotFound
from workflow.records import DEADLINES, OUTBOX
from workflow.sweep import SweepReport
from workflow.verify import verify_audit

ADMIN = "kursus@kommune.dk"
D1, D2, D3, D4, D5 = DAYS


@dataclass(frozen=True)
class Mail:
    """One message as the SMTP server received it, with the day of the sweep that sent it."""

    day: date
    to: str
    rule: str
    occurrence: str
    key: str
    message_id: str
    subject: str
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())

    @property
    def html(self) -> str:
        part = self.message.get_body(("html",))
        assert part is not None
        return str(part.get_content())


def mail_of(received: Received, day: date) -> Mail:
    message = received.message
    assert len(received.rcpt_tos) == 1, "one recipient per message"
    key = str(message["X-LPS-Key"])
    return Mail(
        day=day,
        to=received.rcpt_tos[0].lower(),
        rule=str(message["X-LPS-Rule"]),
        occurrence=key.rsplit(":", 1)[1],
        key=key,
        message_id=str(message["Message-ID"]),
        subject=str(message["Subject"]),
        message=message,
    )


class Mornings:
    """Moves the clock and runs the sweep against the SMTP server, noting what arrived when."""

    def __init__(self, wf: Workflow, clock: FixedClock, sink: SmtpSink):
        self.wf = wf
        self.clock = clock
        self.sink = sink
        self.channel = SmtpChannel.from_url(sink.url)
        self.mails: list[Mail] = []

    def sweep(self, moment: datetime) -> SweepReport:
        self.clock.set(moment)
        before = len(self.sink.received)
        report = self.wf.remind(channel=self.channel)
        day = moment.date() if moment.tzinfo is None else moment.astimezone(LOCAL_TZ).date()
        self.mails += [mail_of(r, day) for r in self.sink.received[before:]]
        return report

    def new_since(self, count: int) -> list[Mail]:
        return self.mails[count:]


def at(day: date, hour: int = 9, minute: int = 5) -> datetime:
    """Copenhagen wall-clock time (the clock fixture reads naive moments so)."""
    return datetime.combine(day, time(hour, minute))


def d(text: str) -> date:
    return date.fromisoformat(text)


def step(wf: Workflow, who: str | int, trigger: str, **kw: Any) -> None:
    wf.advance(who, StepRequest(trigger, **kw))


def set_host(wf: Workflow, who: str | int, email: str, municipality: str) -> None:
    name = "Vært " + email.split("@")[0].title()
    wf.set_host(who, name=name, email=email, role="leader", municipality=municipality)


def deadline_rows(wf: Workflow, participant_id: int) -> dict[tuple[str, int], Any]:
    with wf.db.reading() as conn:
        rows = conn.execute(
            select(DEADLINES).where(DEADLINES.c.participant_id == participant_id)
        ).all()
    return {(r.rule, r.occurrence): r for r in rows}


def diff(expected: Counter[Any], actual: Counter[Any]) -> str:
    missing = sorted((expected - actual).elements())
    extra = sorted((actual - expected).elements())
    lines = [f"missing: {m}" for m in missing] + [f"unexpected: {e}" for e in extra]
    return "\n".join(lines)


# == the cohort walked through 150 days =======================================================

# Six participants of cohort H1 (days: Mondays 1 Mar, 15 Mar, 29 Mar, 12 Apr, 26 Apr 2027).
ANNE = "anne@odense.dk"  # diligent: everything on time, host before day 1
BO = "bo@aarhus.dk"  # holds the manager conversation late; never the closing conversation
CECILIE = "cecilie@vejle.dk"  # skips the JTI, records it late; finds a host only after day 3
DORTHE = "dorthe@odense.dk"  # absent on day 2, waived
ERIK = "erik@aarhus.dk"  # withdrawn after day 2
FIONA = "fiona@vejle.dk"  # English; career visit after day 4
MANAGER = {
    ANNE: "mette@odense.dk",
    BO: "jens@aarhus.dk",
    CECILIE: "ida@vejle.dk",
    DORTHE: "per@odense.dk",
    ERIK: "lene@aarhus.dk",
    FIONA: "kim@vejle.dk",
}
HOST = {
    ANNE: "hanne@odense.dk",
    BO: "henrik@aarhus.dk",
    CECILIE: "helle@vejle.dk",
    DORTHE: "hans@odense.dk",
    FIONA: "hanna@vejle.dk",
}
PEOPLE = {
    ANNE: ("Anne Andersen", "Odense", "da"),
    BO: ("Bo Bech", "Aarhus", "da"),
    CECILIE: ("Cecilie Dam", "Vejle", "da"),
    DORTHE: ("Dorthe Ebbesen", "Odense", "da"),
    ERIK: ("Erik Fisker", "Aarhus", "da"),
    FIONA: ("Fiona Green", "Vejle", "en"),
}
EVERYONE = tuple(PEOPLE)
STAYING = (ANNE, BO, CECILIE, DORTHE, FIONA)
FIRST_DAY, LAST_DAY = d("2027-02-01"), d("2027-06-30")


def script(wf: Workflow) -> dict[date, list[Callable[[], object]]]:
    """What the administrators record, at 11:00 on each day."""
    actions: dict[date, list[Callable[[], object]]] = {}

    def on(day: str, action: Callable[[], object]) -> None:
        actions.setdefault(d(day), []).append(action)

    def advance(day: str, who: str, trigger: str, **kw: Any) -> None:
        on(day, lambda: step(wf, who, trigger, **kw))

    for email, (name, municipality, language) in PEOPLE.items():
        manager = MANAGER[email]
        on(
            "2027-02-01",
            lambda e=email, n=name, m=municipality, lang=language, mgr=manager: wf.enrol(
                "H1",
                name=n,
                email=e,
                municipality=m,
                manager_name="Leder " + mgr.split("@")[0].title(),
                manager_email=mgr,
                language=lang,
            ),
        )
    # Manager conversations: everyone before D1-21 (8 Feb) except Bo.
    advance("2027-02-02", ERIK, "hold_manager_conversation", goals=("Træffe beslutninger",))
    advance("2027-02-03", ANNE, "hold_manager_conversation", goals=("Tydelighed", "Autoritet"))
    advance("2027-02-03", FIONA, "hold_manager_conversation", goals=("Delegation",))
    advance("2027-02-04", DORTHE, "hold_manager_conversation", goals=("Svære samtaler",))
    advance("2027-02-05", CECILIE, "hold_manager_conversation", goals=("Overblik",))
    # JTI answers after the invitation (15 Feb) and before D1-7 (22 Feb), except Cecilie's.
    advance("2027-02-16", ANNE, "complete_jti")
    advance("2027-02-17", DORTHE, "complete_jti")
    advance("2027-02-18", ERIK, "complete_jti")
    advance("2027-02-19", FIONA, "complete_jti")
    advance("2027-02-19", BO, "complete_jti")
    on("2027-02-19", lambda: set_host(wf, ANNE, HOST[ANNE], "Odense"))
    # Bo's conversation, late: after the escalation of 22 Feb.
    advance("2027-02-24", BO, "hold_manager_conversation", goals=("Mod",), on=d("2027-02-24"))
    for who in EVERYONE:
        advance("2027-03-01", who, "register_day")
    on("2027-03-03", lambda: set_host(wf, DORTHE, HOST[DORTHE], "Odense"))
    on("2027-03-04", lambda: set_host(wf, FIONA, HOST[FIONA], "Vejle"))
    on("2027-03-10", lambda: set_host(wf, BO, HOST[BO], "Aarhus"))
    for who in EVERYONE:
        if who == DORTHE:
            advance("2027-03-15", who, "register_day", absent=True, reason="Syg")
        else:
            advance("2027-03-15", who, "register_day")
    on("2027-03-16", lambda: wf.waive(DORTHE, "attendance", "Indhentet ved individuel samtale"))
    advance("2027-03-17", ERIK, "withdraw", reason="Nyt job")
    advance("2027-03-19", ANNE, "hold_career_visit")  # early: between day 2 and day 3
    advance("2027-03-23", CECILIE, "complete_jti", on=d("2027-03-22"))  # late: after D2
    for who in STAYING:
        advance("2027-03-29", who, "register_day")
    on("2027-03-30", lambda: set_host(wf, CECILIE, HOST[CECILIE], "Vejle"))
    advance("2027-03-31", DORTHE, "hold_career_visit")
    advance("2027-04-01", BO, "hold_career_visit")
    advance("2027-04-07", CECILIE, "hold_career_visit")
    for who in STAYING:
        advance("2027-04-12", who, "register_day")  # Fiona's day 4 skips the career visit
    advance("2027-04-20", FIONA, "hold_career_visit", on=d("2027-04-20"))
    for who in STAYING:
        advance("2027-04-26", who, "register_day")
        advance("2027-04-26", who, "deliver_speech")  # certified automatically
    advance("2027-05-03", FIONA, "decline_closing_conversation")
    advance("2027-05-10", ANNE, "hold_closing_conversation", note="Praktik aftalt")
    advance("2027-05-10", ANNE, "complete")
    advance("2027-05-20", DORTHE, "hold_closing_conversation")  # completes on its own
    advance("2027-06-01", CECILIE, "hold_closing_conversation")
    advance("2027-06-01", CECILIE, "complete")
    return actions


def expected_mail() -> Counter[tuple[date, str, str, str]]:
    """(sweep day, recipient, rule, occurrence) for every message PROGRAMME.md calls for.

    Mail caused by an administrator's step at 11:00 goes out with the next morning's sweep;
    timed rules go out with the sweep of their due day (09:00, weekends moved as the
    programme says)."""
    mail: list[tuple[str, str, str, str]] = []

    def send(day: str, rule: str, *to: str, occurrence: int | str = 0) -> None:
        mail.extend((day, address, rule, str(occurrence)) for address in to)

    for who in EVERYONE:  # welcome: participant, copy manager
        send("2027-02-02", "welcome", who, MANAGER[who])
    # D1-21, Mon 8 Feb: only Bo has not held the conversation.
    send("2027-02-08", "manager_conversation_reminder", BO, MANAGER[BO])
    # D1-14, Mon 15 Feb: invite_jti fires for everyone.
    send("2027-02-15", "jti_invitation", *EVERYONE)
    # D1-7, Mon 22 Feb: Bo's conversation still not held; Cecilie's JTI not answered.
    send("2027-02-22", "manager_conversation_escalation", MANAGER[BO], ADMIN)
    send("2027-02-22", "jti_reminder", CECILIE)
    # D1-1 is Sunday: Friday 26 Feb.
    send("2027-02-26", "day_reminder", *EVERYONE, occurrence=1)
    # Anne's host, registered before day 1, hears on day 1.
    send("2027-03-01", "host_letter", HOST[ANNE], ANNE)
    send("2027-03-04", "host_letter", HOST[DORTHE], DORTHE)
    send("2027-03-05", "host_letter", HOST[FIONA], FIONA)
    send("2027-03-11", "host_letter", HOST[BO], BO)
    # D2-1 is Sunday: Friday 12 Mar; D2-3 is Friday 12 Mar too.
    send("2027-03-12", "day_reminder", *EVERYONE, occurrence=2)
    send("2027-03-12", "jti_escalation", CECILIE, ADMIN)
    send("2027-03-16", "absence_notice", DORTHE, MANAGER[DORTHE], occurrence=2)
    send("2027-03-18", "withdrawal_notice", ERIK, MANAGER[ERIK], ADMIN)
    # D3-1 and D3-3: Friday 26 Mar. Erik has withdrawn.
    send("2027-03-26", "day_reminder", *STAYING, occurrence=3)
    send("2027-03-26", "homework_reminder", *STAYING)
    # D3, Mon 29 Mar (the day after the clocks go forward): Cecilie has no host.
    send("2027-03-29", "host_missing", CECILIE)
    send("2027-03-31", "host_letter", HOST[CECILIE], CECILIE)
    # D4-7, Mon 5 Apr: Cecilie's and Fiona's visits not held.
    send("2027-04-05", "career_visit_reminder", CECILIE, FIONA)
    # D4-1 is Sunday: Friday 9 Apr. Cecilie held hers on 7 Apr.
    send("2027-04-09", "career_visit_escalation", ADMIN)
    send("2027-04-09", "day_reminder", *STAYING, occurrence=4)
    send("2027-04-19", "speech_reminder", *STAYING)
    send("2027-04-23", "day_reminder", *STAYING, occurrence=5)
    for who in STAYING:  # certified on 26 Apr
        send("2027-04-27", "certificate", who, MANAGER[who])
    # Certified + 30 = Wed 26 May: Bo and Cecilie have neither held nor declined it.
    send("2027-05-26", "closing_reminder", BO, MANAGER[BO], CECILIE, MANAGER[CECILIE])
    return Counter((d(day), to, rule, occ) for day, to, rule, occ in mail)


# The Monday digests: overdue obligations (due day passed) of active participants that Monday.
EXPECTED_DIGESTS = {
    # Bo's manager conversation, due 15 Feb, held 24 Feb.
    d("2027-02-22"): ("uge 8: 1 forsinket opgave, 0 mails ikke sendt", "Bo Bech"),
    # Cecilie's JTI, due 15 Mar, answered 22 Mar (recorded 23 Mar).
    d("2027-03-22"): ("uge 12: 1 forsinket opgave, 0 mails ikke sendt", "Cecilie Dam"),
    # Fiona's career visit, due 12 Apr, held 20 Apr.
    d("2027-04-19"): ("uge 16: 1 forsinket opgave, 0 mails ikke sendt", "Fiona Green"),
}


def test_a_cohort_walked_through_150_days_gets_exactly_the_right_mail(
    wf: Workflow, clock: FixedClock, sink: SmtpSink
) -> None:
    """From enrolment four weeks before day 1 to past the automatic completion (certified +
    60 days): a sweep every morning at 09:05, the administrators' steps at 11:00."""
    clock.set(at(FIRST_DAY, 8, 0))
    make_cohort(wf, venue="Odense Rådhus", admin_email=ADMIN)
    mornings = Mornings(wf, clock, sink)
    actions = script(wf)
    day = FIRST_DAY
    while day <= LAST_DAY:
        mornings.sweep(at(day, 9, 5))
        clock.set(at(day, 11, 0))
        for action in actions.get(day, ()):
            action()
        day += timedelta(days=1)
    mails = mornings.mails

    # Where everyone ended.
    states = {p.email: p.state for p in wf.participants(cohort="H1")}
    assert states == {
        ANNE: "completed",
        BO: "completed",  # automatically, certified + 60 days
        CECILIE: "completed",
        DORTHE: "completed",  # automatically, after her closing conversation
        ERIK: "withdrawn",
        FIONA: "completed",  # declined the closing conversation
    }

    # Every message is one delivery of one outbox row, with its own Message-ID.
    ids = Counter(m.message_id for m in mails)
    assert [i for i, n in ids.items() if n > 1] == []
    for mail in mails:
        assert mail.message_id == message_id_for(mail.key, "kommune.dk")
        if mail.rule == "admin_digest":
            assert mail.key == f"digest:{ADMIN}:{mail.occurrence}"
        else:
            assert mail.key.split(":")[1] == mail.rule
    rows = outbox_rows(wf)
    assert Counter(r.status for r in rows) == {"sent": len(mails)}
    assert len({r.key for r in rows}) == len(rows)

    # Nothing to Erik after he withdrew but the notice of it.
    after = [(m.day, m.rule) for m in mails if m.to == ERIK and m.day > d("2027-03-17")]
    assert after == [(d("2027-03-18"), "withdrawal_notice")]
    # Nothing on a weekend: every look-ahead rule moved to a Friday.
    assert [(m.day, m.to, m.rule) for m in mails if m.day.weekday() >= 5] == []

    # The exact set, per recipient: none missing, none twice, none about what was done.
    actual = Counter((m.day, m.to, m.rule, m.occurrence) for m in mails if m.rule != "admin_digest")
    expected = expected_mail()
    assert actual == expected, diff(expected, actual)

    # Language: Fiona's own mail is English; her manager's and her host's Danish.
    english = {m.rule: m.subject for m in mails if m.to == FIONA}
    assert english["welcome"].startswith("You are enrolled in Leder på spring")
    assert english["jti_invitation"].startswith("Answer the JTI questionnaire by")
    assert english["day_reminder"].startswith("Remember day")
    assert english["career_visit_reminder"].startswith("Remember the career visit")
    assert english["certificate"] == "Your course certificate for Leder på spring"
    danish = {m.rule: m.subject for m in mails if m.to in (MANAGER[FIONA], HOST[FIONA])}
    assert danish["welcome"].startswith("Fiona Green er tilmeldt Leder på spring")
    assert danish["certificate"] == "Fiona Green har fået kursusbevis for Leder på spring"
    assert danish["host_letter"].startswith("Karrieresamtale med Fiona Green senest")
    reminders = sorted((m.occurrence, m.subject) for m in mails if m.to == ANNE)
    assert ("3", "Husk 3. undervisningsdag mandag den 29. marts 2027 kl. 9.00") in reminders

    assert verify_audit(wf.db).ok

    # The Monday digests, last: each on its Monday, once, saying what was overdue that Monday.
    digests = [m for m in mails if m.rule == "admin_digest"]
    assert {m.to for m in digests} <= {ADMIN}
    sent_digests = Counter((m.day, m.occurrence) for m in digests)
    expected_digests = Counter((monday, monday.isoformat()) for monday in EXPECTED_DIGESTS)
    assert sent_digests == expected_digests, diff(expected_digests, sent_digests)
    for mail in digests:
        counts, who = EXPECTED_DIGESTS[mail.day]
        assert mail.subject.endswith(counts)
        assert who in mail.text


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
    # D1 = Monday 5 April: D1-7 (jti_reminder, escalation) is Monday 29 March, the day after
    # the clocks went forward; 09:00 there is 07:00 UTC.
    days = (d("2027-04-05"), d("2027-04-19"), d("2027-05-03"), d("2027-05-17"), d("2027-05-31"))
    make_cohort(wf, "S27", days=days)
    enrol(wf, cohort="S27")
    mornings = Mornings(wf, clock, sink)
    mornings.sweep(at(d("2027-03-22"), 9, 0))  # D1-14: invitation
    before = len(mornings.mails)
    mornings.sweep(at(d("2027-03-29"), 8, 59))
    assert reminders_in(mornings.new_since(before)) == []
    mornings.sweep(at(d("2027-03-29"), 9, 0))
    sent = reminders_in(mornings.new_since(before))
    assert sorted((m.to, m.rule) for m in sent) == [
        ("kursus@kommune.dk", "manager_conversation_escalation"),
        ("mette@example.dk", "manager_conversation_escalation"),
        ("soren@example.dk", "jti_reminder"),
    ]
    assert {m.message["Date"].datetime for m in sent} == {datetime(2027, 3, 29, 7, 0, tzinfo=UTC)}


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


# == an SMTP server that refuses ==============================================================


def test_smtp_refusal_is_retried_with_backoff_and_delivered_once(
    wf: Workflow, clock: FixedClock, sink: SmtpSink
) -> None:
    make_cohort(wf)
    enrol(wf)  # welcome to participant and manager
    mornings = Mornings(wf, clock, sink)
    sink.refuse_with(451)
    first = mornings.sweep(START + timedelta(minutes=1))
    assert (first.delivered, first.retrying, first.failed) == (0, 2, 0)
    assert sink.received == []
    rows = outbox_rows(wf)
    now = clock.now()
    for row in rows:
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.next_attempt_at > now
        assert "451" in row.last_error
    # Before the back-off has passed nothing is tried, even if the server would take it.
    sink.refuse_with(None)
    early = mornings.sweep(START + timedelta(minutes=1, seconds=30))
    assert (early.delivered, len(sink.received)) == (0, 0)
    assert {r.attempts for r in outbox_rows(wf)} == {1}
    # Past the back-off: delivered, once.
    later = mornings.sweep(START + timedelta(minutes=3))
    assert later.delivered == 2
    assert sorted(m.to for m in mornings.mails) == ["mette@example.dk", "soren@example.dk"]
    rows = outbox_rows(wf)
    assert {(r.status, r.attempts, r.last_error) for r in rows} == {("sent", 2, None)}
    mornings.sweep(START + timedelta(hours=3))
    assert len(sink.received) == 2
    assert len({m.message_id for m in mornings.mails}) == 2


def test_smtp_refusing_every_time_backs_off_then_fails_after_five_tries(
    wf: Workflow, clock: FixedClock, sink: SmtpSink
) -> None:
    make_cohort(wf)
    enrol(wf)
    mornings = Mornings(wf, clock, sink)
    sink.refuse_with(451)
    moment = START + timedelta(minutes=1)
    waits = []
    for attempt in range(1, 6):
        mornings.sweep(moment)
        rows = outbox_rows(wf)
        assert {r.attempts for r in rows} == {attempt}
        if attempt < 5:
            assert {r.status for r in rows} == {"pending"}
            waits.append(rows[0].next_attempt_at - clock.now())
            moment = rows[0].next_attempt_at.astimezone(LOCAL_TZ).replace(tzinfo=None)
        else:
            assert {r.status for r in rows} == {"failed"}
    assert waits == [timedelta(minutes=m) for m in (1, 5, 30, 120)]
    assert sink.received == []


def test_permanent_refusal_fails_at_once_shows_in_the_monday_digest_and_can_be_retried(
    wf: Workflow, clock: FixedClock, sink: SmtpSink, lps: Cli
) -> None:
    clock.set(datetime(2027, 1, 6, 10, 0))  # Wednesday
    make_cohort(wf)
    enrol(wf)
    mornings = Mornings(wf, clock, sink)
    sink.refuse_with(550)
    report = mornings.sweep(datetime(2027, 1, 6, 10, 1))
    assert (report.failed, report.retrying) == (2, 0)
    failed = outbox_rows(wf)
    assert {(r.status, r.attempts) for r in failed} == {("failed", 1)}
    assert all("550" in r.last_error for r in failed)
    listed = lps("outbox", "list", "--status", "failed", "--json")
    assert {(x["id"], x["status"]) for x in json.loads(listed.output)} == {
        (r.id, "failed") for r in failed
    }
    sink.refuse_with(None)
    day = d("2027-01-07")
    while day <= d("2027-01-11"):
        mornings.sweep(at(day))
        day += timedelta(days=1)
    digests = [m for m in mornings.mails if m.rule == "admin_digest"]
    monday = [m for m in digests if m.day == d("2027-01-11")]
    assert [m.to for m in monday] == [ADMIN]
    assert monday[0].subject.endswith("uge 2: 0 forsinkede opgaver, 2 mails ikke sendt")
    for row in failed:
        assert f"Nr. {row.id}, welcome til {row.recipient}" in monday[0].text
    # Failed mail stays failed: no retry by itself.
    assert [m.rule for m in mornings.mails if m.rule != "admin_digest"] == []
    # An administrator queues one again; the next sweep sends it, once.
    participant_mail = next(r for r in failed if r.recipient_role == "participant")
    view = wf.retry_message(participant_mail.id)
    assert (view.status, view.attempts) == ("pending", 0)
    mornings.sweep(at(d("2027-01-11"), 9, 10))
    mornings.sweep(at(d("2027-01-11"), 9, 20))
    resent = [m for m in mornings.mails if m.rule == "welcome"]
    assert [(m.to, m.key) for m in resent] == [("soren@example.dk", participant_mail.key)]
    assert {r.id: r.status for r in outbox_rows(wf)}[participant_mail.id] == "sent"
    with pytest.raises(InvalidInput) as raised:
        wf.retry_message(participant_mail.id)
    assert str(raised.value) == (
        f"message {participant_mail.id} is sent; only failed or dropped messages can be retried"
    )
    with pytest.raises(NotFound) as missing:
        wf.retry_message(9999)
    assert str(missing.value) == "no outbox message with id 9999; see `lps outbox list`"
    # The other one through the CLI.
    manager_mail = next(r for r in failed if r.recipient_role == "manager")
    lps.now = "2027-01-11T09:30"
    retried = lps("outbox", "retry", str(manager_mail.id))
    assert retried.exit_code == 0, retried.output
    assert retried.output == (
        f"Message {manager_mail.id} (welcome to {manager_mail.recipient}) "
        "will be sent on the next sweep.\n"
    )
    mornings.sweep(at(d("2027-01-11"), 9, 31))
    assert sorted(m.to for m in mornings.mails if m.rule == "welcome") == [
        "mette@example.dk",
        "soren@example.dk",
    ]


def test_the_digest_goes_out_on_mondays_only(
    wf: Workflow, clock: FixedClock, sink: SmtpSink
) -> None:
    """PROGRAMME.md: admin_digest, Mondays 08:00. An obligation due on a Monday is overdue
    from the Tuesday; it is reported in the next Monday's digest, not in a digest on Tuesday."""
    clock.set(datetime(2027, 2, 1, 10, 0))
    make_cohort(wf)
    pid = enrol(wf)  # the manager conversation is due Monday 15 February
    mornings = Mornings(wf, clock, sink)
    day = d("2027-02-02")
    while day <= d("2027-02-22"):
        mornings.sweep(at(day))
        day += timedelta(days=1)
    digests = [(m.day, m.occurrence) for m in mornings.mails if m.rule == "admin_digest"]
    # Overdue from Tuesday 16 February: first reported on Monday 22 February.
    assert digests == [(d("2027-02-22"), "2027-02-22")]
    assert wf.participant(pid).overdue[0].name == "manager_conversation"


def test_the_digest_names_exactly_the_obligations_that_are_late(
    wf: Workflow, clock: FixedClock
) -> None:
    """The weekly check reads only who may owe something; what it reads must still be all."""
    clock.set(datetime(2027, 1, 4, 10, 0))
    make_cohort(wf)
    make_cohort(wf, "H2", days=tuple(day + timedelta(days=70) for day in DAYS))
    enrol(wf, "ingen@example.dk", name="Ida Ingen")
    talked = enrol(wf, "samtale@example.dk", name="Sara Samtale")
    done = enrol(wf, "klar@example.dk", name="Karl Klar")
    waived = enrol(wf, "fritaget@example.dk", name="Frida Fritaget")
    enrol(wf, "senere@example.dk", cohort="H2", name="Svend Senere")
    clock.set(datetime(2027, 2, 10, 10, 0))
    for pid in (talked, done):
        step(wf, pid, "hold_manager_conversation", goals=("Overblik",))
    wf.waive(str(waived), "manager_conversation", "samtalen holdt før forløbet")
    clock.set(datetime(2027, 2, 16, 10, 0))
    step(wf, done, "invite_jti")
    step(wf, done, "complete_jti")
    clock.set(at(d("2027-03-22"), 8, 30))
    report = wf.remind(dry_run=False)
    assert report.digests == 1
    with wf.db.reading() as conn:
        body = conn.execute(
            select(OUTBOX.c.body_text).where(OUTBOX.c.rule == "admin_digest")
        ).scalar_one()
    late = sorted(line for line in body.splitlines() if line.startswith("- "))
    jti = "JTI besvaret. Frist mandag den 15. marts 2027, 7 dage for sent."
    assert late == [
        f"- Frida Fritaget <fritaget@example.dk>: {jti}",
        f"- Ida Ingen <ingen@example.dk>: {jti}",
        "- Ida Ingen <ingen@example.dk>: Samtale med nærmeste leder. "
        "Frist mandag den 15. februar 2027, 35 dage for sent.",
        f"- Sara Samtale <samtale@example.dk>: {jti}",
    ]
    assert "Hold H2" not in body


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
        ("day_reminder", 3): cph("2027-03-26T09:00"),  # unchanged
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


def walk_to_certified(
    wf: Workflow,
    clock: FixedClock,
    pid: int,
    goals: tuple[str, ...],
    mornings: Mornings | None = None,
) -> None:
    """Enrolled to certified on the cohort's days; with ``mornings``, a sweep at 09:05 on
    each teaching day."""
    clock.set(at(d("2027-01-05"), 11, 0))
    step(wf, pid, "hold_manager_conversation", goals=goals)
    step(wf, pid, "invite_jti", early=True)
    step(wf, pid, "complete_jti")
    set_host(wf, pid, "hanne@example.dk", "Odense")
    for number, day in enumerate(DAYS, start=1):
        if mornings is not None:
            mornings.sweep(at(day))
        clock.set(at(day, 11, 0))
        step(wf, pid, "register_day")
        if number == 3:
            step(wf, pid, "hold_career_visit")
    step(wf, pid, "deliver_speech")
    assert wf.participant(pid).state == "certified"


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


# == the .eml channel and the dry run, through the CLI ========================================


def test_remind_writes_eml_files_with_rule_and_message_id(
    wf: Workflow, lps: Cli, tmp_path: Path
) -> None:
    make_cohort(wf)
    enrol(wf, "late@example.dk", manager_email="boss@example.dk")
    lps.now = "2027-02-08T09:05"
    result = lps("remind")
    assert result.exit_code == 0, result.output
    assert "1 queued" in result.output
    files = sorted((tmp_path / "mail").glob("*.eml"))
    parsed = [BytesParser(policy=policy.default).parsebytes(f.read_bytes()) for f in files]
    assert sorted((m["To"].addresses[0].addr_spec, str(m["X-LPS-Rule"])) for m in parsed) == [
        ("boss@example.dk", "manager_conversation_reminder"),
        ("boss@example.dk", "welcome"),
        ("late@example.dk", "manager_conversation_reminder"),
        ("late@example.dk", "welcome"),
    ]
    keys = {r.key for r in outbox_rows(wf)}
    for message, path in zip(parsed, files, strict=True):
        assert message["X-LPS-Key"] in keys
        assert message["Message-ID"] == message_id_for(str(message["X-LPS-Key"]), "kommune.dk")
        assert path.name.startswith(str(message["X-LPS-Rule"]) + "-")
    assert {r.status for r in outbox_rows(wf)} == {"sent"}
    # Again at the same moment: nothing new.
    again = lps("remind")
    assert again.exit_code == 0, again.output
    assert sorted((tmp_path / "mail").glob("*.eml")) == files
    assert len(outbox_rows(wf)) == 4


def test_remind_dry_run_lists_who_would_get_what_and_writes_nothing(
    wf: Workflow, lps: Cli, tmp_path: Path
) -> None:
    make_cohort(wf)
    late = enrol(wf, "late@example.dk", manager_email="boss@example.dk")
    done = enrol(wf, "done@example.dk", manager_email="chef@example.dk")
    wf.advance(done, StepRequest("hold_manager_conversation", goals=("Mål",)))
    outbox_before = [tuple(r) for r in outbox_rows(wf)]
    deadlines_before = {k: tuple(r) for k, r in deadline_rows(wf, late).items()}
    lps.now = "2027-02-08T09:05"
    result = lps("remind", "--dry-run")
    assert result.exit_code == 0, result.output
    # A replay (LPS_NOW far from the system clock) says so first; the dry run follows.
    lines = [line for line in result.stdout.splitlines() if not line.startswith("Replay: ")]
    assert lines[0] == "Would do (nothing written)"
    assert lines[-1] == "Dry run: 2 due deadline(s), 0 digest(s); nothing was written or sent."
    body = "\n".join(lines)
    assert f"#{late} late@example.dk" in body
    would = next(line for line in lines if line.startswith(f"#{late} "))
    wont = next(line for line in lines if line.startswith(f"#{done} "))
    assert "manager_conversation_reminder" in would and "queued" in would
    assert "participant, manager" in would
    assert "skipped" in wont and "conversation already held (met)" in wont
    shown = lps("remind", "--dry-run", "--json")
    data = json.loads(shown.stdout)
    assert data["dry_run"] is True
    assert sorted((x["participant_id"], x["outcome"], x["detail"]) for x in data["decisions"]) == [
        (late, "queued", "participant, manager"),
        (done, "skipped", "conversation already held (met)"),
    ]
    assert (data["delivered"], data["digests"]) == (0, 0)
    assert not (tmp_path / "mail").exists() or list((tmp_path / "mail").iterdir()) == []
    assert [tuple(r) for r in outbox_rows(wf)] == outbox_before
    assert {k: tuple(r) for k, r in deadline_rows(wf, late).items()} == deadlines_before
    assert [e.event for e in wf.history(late)] == ["enrol"]


def test_dry_run_counts_the_digest_it_would_queue(wf: Workflow, lps: Cli) -> None:
    make_cohort(wf)
    enrol(wf)
    lps.now = "2027-02-22T09:05"  # the conversation was due 15 February
    result = lps("remind", "--dry-run", "--json")
    assert json.loads(result.stdout)["digests"] == 1
    with wf.db.reading() as conn:
        assert (
            conn.execute(select(func.count()).where(OUTBOX.c.rule == "admin_digest")).scalar_one()
            == 0
        )


# == languages and escaping ===================================================================


def test_templates_reach_the_right_people_in_their_language_and_html_is_escaped(
    wf: Workflow, clock: FixedClock, sink: SmtpSink
) -> None:
    make_cohort(wf)
    goal = "<script>alert('x')</script> & lede"
    pid = enrol(wf, "emma@example.dk", name="Emma Brown", language="en")
    mornings = Mornings(wf, clock, sink)
    walk_to_certified(wf, clock, pid, (goal, "Tydelighed"), mornings)
    mornings.sweep(at(D5, 15, 0))
    certificates = {m.to: m for m in mornings.mails if m.rule == "certificate"}
    assert set(certificates) == {"emma@example.dk", "mette@example.dk"}
    own, manager = certificates["emma@example.dk"], certificates["mette@example.dk"]
    assert own.subject == "Your course certificate for Leder på spring"
    assert manager.subject == "Emma Brown har fået kursusbevis for Leder på spring"
    for mail in (own, manager):
        assert goal in mail.text  # quoted as written in the plain text
        assert "<script>" not in mail.html
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; lede" in mail.html
    hosts = {m.to: m.subject for m in mornings.mails if m.rule == "host_letter"}
    assert hosts["hanne@example.dk"].startswith("Karrieresamtale med Emma Brown senest")
    assert hosts["emma@example.dk"].startswith("Copy of the letter to your host")
    welcome = {m.to: m.subject for m in mornings.mails if m.rule == "welcome"}
    assert welcome["emma@example.dk"].startswith("You are enrolled in Leder på spring")
    assert welcome["mette@example.dk"].startswith("Emma Brown er tilmeldt Leder på spring")


def test_a_sweep_that_only_delivers_leaves_the_participant_untouched(
    wf: Workflow, clock: FixedClock, sink: SmtpSink
) -> None:
    """Delivery writes only outbox rows: an administrator's step taken meanwhile is never
    refused as a concurrent change, and the history shows no sweep that did nothing."""
    make_cohort(wf)
    pid = enrol(wf)
    version = wf.participant(pid).version
    mornings = Mornings(wf, clock, sink)
    mornings.sweep(at(d("2027-01-06")))
    mornings.sweep(at(d("2027-01-07")))
    assert sorted(m.to for m in mornings.mails) == ["mette@example.dk", "soren@example.dk"]
    assert wf.participant(pid).version == version
    assert [e.event for e in wf.history(pid)] == ["enrol"]
