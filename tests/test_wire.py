"""The wire form of a mail: whatever goes in comes out of a standard parser unchanged, in
lines a mail server accepts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifications.delivery import Attachment, OutgoingMail, build_message
from notifications.wire import compose, message_id_for

SENT_AT = datetime(2027, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=1)))
MAIL = OutgoingMail(
    key="7:day_reminder:participant:1",
    rule="day_reminder",
    sender='"Kursussekretariatet, Leder på spring" <kursus@kommune.dk>',
    recipient="Søren Ærø <soren@example.dk>",
    subject="Påmindelse: 1. undervisningsdag mandag den 1. marts",
    text="Kære Søren\n\nVi ses på mandag.\n",
    html="<p>Kære Søren</p>\n<p>Vi ses på <b>mandag</b>.</p>\n",
)
parse = BytesParser(policy=policy.default).parsebytes


def lines_of(data: bytes) -> list[bytes]:
    assert b"\r" not in data, "line ends are LF, as in an .eml file"
    return data.split(b"\n")


def test_a_reminder_reads_back_as_written() -> None:
    composed = compose(MAIL, domain="kommune.dk", date=SENT_AT)
    parsed = parse(composed.data)
    assert parsed["Subject"] == MAIL.subject
    assert parsed["From"].addresses[0].display_name == "Kursussekretariatet, Leder på spring"
    assert parsed["From"].addresses[0].addr_spec == "kursus@kommune.dk"
    assert parsed["To"].addresses[0].display_name == "Søren Ærø"
    assert parsed["Message-ID"] == message_id_for(MAIL.key, "kommune.dk")
    assert parsed["X-LPS-Rule"] == "day_reminder"
    assert parsed["X-LPS-Key"] == MAIL.key
    assert parsedate_to_datetime(parsed["Date"]) == SENT_AT
    assert parsed.get_content_type() == "multipart/alternative"
    plain = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content() == MAIL.text
    assert html.get_content() == MAIL.html
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert composed.sender == "kursus@kommune.dk"
    assert composed.recipients == ("soren@example.dk",)
    assert composed.message_id == parsed["Message-ID"]


def test_the_same_mail_gives_the_same_bytes_and_build_message_parses_them() -> None:
    first = compose(MAIL, date=SENT_AT).data
    assert compose(MAIL, date=SENT_AT).data == first
    built = build_message(MAIL, date=SENT_AT)
    assert built["Message-ID"] == message_id_for(MAIL.key, "kommune.dk")
    plain, html = built.get_payload()
    assert plain.get_payload(decode=True).decode() == MAIL.text
    assert html.get_payload(decode=True).decode() == MAIL.html


def test_attachments_arrive_whole_with_their_names() -> None:
    pdf = b"%PDF-1.4\n\x00\xff" + bytes(range(256)) * 20
    ics = b"BEGIN:VCALENDAR\r\nSUMMARY:Samtale\r\nEND:VCALENDAR\r\n"
    mail = OutgoingMail(
        **{
            **MAIL.__dict__,
            "attachments": (
                Attachment("Kursusbevis Søren Ærø.pdf", "application/pdf", pdf),
                Attachment("samtale.ics", "text/calendar; method=REQUEST", ics),
            ),
        }
    )
    parsed = parse(compose(mail, date=SENT_AT).data)
    assert parsed.get_content_type() == "multipart/mixed"
    files = list(parsed.iter_attachments())
    assert [f.get_filename() for f in files] == ["Kursusbevis Søren Ærø.pdf", "samtale.ics"]
    assert files[0].get_content() == pdf
    assert files[1].get_param("method") == "REQUEST"
    assert files[1].get_payload(decode=True) == ics
    body = parsed.get_body(("plain",))
    assert body is not None and body.get_content() == MAIL.text


def test_a_line_of_a_single_dot_is_written_so_no_server_ends_the_message_there() -> None:
    mail = OutgoingMail(**{**MAIL.__dict__, "text": "før\n.\nefter\n.punktum\n"})
    data = compose(mail, date=SENT_AT).data
    assert not any(line.startswith(b".") for line in lines_of(data))
    body = parse(data).get_body(("plain",))
    assert body is not None and body.get_content() == "før\n.\nefter\n.punktum\n"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("recipient", "a@example.dk, b@example.dk", "recipient must be exactly one e-mail"),
        ("recipient", "Søren Ærø", "recipient must be exactly one e-mail"),
        ("recipient", "Søren <søren@example.dk>", "recipient must be an ASCII e-mail address"),
        ("sender", "", "sender must be exactly one e-mail"),
        ("subject", "Hej\r\nBcc: alle@example.dk", "subject must be one line"),
    ],
)
def test_what_cannot_be_one_header_is_refused(field: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compose(OutgoingMail(**{**MAIL.__dict__, field: value}), date=SENT_AT)


def test_a_naive_date_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compose(MAIL, date=datetime(2027, 3, 1, 9, 0))


names = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=0, max_size=90
)
bodies = st.text(st.characters(blacklist_categories=("Cs",)), max_size=600)
local_parts = st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,20}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(
    name=names,
    local=local_parts,
    subject=names,
    text=bodies,
    html=bodies,
    key=st.from_regex(r"[!-~]{1,80}", fullmatch=True),
)
def test_any_mail_survives_the_wire(
    name: str, local: str, subject: str, text: str, html: str, key: str
) -> None:
    address = f"{local}@example.dk"
    quoted = '"{}"'.format(name.replace("\\", "\\\\").replace('"', '\\"'))
    mail = OutgoingMail(
        key=key,
        rule="welcome",
        sender=MAIL.sender,
        recipient=f"{quoted} <{address}>",
        subject=subject,
        text=text,
        html=html,
    )
    composed = compose(mail, date=datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
    assert composed.data.isascii()
    for line in lines_of(composed.data):
        assert len(line) <= 998
        if line.startswith((b"Subject:", b" =?utf-8?")):
            assert len(line) <= 76, line
    parsed = parse(composed.data)
    recipient = parsed["To"].addresses[0]
    assert recipient.addr_spec == address
    assert recipient.display_name == " ".join(name.split())
    assert re.sub(r"\s+", " ", str(parsed["Subject"])).strip() == " ".join(subject.split())
    assert parsed["X-LPS-Key"] == key

    def normalised(value: str) -> str:
        return value.replace("\r\n", "\n").replace("\r", "\n")

    plain = parsed.get_body(("plain",))
    rich = parsed.get_body(("html",))
    assert plain is not None and rich is not None
    assert normalised(plain.get_content()) == normalised(text)
    assert normalised(rich.get_content()) == normalised(html)


def test_the_message_id_is_in_the_senders_domain_and_follows_the_key() -> None:
    composed = compose(MAIL, date=SENT_AT)
    parsed = parse(composed.data)
    assert parsed["Message-ID"] == composed.message_id == message_id_for(MAIL.key, "kommune.dk")
    assert re.fullmatch(r"<[0-9a-f]{32}@kommune\.dk>", composed.message_id)
    # A resend, a day later, is recognisably the same message.
    assert compose(MAIL, date=SENT_AT + timedelta(days=1)).message_id == composed.message_id
    other = OutgoingMail(**{**MAIL.__dict__, "sender": "Kursus <KURSUS@Aarhus.DK>"})
    assert compose(other, date=SENT_AT).message_id.endswith("@aarhus.dk>")


def test_every_message_says_it_was_sent_automatically() -> None:
    plain = parse(compose(MAIL, date=SENT_AT).data)
    with_file = OutgoingMail(
        **{**MAIL.__dict__, "attachments": (Attachment("a.pdf", "application/pdf", b"%PDF"),)}
    )
    for parsed in (plain, parse(compose(with_file, date=SENT_AT).data)):
        assert parsed["Auto-Submitted"] == "auto-generated"
        assert parsed["X-Auto-Response-Suppress"] == "OOF, AutoReply"
        assert parsed["Precedence"] == "bulk"
        assert "X-Unsent" not in parsed


@settings(max_examples=200, deadline=None)
@given(
    local=local_parts,
    domain=st.from_regex(
        r"[A-Za-z0-9]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?(\.[A-Za-z]{2,6}){1,2}", fullmatch=True
    ),
    name=names,
)
def test_any_senders_message_id_is_in_its_domain(local: str, domain: str, name: str) -> None:
    quoted = '"{}"'.format(name.replace("\\", "\\\\").replace('"', '\\"'))
    mail = OutgoingMail(**{**MAIL.__dict__, "sender": f"{quoted} <{local}@{domain}>"})
    parsed = parse(compose(mail, date=SENT_AT).data)
    assert parsed["Message-ID"] == message_id_for(MAIL.key, domain.lower())
    assert parsed["From"].addresses[0].domain == domain
    assert parsed["Auto-Submitted"] == "auto-generated"
