"""Mail that arrives as what it is: automatic, from the sender's own domain, readable by
mail programs, and refused permanently only once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from conftest import START, Cli, enrol, make_cohort
from smtp_server import SmtpSink
from sqlalchemy import select

from notifications.delivery import SmtpChannel, message_id_for
from workflow.clock import FixedClock
from workflow.engine import Workflow
from workflow.records import OUTBOX


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


def test_a_delivered_message_is_automatic_and_its_message_id_is_the_senders_domain(
    wf: Workflow, clock: FixedClock, sink: SmtpSink
) -> None:
    make_cohort(wf, admin_email="kursus@odense.dk")
    enrol(wf)
    clock.set(START + timedelta(minutes=1))
    report = wf.remind(channel=SmtpChannel.from_url(sink.url))
    assert report.delivered == 2
    for received in sink.received:
        message = received.message
        assert message["From"].addresses[0].addr_spec == "kursus@odense.dk"
        assert message["Message-ID"] == message_id_for(str(message["X-LPS-Key"]), "odense.dk")
        assert re.fullmatch(r"<[0-9a-f]{32}@odense\.dk>", str(message["Message-ID"]))
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["X-Auto-Response-Suppress"] == "All"
        assert message["Precedence"] == "bulk"


UNKNOWN = "5.1.1 <soren@example.dk>: Recipient address rejected: User unknown"


def test_a_permanent_refusal_fails_at_once_with_the_servers_reason_in_the_list_and_digest(
    wf: Workflow, clock: FixedClock, sink: SmtpSink, lps: Cli
) -> None:
    clock.set(datetime(2027, 1, 6, 10, 0))  # a Wednesday
    make_cohort(wf)
    enrol(wf, manager_email="mette@example.dk")
    channel = SmtpChannel.from_url(sink.url)
    sink.refuse_with(550, stage="RCPT", reason=UNKNOWN)
    clock.set(datetime(2027, 1, 6, 10, 1))
    report = wf.remind(channel=channel)
    assert (report.delivered, report.retrying, report.failed) == (0, 0, 2)
    server = f"SMTP server 127.0.0.1:{sink.port}"
    [failed] = [v for v in wf.outbox("failed") if v.recipient.endswith("<soren@example.dk>")]
    expected = (
        f"{server} refused message {message_id_for(failed_key(wf, failed.id), 'kommune.dk')}"
        f" to soren@example.dk: soren@example.dk: 550 {UNKNOWN}"
    )
    assert (failed.status, failed.attempts, failed.last_error) == ("failed", 1, expected)
    lps.now = "2027-01-06T10:02"
    listed = lps("outbox", "list", "--status", "failed")
    assert listed.exit_code == 0, listed.output
    header, *lines = listed.output.splitlines()
    assert header.split() == ["id", "rule", "recipient", "status", "tries", "when", "error"]
    [line] = [x for x in lines if x.startswith(f"{failed.id} ")]
    assert re.fullmatch(
        rf"{failed.id} +welcome +Søren Ærø <soren@example\.dk> +failed +1 +2027-01-06 10:01 +"
        + re.escape(expected),
        line,
    ), line
    # Nothing more is tried, whatever the server would now say.
    sink.refuse_with(None)
    clock.set(datetime(2027, 1, 11, 9, 5))  # the Monday
    wf.remind(channel=channel)
    digest = [r.message for r in sink.received if r.message["X-LPS-Rule"] == "admin_digest"]
    assert [r.message["X-LPS-Rule"] for r in sink.received] == ["admin_digest"]
    text = digest[0].get_body(("plain",)).get_content()
    assert f"- Nr. {failed.id}, welcome til Søren Ærø <soren@example.dk>: {expected}\n" in text


def test_a_temporary_refusal_backs_off_and_is_delivered_later(
    wf: Workflow, clock: FixedClock, sink: SmtpSink, lps: Cli
) -> None:
    make_cohort(wf)
    enrol(wf)
    channel = SmtpChannel.from_url(sink.url)
    sink.refuse_with(451, stage="RCPT", reason="4.7.1 Greylisted, try again in 60 seconds")
    clock.set(START + timedelta(minutes=1))
    report = wf.remind(channel=channel)
    assert (report.delivered, report.retrying, report.failed) == (0, 2, 0)
    views = wf.outbox()
    assert {(v.status, v.attempts) for v in views} == {("pending", 1)}
    assert all(
        v.last_error and v.last_error.endswith("451 4.7.1 Greylisted, try again in 60 seconds")
        for v in views
    )
    sink.refuse_with(None)
    clock.set(START + timedelta(minutes=3))
    assert wf.remind(channel=channel).delivered == 2
    assert {(v.status, v.attempts, v.last_error) for v in wf.outbox()} == {("sent", 2, None)}


def failed_key(wf: Workflow, message_id: int) -> str:
    with wf.db.reading() as conn:
        return str(conn.execute(select(OUTBOX.c.key).where(OUTBOX.c.id == message_id)).scalar())
