"""Mail that arrives as what it is: automatic, from the sender's own domain, readable by
mail programs, and refused permanently only once."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path

from conftest import START, Cli, enrol, make_cohort
from smtp_server import SmtpSink
from sqlalchemy import select

from notifications.delivery import SmtpChannel, message_id_for
from workflow.clock import FixedClock
from workflow.engine import Workflow
from workflow.records import OUTBOX


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
        assert message["X-Auto-Response-Suppress"] == "OOF, AutoReply"
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


# == the .eml files and `lps outbox show` =======================================================


def check_readable(data: bytes) -> EmailMessage:
    """``data`` parsed as a mail program would, with every part checked."""
    assert b"\r" not in data, "one kind of line end, so that no CR stands alone"
    assert max(len(line) for line in data.split(b"\n")) <= 998, "RFC 5322 line length"
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    assert message.defects == []
    assert message["MIME-Version"] == "1.0"
    assert parsedate_to_datetime(str(message["Date"])).tzinfo is not None
    assert message["Message-ID"] and message["From"] and message["To"] and message["Subject"]
    assert "X-Unsent" not in message
    for part in message.walk():
        assert part.defects == [], part.get_content_type()
        if part.is_multipart():
            assert part.get_content_type() in ("multipart/mixed", "multipart/alternative")
            continue
        content = part.get_content()
        assert content
        if part.get_content_maintype() == "text" and part.get_content_disposition() is None:
            assert part.get_content_charset() == "utf-8"
            assert "\r" not in content
    # The same message with CRLF line ends, as it goes over SMTP, reads the same.
    crlf = BytesParser(policy=policy.default).parsebytes(data.replace(b"\n", b"\r\n"))
    assert [p.get_content_type() for p in crlf.walk()] == [
        p.get_content_type() for p in message.walk()
    ]
    for mine, theirs in zip(message.walk(), crlf.walk(), strict=True):
        if mine.is_multipart():
            continue
        if mine.get_content_disposition() == "attachment":
            assert theirs.get_content() == mine.get_content(), "base64 is line-end proof"
        else:
            assert theirs.get_content().replace("\r\n", "\n") == mine.get_content()
    return message


def test_an_eml_file_opens_in_a_mail_program_and_outbox_show_prints_it_as_sent(
    wf: Workflow, lps: Cli, tmp_path: Path
) -> None:
    make_cohort(wf)
    enrol(wf)
    lps.now = (START + timedelta(minutes=1)).isoformat()
    assert lps("remind").exit_code == 0
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 2
    welcome = next(v for v in wf.outbox() if v.recipient.endswith("<soren@example.dk>"))
    for path in files:
        message = check_readable(path.read_bytes())
        assert message.get_content_type() == "multipart/mixed"
        alternative, calendar = message.iter_parts()
        assert [p.get_content_type() for p in alternative.iter_parts()] == [
            "text/plain",
            "text/html",
        ]
        assert calendar.get_content_type() == "text/calendar"
        assert calendar.get_filename() == "leder-paa-spring.ics"
        assert calendar.get_content().startswith("BEGIN:VCALENDAR")
    [path] = [p for p in files if b"To: =?utf-8?b?U8O4cmVuIMOGcsO4?= <soren" in p.read_bytes()]
    raw = lps("outbox", "show", str(welcome.id), "--raw")
    assert raw.exit_code == 0, raw.output
    assert raw.stdout_bytes == path.read_bytes()
    shown = lps("outbox", "show", str(welcome.id))
    assert shown.exit_code == 0, shown.output
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    text = message.get_body(("plain",))
    assert text is not None
    assert shown.output == (
        f"Message {welcome.id}: sent 2027-01-04 10:01\n"
        "\n"
        'From: "Kursussekretariatet, Leder på spring" <kursus@kommune.dk>\n'
        "To: Søren Ærø <soren@example.dk>\n"
        f"Subject: {message['Subject']}\n"
        "Date: Mon, 04 Jan 2027 09:01:00 +0000\n"
        f"Message-ID: {message['Message-ID']}\n"
        "Auto-Submitted: auto-generated\n"
        "X-Auto-Response-Suppress: OOF, AutoReply\n"
        "Precedence: bulk\n"
        "X-LPS-Rule: welcome\n"
        f"X-LPS-Key: {message['X-LPS-Key']}\n"
        "Attachment: leder-paa-spring.ics (text/calendar)\n"
        "\n" + text.get_content()
    )
    assert "Kære Søren" in shown.output


def test_outbox_show_says_what_is_wrong(wf: Workflow, lps: Cli) -> None:
    make_cohort(wf)
    enrol(wf)
    missing = lps("outbox", "show", "999")
    assert (missing.exit_code, missing.output) == (
        1,
        "Error: no outbox message with id 999; see `lps outbox list`\n",
    )
    [queued, *_] = wf.outbox()
    shown = lps("outbox", "show", str(queued.id))
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[0] == (
        f"Message {queued.id}: pending, not sent yet; shown as it would be sent now"
    )
