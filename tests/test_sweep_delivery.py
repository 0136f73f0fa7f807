from __future__ import annotations

# The sweep's delivery: an SMTP server that refuses, the .eml channel and the dry run
# through the CLI, languages and escaping.
import json
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from conftest import DAYS, START, Cli, enrol, make_cohort
from helpers import outbox as outbox_rows
from smtp_server import SmtpSink
from sqlalchemy import func, select
from sweep_helpers import ADMIN, D5, Mornings, at, d, deadline_rows, step, walk_to_certified

from notifications.delivery import message_id_for
from states.programme import LOCAL_TZ
from workflow.clock import FixedClock
from workflow.engine import StepRequest, Workflow
from workflow.errors import InvalidInput, NotFound
from workflow.records import OUTBOX

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
