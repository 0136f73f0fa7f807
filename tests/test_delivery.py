"""Delivery of built messages over real SMTP servers and to .eml files."""

from __future__ import annotations

import hashlib
import re
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import read_eml
from smtp_server import SmtpSink, Stage, self_signed_certificate

from notifications.delivery import (
    Attachment,
    DeliveryError,
    EmlChannel,
    OutgoingMail,
    SmtpChannel,
    build_message,
    channel_from_env,
    describe_channel,
    message_id_for,
    redact_url,
)

# The AUTH tests log in over plain text on purpose; aiosmtpd warns about that.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

SUBJECT = "Husk samtalen – Ærø"
SENT_AT = datetime(2025, 3, 14, 9, 30, tzinfo=timezone(timedelta(hours=1)))
USER = "lps-bot"
# Every character here needs percent-encoding in a URL.
PASSWORD = "s3cr3t:/?#@%+ &pw"


MAIL = OutgoingMail(
    key="42:welcome:manager:0",
    rule="welcome",
    sender="Leder på spring <kursus@kommune.dk>",
    recipient="Søren Ærø <soren@example.dk>",
    subject=SUBJECT,
    text="Kære Søren\n\nVi ses til samtalen på Ærø.\n",
    html="<p>Kære Søren</p><p>Vi ses til samtalen på <b>Ærø</b>.</p>\n",
)


def make_mail(key: str = MAIL.key, **changes: Any) -> OutgoingMail:
    return replace(MAIL, key=key, **changes)


def make_message(key: str = MAIL.key, **changes: Any) -> EmailMessage:
    return build_message(make_mail(key, **changes), domain="kommune.dk", date=SENT_AT)


@pytest.fixture
def auth_sink() -> Iterator[SmtpSink]:
    with SmtpSink(username=USER, password=PASSWORD) as server:
        yield server


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    try:
        return self_signed_certificate(tmp_path_factory.mktemp("tls"))
    except FileNotFoundError:
        pytest.skip("openssl is not installed, so no certificate for the TLS tests")
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"openssl could not make a certificate: {exc.stderr.decode().strip()}")


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


# --- building -----------------------------------------------------------------


def test_message_id_is_derived_from_the_key() -> None:
    expected = hashlib.sha256(b"42:welcome:manager:0").hexdigest()[:32]
    assert message_id_for("42:welcome:manager:0") == f"<{expected}@lps.invalid>"
    assert message_id_for("42:welcome:manager:0", "kommune.dk") == f"<{expected}@kommune.dk>"
    assert re.fullmatch(r"<[0-9a-f]{32}@lps\.invalid>", message_id_for("x"))
    assert message_id_for("42:welcome:manager:0") != message_id_for("42:welcome:manager:1")


def test_build_message_headers_and_alternative_parts() -> None:
    message = make_message()
    assert message.get_content_type() == "multipart/alternative"
    assert message["Message-ID"] == message_id_for("42:welcome:manager:0", "kommune.dk")
    assert message["X-LPS-Rule"] == "welcome"
    assert message["X-LPS-Key"] == "42:welcome:manager:0"
    assert parsedate_to_datetime(message["Date"]) == SENT_AT
    plain, html = message.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert plain.get_content_charset() == "utf-8"
    assert html.get_content_type() == "text/html"
    # The same key and date give the same message, byte for byte.
    assert make_message().as_bytes() == message.as_bytes()


def test_build_message_uses_the_senders_domain_by_default() -> None:
    message = build_message(make_mail(), date=SENT_AT)
    assert message["Message-ID"] == message_id_for("42:welcome:manager:0", "kommune.dk")


def test_build_message_rejects_naive_date() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_message(make_mail(), date=datetime(2025, 3, 14, 9, 30))


@pytest.mark.parametrize(
    "recipient", ["a@example.dk, b@example.dk", "Søren Ærø", "", "a@example.dk <b@example.dk>"]
)
def test_build_message_wants_exactly_one_recipient(recipient: str) -> None:
    with pytest.raises(ValueError, match="recipient must be exactly one e-mail address"):
        make_message(recipient=recipient)


def test_build_message_rejects_header_injection() -> None:
    with pytest.raises(ValueError):
        make_message(subject="Hej\r\nBcc: alle@example.dk")


def test_build_message_rejects_bad_attachment_type() -> None:
    with pytest.raises(ValueError, match="type/subtype"):
        make_message(attachments=(Attachment("a.pdf", "pdf", b"%PDF"),))


# --- SMTP ---------------------------------------------------------------------


def test_message_arrives_with_headers_parts_and_attachments(sink: SmtpSink) -> None:
    pdf = b"%PDF-1.4\n\x00\xff binary \xe6\xf8\xe5"
    ics = "BEGIN:VCALENDAR\r\nSUMMARY:Samtale på Ærø\r\nEND:VCALENDAR\r\n".encode()
    message = make_message(
        attachments=(
            Attachment("Mødeplan.pdf", "application/pdf", pdf),
            Attachment("samtale.ics", "text/calendar; method=REQUEST", ics),
        )
    )
    channel = SmtpChannel.from_url(sink.url)
    try:
        channel.send(message)
    finally:
        channel.close()

    [received] = sink.received
    assert received.mail_from == "kursus@kommune.dk"
    assert received.rcpt_tos == ("soren@example.dk",)
    # Headers are RFC 2047 encoded and bodies quoted-printable/base64: 7-bit clean.
    assert received.raw.isascii()
    got = received.message
    assert got["Subject"] == SUBJECT
    assert got["From"].addresses[0].display_name == "Leder på spring"
    assert got["From"].addresses[0].addr_spec == "kursus@kommune.dk"
    assert got["To"].addresses[0].display_name == "Søren Ærø"
    assert got["Message-ID"] == message_id_for("42:welcome:manager:0", "kommune.dk")
    assert got["X-LPS-Rule"] == "welcome"
    assert got["X-LPS-Key"] == "42:welcome:manager:0"
    assert got["Date"].datetime == SENT_AT
    assert got.get_content_type() == "multipart/mixed"

    body = got.get_body(preferencelist=("plain",))
    html = got.get_body(preferencelist=("html",))
    assert body is not None and html is not None
    assert body.get_content() == "Kære Søren\n\nVi ses til samtalen på Ærø.\n"
    assert html.get_content() == "<p>Kære Søren</p><p>Vi ses til samtalen på <b>Ærø</b>.</p>\n"

    attachments = list(got.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["Mødeplan.pdf", "samtale.ics"]
    assert [a.get_content_type() for a in attachments] == ["application/pdf", "text/calendar"]
    assert attachments[0].get_payload(decode=True) == pdf
    assert attachments[1].get_payload(decode=True) == ics
    assert attachments[1].get_param("method") == "REQUEST"


def test_login_with_user_and_password(auth_sink: SmtpSink) -> None:
    channel = SmtpChannel.from_url(auth_sink.url)
    try:
        channel.send(make_message())
    finally:
        channel.close()
    [received] = auth_sink.received
    assert received.login == USER

    shown = describe_channel(channel)
    assert shown == f"SMTP smtp://{USER}:***@127.0.0.1:{auth_sink.port}"
    assert redact_url(auth_sink.url) == f"smtp://{USER}:***@127.0.0.1:{auth_sink.port}"
    for text in (shown, redact_url(auth_sink.url), repr(channel), channel.url):
        assert "s3cr3t" not in text


def test_wrong_password_is_permanent_and_not_shown(auth_sink: SmtpSink) -> None:
    url = auth_sink.url.replace("s3cr3t", "wr0ng-s3cr3t")
    channel = SmtpChannel.from_url(url)
    with pytest.raises(DeliveryError) as caught:
        channel.send(make_message())
    channel.close()
    assert caught.value.transient is False
    assert caught.value.code == 535
    assert f"rejected the login as '{USER}'" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)
    assert "s3cr3t" not in str(caught.value.__cause__)
    assert auth_sink.received == []


def test_missing_login_is_permanent(auth_sink: SmtpSink) -> None:
    channel = SmtpChannel("127.0.0.1", auth_sink.port)
    with pytest.raises(DeliveryError) as caught:
        channel.send(make_message())
    channel.close()
    assert caught.value.transient is False
    assert caught.value.code == 530


@pytest.mark.parametrize("stage", ["MAIL", "RCPT", "DATA"])
@pytest.mark.parametrize(("code", "transient"), [(451, True), (421, True), (550, False)])
def test_refusals_map_to_transient_or_permanent(
    sink: SmtpSink, stage: Stage, code: int, transient: bool
) -> None:
    channel = SmtpChannel.from_url(sink.url)
    sink.refuse_with(code, stage=stage)
    try:
        with pytest.raises(DeliveryError) as caught:
            channel.send(make_message())
        assert caught.value.transient is transient
        assert caught.value.code == code
        assert f"SMTP server 127.0.0.1:{sink.port} refused message " in str(caught.value)
        assert "soren@example.dk" in str(caught.value)
        assert str(code) in str(caught.value)

        # Once the server accepts again, the same channel delivers.
        sink.refuse_with(None)
        channel.send(make_message())
    finally:
        channel.close()
    assert len(sink.messages) == 1


def test_server_down_is_transient() -> None:
    sink = SmtpSink()  # never started: nothing listens on the port
    channel = SmtpChannel.from_url(sink.url)
    with pytest.raises(DeliveryError) as caught:
        channel.send(make_message())
    assert caught.value.transient is True
    assert caught.value.code is None
    assert str(caught.value).startswith(f"cannot reach SMTP server 127.0.0.1:{sink.port}: ")


def test_server_stopped_after_connecting_is_transient(sink: SmtpSink) -> None:
    channel = SmtpChannel.from_url(sink.url)
    channel.send(make_message())
    sink.stop()
    with pytest.raises(DeliveryError) as caught:
        channel.send(make_message("42:welcome:manager:1"))
    channel.close()
    assert caught.value.transient is True


def test_connection_is_reused_across_sends(sink: SmtpSink) -> None:
    channel = SmtpChannel.from_url(sink.url)
    try:
        channel.send(make_message("1:welcome:manager:0"))
        channel.send(make_message("2:welcome:manager:0"))
        channel.send(make_message("3:welcome:manager:0"))
    finally:
        channel.close()
    assert len({received.peer for received in sink.received}) == 1
    assert [m["X-LPS-Key"] for m in sink.messages] == [
        "1:welcome:manager:0",
        "2:welcome:manager:0",
        "3:welcome:manager:0",
    ]


def test_reconnects_when_the_server_dropped_the_connection(sink: SmtpSink) -> None:
    channel = SmtpChannel.from_url(sink.url)
    try:
        channel.send(make_message("1:welcome:manager:0"))
        sink.drop_connections()
        channel.send(make_message("2:welcome:manager:0"))
        channel.send(make_message("3:welcome:manager:0"))
    finally:
        channel.close()
    first, second, third = (received.peer for received in sink.received)
    assert first != second == third


def test_reconnects_after_server_restart(sink: SmtpSink) -> None:
    channel = SmtpChannel.from_url(sink.url)
    try:
        channel.send(make_message("1:welcome:manager:0"))
        sink.stop()
        sink.start()
        channel.send(make_message("2:welcome:manager:0"))
    finally:
        channel.close()
    assert len(sink.messages) == 2
    assert sink.received[0].peer != sink.received[1].peer


def test_close_is_idempotent_and_channel_usable_after(sink: SmtpSink) -> None:
    channel = SmtpChannel.from_url(sink.url)
    channel.close()
    channel.send(make_message("1:welcome:manager:0"))
    channel.close()
    channel.close()
    channel.send(make_message("2:welcome:manager:0"))
    channel.close()
    assert len(sink.messages) == 2


def test_message_without_recipients_is_permanent(sink: SmtpSink) -> None:
    message = make_message()
    del message["To"]
    with pytest.raises(DeliveryError, match="has no recipients") as caught:
        SmtpChannel.from_url(sink.url).send(message)
    assert caught.value.transient is False


# --- TLS ----------------------------------------------------------------------


def test_starttls_with_self_signed_certificate(certificate: tuple[Path, Path]) -> None:
    with SmtpSink(
        starttls_context=server_context(certificate), username=USER, password=PASSWORD
    ) as sink:
        assert sink.url.endswith("?starttls=1")
        channel = SmtpChannel.from_url(sink.url, ssl_context=client_context(certificate))
        try:
            channel.send(make_message())
        finally:
            channel.close()
        assert describe_channel(channel) == (
            f"SMTP smtp://{USER}:***@127.0.0.1:{sink.port}?starttls=1"
        )
        [received] = sink.received
        assert received.tls is True
        assert received.login == USER
        assert received.message["Subject"] == SUBJECT


def test_without_starttls_the_same_server_sees_plain_text(
    certificate: tuple[Path, Path],
) -> None:
    with SmtpSink(starttls_context=server_context(certificate)) as sink:
        channel = SmtpChannel("127.0.0.1", sink.port)
        channel.send(make_message())
        channel.close()
        assert sink.received[0].tls is False


def test_smtps_with_self_signed_certificate(certificate: tuple[Path, Path]) -> None:
    with SmtpSink(implicit_tls_context=server_context(certificate)) as sink:
        assert sink.url.startswith("smtps://")
        channel = SmtpChannel.from_url(sink.url, ssl_context=client_context(certificate))
        try:
            channel.send(make_message("1:welcome:manager:0"))
            channel.send(make_message("2:welcome:manager:0"))
        finally:
            channel.close()
        assert [received.tls for received in sink.received] == [True, True]
        assert len({received.peer for received in sink.received}) == 1


def test_untrusted_certificate_is_permanent(certificate: tuple[Path, Path]) -> None:
    with SmtpSink(starttls_context=server_context(certificate)) as sink:
        channel = SmtpChannel.from_url(sink.url)  # system trust store only
        with pytest.raises(DeliveryError) as caught:
            channel.send(make_message())
        assert caught.value.transient is False
        assert str(caught.value).startswith(
            f"TLS certificate of SMTP server 127.0.0.1:{sink.port} was not accepted: "
        )
        assert sink.received == []


def test_starttls_against_server_without_it_is_permanent(sink: SmtpSink) -> None:
    channel = SmtpChannel.from_url(f"{sink.url}?starttls=1")
    with pytest.raises(DeliveryError, match="STARTTLS") as caught:
        channel.send(make_message())
    assert caught.value.transient is False


# --- .eml files ---------------------------------------------------------------


def eml_name(rule: str, key: str) -> str:
    return f"{rule}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.eml"


def test_eml_channel_writes_a_parseable_file(tmp_path: Path) -> None:
    directory = tmp_path / "mail" / "outbox"
    channel = EmlChannel(directory)
    message = make_message(attachments=(Attachment("a.pdf", "application/pdf", b"%PDF"),))
    channel.send(message)
    channel.close()

    [path] = directory.iterdir()
    assert path.name == eml_name("welcome", "42:welcome:manager:0")
    assert channel.path_for(message) == path
    parsed = read_eml(path)
    assert parsed["Subject"] == SUBJECT
    assert parsed["To"].addresses[0].display_name == "Søren Ærø"
    assert parsed["Message-ID"] == message["Message-ID"]
    assert [a.get_filename() for a in parsed.iter_attachments()] == ["a.pdf"]


def test_eml_channel_same_key_twice_gives_one_file(tmp_path: Path) -> None:
    channel = EmlChannel(tmp_path)
    channel.send(make_message(subject="Første udgave"))
    channel.send(make_message(subject="Anden udgave"))
    channel.send(make_message("42:welcome:manager:1"))
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == sorted(
        [eml_name("welcome", "42:welcome:manager:0"), eml_name("welcome", "42:welcome:manager:1")]
    )
    latest = (tmp_path / eml_name("welcome", "42:welcome:manager:0")).read_bytes()
    assert BytesParser(policy=policy.default).parsebytes(latest)["Subject"] == "Anden udgave"


def test_eml_channel_keeps_rule_names_file_safe(tmp_path: Path) -> None:
    channel = EmlChannel(tmp_path)
    message = make_message(rule="../påmindelse 2")
    channel.send(message)
    [path] = tmp_path.iterdir()
    assert path.name == eml_name("p_mindelse_2", "42:welcome:manager:0")


def test_eml_channel_makes_its_folder_again_when_it_was_removed(tmp_path: Path) -> None:
    directory = tmp_path / "outbox"
    channel = EmlChannel(directory)
    channel.send(make_message())
    shutil.rmtree(directory)
    channel.send(make_message("42:welcome:manager:1"))
    assert [path.name for path in directory.iterdir()] == [
        eml_name("welcome", "42:welcome:manager:1")
    ]


def test_eml_channel_unwritable_directory_is_a_delivery_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(DeliveryError, match="cannot write"):
        EmlChannel(blocker / "outbox").send(make_message())


# --- configuration --------------------------------------------------------------


def test_channel_from_env_defaults_to_outbox() -> None:
    channel = channel_from_env({})
    assert isinstance(channel, EmlChannel)
    assert channel.directory == Path("outbox")
    assert describe_channel(channel) == ".eml files in outbox/"


def test_channel_from_env_mail_dir(tmp_path: Path) -> None:
    channel = channel_from_env({"LPS_MAIL_DIR": str(tmp_path), "LPS_SMTP_URL": "  "})
    assert isinstance(channel, EmlChannel)
    assert channel.directory == tmp_path
    assert describe_channel(channel) == f".eml files in {tmp_path}/"


def test_channel_from_env_smtp(sink: SmtpSink, tmp_path: Path) -> None:
    channel = channel_from_env({"LPS_SMTP_URL": sink.url, "LPS_MAIL_DIR": str(tmp_path)})
    assert isinstance(channel, SmtpChannel)
    assert describe_channel(channel) == f"SMTP smtp://127.0.0.1:{sink.port}"
    channel.send(make_message())
    channel.close()
    assert len(sink.messages) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "timeout", "shown"),
    [
        (
            "smtp://mail.example.dk",
            "mail.example.dk",
            25,
            "none",
            30.0,
            "smtp://mail.example.dk:25",
        ),
        (
            "smtp://u:p@mail.example.dk?starttls=1&timeout=10",
            "mail.example.dk",
            587,
            "starttls",
            10.0,
            "smtp://u:***@mail.example.dk:587?starttls=1&timeout=10",
        ),
        (
            "smtps://mail.example.dk",
            "mail.example.dk",
            465,
            "implicit",
            30.0,
            "smtps://mail.example.dk:465",
        ),
        ("SMTP://[::1]:2525/", "::1", 2525, "none", 30.0, "smtp://[::1]:2525"),
    ],
)
def test_smtp_url_defaults(
    url: str, host: str, port: int, tls: str, timeout: float, shown: str
) -> None:
    channel = SmtpChannel.from_url(url)
    assert (channel.host, channel.port, channel.tls, channel.timeout) == (host, port, tls, timeout)
    assert channel.url == shown


def test_smtp_url_credentials_are_percent_decoded() -> None:
    channel = SmtpChannel.from_url("smtp://a%20b%40c:x%2Fy@mail.example.dk?allow_plain_auth=1")
    assert channel.username == "a b@c"
    assert channel.url == "smtp://a%20b%40c:***@mail.example.dk:25?allow_plain_auth=1"


PORT_HINT = "use a number from 1 to 65535, e.g. smtp://mail.example.dk:587"


@pytest.mark.parametrize(
    ("url", "error"),
    [
        (
            "http://user:hunter2@mail.example.dk",
            "LPS_SMTP_URL must start with smtp:// or smtps://, got 'http://user:***@mail.example.dk'",
        ),
        (
            "mail.example.dk:587",
            "LPS_SMTP_URL must start with smtp:// or smtps://, got 'mail.example.dk:587'",
        ),
        (
            "smtp://user:hunter2@:587",
            "LPS_SMTP_URL has no host name, got 'smtp://user:***@:587'; "
            "expected smtp://user:password@host:port",
        ),
        (
            "smtp://user:hunter2@mail.example.dk:smtp",
            "LPS_SMTP_URL has an invalid port, got 'smtp://user:***@mail.example.dk:smtp'; "
            + PORT_HINT,
        ),
        (
            "smtp://mail.example.dk:70000",
            f"LPS_SMTP_URL has an invalid port, got 'smtp://mail.example.dk:70000'; {PORT_HINT}",
        ),
        (
            "smtp://mail.example.dk:0",
            f"LPS_SMTP_URL has an invalid port, got 'smtp://mail.example.dk:0'; {PORT_HINT}",
        ),
        (
            "smtp://user:hun/ter2@mail.example.dk",
            "LPS_SMTP_URL must percent-encode / ? # @ in the user name and password "
            "(%2F %3F %23 %40), got 'smtp://user:***@mail.example.dk'",
        ),
        (
            "smtp://mail.example.dk/inbox",
            "LPS_SMTP_URL must not have a path or fragment, got 'smtp://mail.example.dk/inbox'; "
            "expected smtp://user:password@host:port?starttls=1",
        ),
        (
            "smtp://user@mail.example.dk",
            "LPS_SMTP_URL has a user name but no password, got 'smtp://user@mail.example.dk'; "
            "use smtp://user:password@host:port",
        ),
        (
            "smtp://:hunter2@mail.example.dk",
            "LPS_SMTP_URL has a password but no user name, got 'smtp://:***@mail.example.dk'; "
            "use smtp://user:password@host:port",
        ),
        (
            "smtp://mail.example.dk?tls=1",
            "LPS_SMTP_URL has unknown option 'tls'; "
            "the options are starttls, timeout and allow_plain_auth",
        ),
        (
            "smtp://mail.example.dk?starttls=maybe",
            "LPS_SMTP_URL option starttls must be 1 or 0, got 'maybe'",
        ),
        (
            "smtp://mail.example.dk?timeout=soon",
            "LPS_SMTP_URL option timeout must be a positive number of seconds, got 'soon'",
        ),
        (
            "smtp://mail.example.dk?timeout=0",
            "LPS_SMTP_URL option timeout must be a positive number of seconds, got '0'",
        ),
        (
            "smtps://mail.example.dk?starttls=1",
            "LPS_SMTP_URL combines smtps:// (TLS from the start) with starttls=1; "
            "use either smtps://host or smtp://host?starttls=1",
        ),
        (
            "smtp://user:hunter2ø@mail.example.dk",
            "LPS_SMTP_URL user name and password must be ASCII characters only, "
            "got 'smtp://user:***@mail.example.dk'",
        ),
    ],
)
def test_bad_smtp_url_gives_one_clear_line(url: str, error: str) -> None:
    with pytest.raises(ValueError) as caught:
        channel_from_env({"LPS_SMTP_URL": url})
    assert str(caught.value) == error
    assert "hunter2" not in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("smtp://user:pass@host:2525", "smtp://user:***@host:2525"),
        ("smtps://u:p%40ss@mail.example.dk", "smtps://u:***@mail.example.dk"),
        (
            "postgresql://lps:s3cret@db.example.dk:5432/lps?sslmode=require",
            "postgresql://lps:***@db.example.dk:5432/lps?sslmode=require",
        ),
        ("postgresql+psycopg://lps:pw@db/lps", "postgresql+psycopg://lps:***@db/lps"),
        (
            "postgresql://db/lps?user=lps&password=pw&x=1",
            "postgresql://db/lps?user=lps&password=***&x=1",
        ),
        ("host=db user=lps password=pw dbname=lps", "host=db user=lps password=*** dbname=lps"),
        ("smtp://u:pa/ss@host", "smtp://u:***@host"),
        ("smtp://u:p@ss@host:25", "smtp://u:***@host:25"),
        ("smtp://user@host", "smtp://user@host"),
        ("smtp://host:25", "smtp://host:25"),
        ("sqlite:///var/lib/lps.db", "sqlite:///var/lib/lps.db"),
        ("postgresql://[::1]:5432/lps", "postgresql://[::1]:5432/lps"),
        ("", ""),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_delivery_error_carries_transient_flag() -> None:
    error = DeliveryError("boom", transient=True, code=451)
    assert (str(error), error.transient, error.code) == ("boom", True, 451)
