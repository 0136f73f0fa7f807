from __future__ import annotations

# The deadline sweep end to end: a cohort walked through 150 days on a real database
# (SQLite and PostgreSQL) with a real SMTP server on loopback.
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from conftest import make_cohort
from helpers import outbox as outbox_rows
from smtp_server import SmtpSink
from sweep_helpers import ADMIN, Mornings, at, d, diff, set_host, step

from notifications.delivery import message_id_for
from workflow.clock import FixedClock
from workflow.engine import Workflow
from workflow.verify import verify_audit

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
    # D3 is Anden påskedag; D3-1 is Easter Sunday and D3-3 Langfredag: all three look ahead
    # past Skærtorsdag to Wednesday 24 Mar. Erik has withdrawn; Cecilie has no host.
    send("2027-03-24", "day_reminder", *STAYING, occurrence=3)
    send("2027-03-24", "homework_reminder", *STAYING)
    send("2027-03-24", "host_missing", CECILIE)
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
