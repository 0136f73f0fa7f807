"""What delivery does when the SMTP server misbehaves: hangs, rejects the login, drops the
connection after taking a message, or would be sent a password in the clear. Each against a
real SMTP server on loopback, through ``lps`` where a user would meet it."""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from conftest import START, Cli, enrol, make_cohort
from helpers import outbox
from hypothesis import given
from hypothesis import strategies as st
from smtp_server import SmtpSink

from notifications.delivery import SmtpChannel, channel_from_env, is_loopback
from states.programme import LOCAL_TZ
from workflow.clock import FixedClock
from workflow.engine import Workflow

# The AUTH tests log in over plain text on purpose; aiosmtpd warns about that.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

USER = "lps-bot"
PASSWORD = "s3cr3t-pw"
TIMEOUT = 0.3  # seconds the client waits for each reply of a server that hangs


@pytest.fixture
def auth_sink() -> Iterator[SmtpSink]:
    with SmtpSink(username=USER, password=PASSWORD) as server:
        yield server


def keys(sink: SmtpSink) -> Counter[str]:
    return Counter(str(r.message["X-LPS-Key"]) for r in sink.received)


def enrol_five(wf: Workflow) -> None:
    """Ten welcome mails queued: five participants and their managers."""
    make_cohort(wf)
    for number in range(5):
        enrol(wf, f"p{number}@example.dk", manager_email=f"m{number}@example.dk")


def local(moment: Any) -> str:
    return str(moment.astimezone(LOCAL_TZ).replace(tzinfo=None).isoformat())


# == a server that does not answer ============================================================


def test_a_hanging_server_stops_the_sweep_after_three_messages_and_the_rest_stay_queued(
    wf: Workflow, lps: Cli, sink: SmtpSink
) -> None:
    enrol_five(wf)
    sink.hang_at = "MAIL"
    lps.env["LPS_SMTP_URL"] = f"{sink.url}?timeout={TIMEOUT}"

    reminded = lps("remind")

    assert reminded.exit_code == 0, reminded.output
    rows = outbox(wf)
    tried = [row for row in rows if row.attempts]
    assert len(tried) == 3
    for row in tried:
        assert row.status == "pending"
        assert row.next_attempt_at > FixedClock(START).now()
        assert f"did not answer within {TIMEOUT:g}s" in row.last_error
    # The other seven were never tried: no timeout spent on them, nothing counted.
    untried = [row for row in rows if not row.attempts]
    assert len(untried) == 7
    for row in untried:
        assert (row.status, row.last_error, row.claim_token, row.claimed_until) == (
            "pending",
            None,
            None,
            None,
        )
    [warning] = reminded.stderr.splitlines()
    assert warning.startswith(
        f"Warning: 3 messages in a row did not get through (SMTP server 127.0.0.1:{sink.port} "
        f"did not answer within {TIMEOUT:g}s "
    ), warning
    assert warning.endswith("; delivery stopped, 10 message(s) stay queued for the next sweep")
    assert "retrying 3" in reminded.stdout

    # The server answers again: the next sweep past the back-off sends all ten, once each.
    sink.hang_at = None
    lps.now = local(max(row.next_attempt_at for row in tried))
    again = lps("remind")
    assert again.exit_code == 0, again.output
    assert again.stderr == ""
    assert {row.status for row in outbox(wf)} == {"sent"}
    assert keys(sink) == Counter(row.key for row in rows)


# == a login the server rejects ===============================================================


def test_a_rejected_login_keeps_every_message_queued_untouched_and_says_so_once(
    wf: Workflow, lps: Cli, auth_sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    enrol_five(wf)
    lps.env["LPS_SMTP_URL"] = auth_sink.url.replace(PASSWORD, "wrong-pw")

    reminded = lps("remind")

    assert reminded.exit_code == 1
    assert reminded.stderr == (
        f"Error: SMTP server 127.0.0.1:{auth_sink.port} rejected the login as '{USER}': "
        "535 5.7.8 Authentication credentials invalid; delivery stopped, 10 message(s) stay "
        "queued, their tries untouched, until the mail settings are corrected in LPS_SMTP_URL\n"
    )
    assert "delivered 0, retrying 0, failed 0" in reminded.stdout
    # One login (smtplib tries each mechanism offered, PLAIN and LOGIN), not one a message.
    assert auth_sink.login_attempts == 2
    for row in outbox(wf):
        assert (row.status, row.attempts, row.last_error, row.claim_token) == (
            "pending",
            0,
            None,
            None,
        )
    assert auth_sink.received == []

    # The scheduler logs it once, not once a message.
    caplog.clear()
    caplog.set_level(logging.WARNING)
    workflow = Workflow(wf.db, clock=FixedClock(START), actor="scheduler")
    wrong = SmtpChannel.from_url(lps.env["LPS_SMTP_URL"])
    report = workflow.remind(channel=wrong)
    assert report.configuration_error
    assert [r.getMessage() for r in caplog.records if "login" in r.getMessage()] == [
        report.delivery_stopped
    ]

    # With the right password the same ten go, once each.
    lps.env["LPS_SMTP_URL"] = auth_sink.url
    fixed = lps("remind")
    assert fixed.exit_code == 0, fixed.output
    assert {(row.status, row.attempts) for row in outbox(wf)} == {("sent", 1)}
    assert sorted(keys(auth_sink).values()) == [1] * 10


def test_remind_json_says_why_delivery_stopped(lps: Cli, wf: Workflow, auth_sink: SmtpSink) -> None:
    enrol_five(wf)
    lps.env["LPS_SMTP_URL"] = auth_sink.url.replace(PASSWORD, "wrong-pw")
    reminded = lps("remind", "--json")
    assert reminded.exit_code == 1
    data = json.loads(reminded.stdout)
    assert data["delivery_stopped"].startswith(f"SMTP server 127.0.0.1:{auth_sink.port} rejected")
    # After the line that says the test's clock (LPS_NOW) is a replay.
    assert reminded.stderr.splitlines()[-1].startswith("Error: SMTP server ")


# == a server that takes the message but never confirms it ======================================


@pytest.mark.parametrize(
    ("misbehaviour", "said"),
    [
        ("drop", "closed the connection after receiving message {} to {}, before confirming it"),
        ("hang", f"did not confirm message {{}} to {{}} within {TIMEOUT:g}s of receiving it"),
    ],
)
def test_a_message_the_server_took_without_confirming_is_sent_once_more_at_most(
    wf: Workflow, clock: FixedClock, sink: SmtpSink, misbehaviour: str, said: str
) -> None:
    make_cohort(wf)
    enrol(wf)  # the welcome mail to the participant and to the manager
    if misbehaviour == "drop":
        sink.drop_after_data = True
    else:
        sink.hang_at = "DATA"
    channel = SmtpChannel.from_url(f"{sink.url}?timeout={TIMEOUT}")

    first = wf.remind(channel=channel)

    # Each arrived once; neither was sent again within the sweep.
    assert sorted(keys(sink).values()) == [1, 1]
    assert (first.delivered, first.retrying, first.failed) == (0, 2, 0)
    rows = outbox(wf)
    for row, received in zip(rows, sink.received, strict=True):
        assert (row.status, row.attempts, row.unconfirmed) == ("pending", 1, 1)
        expected = said.format(received.message["Message-ID"], received.rcpt_tos[0])
        assert expected in row.last_error
        assert row.last_error.endswith("it may have arrived; tried once more on a later sweep")
        assert row.next_attempt_at == clock.now() + timedelta(minutes=1)

    # Before the back-off nothing goes; after it, one more copy each, and then no more.
    assert wf.remind(channel=channel).retrying == 0
    for minutes in (2, 10, 60, 180, 600):
        clock.set(START + timedelta(minutes=minutes))
        wf.remind(channel=channel)
    assert sorted(keys(sink).values()) == [2, 2]
    for row in outbox(wf):
        assert (row.status, row.attempts, row.unconfirmed) == ("failed", 2, 2)
        assert row.last_error.endswith(
            "it may have arrived; not sent again, so that it does not arrive twice: "
            f"ask the recipient, and `lps outbox retry {row.id}` if it did not"
        )


# == a password in the clear ====================================================================


def outside_address() -> str | None:
    """An address of this machine that is not loopback, or None when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if ipaddress.ip_address(address).is_loopback else address


@pytest.fixture
def outside_sink() -> Iterator[SmtpSink]:
    address = outside_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    with SmtpSink(host=address, username=USER, password=PASSWORD) as server:
        yield server


def test_a_login_without_tls_to_another_machine_is_refused_unless_allowed(
    wf: Workflow, lps: Cli, outside_sink: SmtpSink
) -> None:
    make_cohort(wf)
    enrol(wf)
    host = outside_sink.host
    lps.env["LPS_SMTP_URL"] = outside_sink.url

    refused = lps("remind")

    assert refused.exit_code == 1
    assert refused.stderr == (
        f"Error: LPS_SMTP_URL would send the password unencrypted to {host}, "
        f"got 'smtp://{USER}:***@{host}:{outside_sink.port}'; use smtps:// or ?starttls=1, "
        "or add ?allow_plain_auth=1 if the network to the server is trusted\n"
    )
    assert PASSWORD not in refused.output
    assert outside_sink.received == []
    assert {(row.status, row.attempts) for row in outbox(wf)} == {("pending", 0)}

    lps.env["LPS_SMTP_URL"] = f"{outside_sink.url}?allow_plain_auth=1"
    allowed = lps("remind")
    assert allowed.exit_code == 0, allowed.output
    assert [r.login for r in outside_sink.received] == [USER, USER]
    assert {row.status for row in outbox(wf)} == {"sent"}


def test_a_login_without_tls_to_this_machine_needs_no_permission(
    wf: Workflow, lps: Cli, auth_sink: SmtpSink
) -> None:
    make_cohort(wf)
    enrol(wf)
    for host in ("127.0.0.1", "localhost"):
        lps.env["LPS_SMTP_URL"] = auth_sink.url.replace("127.0.0.1", host)
        assert lps("remind").exit_code == 0
    assert [r.login for r in auth_sink.received] == [USER, USER]


hosts = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){1,3}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
)
credentials = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12
)


@given(
    host=hosts,
    user=credentials,
    password=credentials,
    tls=st.sampled_from(["", "?starttls=1", "smtps"]),
    allow=st.sampled_from([None, "1", "0", "yes", "off"]),
)
def test_plain_login_is_refused_exactly_when_unencrypted_to_another_machine(
    host: str, user: str, password: str, tls: str, allow: str | None
) -> None:
    from urllib.parse import quote

    scheme = "smtps" if tls == "smtps" else "smtp"
    query = tls if tls.startswith("?") else ""
    if allow is not None:
        query += ("&" if query else "?") + f"allow_plain_auth={allow}"
    url = f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{host}{query}"
    plain = scheme == "smtp" and not query.startswith("?starttls=1")
    refused = plain and allow not in ("1", "yes") and not is_loopback(host)
    try:
        channel = channel_from_env({"LPS_SMTP_URL": url})
    except ValueError as error:
        assert refused, f"{url}: {error}"
        message = str(error)
        assert message.startswith("LPS_SMTP_URL would send the password unencrypted to ")
        assert "allow_plain_auth=1" in message
        assert "\n" not in message
    else:
        assert not refused, url
        assert isinstance(channel, SmtpChannel)
        assert channel.username == user
        assert ("allow_plain_auth=1" in channel.url) == (allow in ("1", "yes"))


def test_loopback_hosts() -> None:
    for host in ("localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "[::1]"):
        assert is_loopback(host), host
    for host in ("mail.example.dk", "192.0.2.2", "10.0.0.1", "::2", "localhost.example.dk"):
        assert not is_loopback(host), host


def test_a_login_without_tls_to_another_machine_is_refused_by_the_channel_too() -> None:
    with pytest.raises(ValueError, match="allow_plain_auth") as caught:
        SmtpChannel("mail.example.dk", username=USER, password=PASSWORD)
    assert PASSWORD not in str(caught.value)
    channel = SmtpChannel(
        "mail.example.dk", username=USER, password=PASSWORD, allow_plain_auth=True
    )
    assert channel.url == f"smtp://{USER}:***@mail.example.dk:25?allow_plain_auth=1"
    SmtpChannel("mail.example.dk", username=USER, password=PASSWORD, tls="starttls")


# == lps outbox retry, several at a time ========================================================


def failed_welcomes(wf: Workflow, clock: FixedClock, sink: SmtpSink) -> list[Any]:
    """Ten welcome mails, refused by the server with 550: failed."""
    enrol_five(wf)
    sink.refuse_with(550)
    wf.remind(channel=SmtpChannel.from_url(sink.url))
    sink.refuse_with(None)
    return outbox(wf)


def test_outbox_retry_all_failed_and_by_rule(
    wf: Workflow, clock: FixedClock, sink: SmtpSink, lps: Cli
) -> None:
    rows = failed_welcomes(wf, clock, sink)
    assert {row.status for row in rows} == {"failed"}
    lps.env["LPS_SMTP_URL"] = sink.url

    by_rule = lps("outbox", "retry", "--rule", "welcome")
    assert by_rule.exit_code == 0, by_rule.output
    assert by_rule.stdout == "10 failed message(s) (welcome: 10) will be sent on the next sweep.\n"
    assert {(row.status, row.attempts) for row in outbox(wf)} == {("pending", 0)}
    assert lps("remind").exit_code == 0
    assert sorted(keys(sink).values()) == [1] * 10

    nothing = lps("outbox", "retry", "--all-failed")
    assert nothing.exit_code == 1
    assert nothing.stderr == (
        "Error: no failed messages to retry; see `lps outbox list --status failed`\n"
    )


def test_outbox_retry_all_failed_queues_every_failed_message(
    wf: Workflow, clock: FixedClock, sink: SmtpSink, lps: Cli
) -> None:
    rows = failed_welcomes(wf, clock, sink)
    retried = lps("outbox", "retry", "--all-failed")
    assert retried.exit_code == 0, retried.output
    assert retried.stdout == "10 failed message(s) (welcome: 10) will be sent on the next sweep.\n"
    lps.env["LPS_SMTP_URL"] = sink.url
    assert lps("remind").exit_code == 0
    assert keys(sink) == Counter(row.key for row in rows)
    assert {row.status for row in outbox(wf)} == {"sent"}


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        (
            (),
            2,
            "Error: say which messages to retry: MESSAGE_ID, --all-failed or --rule RULE",
        ),
        (
            ("1", "--all-failed"),
            2,
            "Error: give either MESSAGE_ID or --all-failed / --rule RULE, not both",
        ),
        (
            ("--rule", "jti_invitation"),
            1,
            "Error: no failed messages with rule 'jti_invitation' to retry; "
            "see `lps outbox list --status failed`",
        ),
        (
            ("--rule", "welcom"),
            1,
            "Error: unknown rule 'welcom'; the rules are: welcome, ",
        ),
    ],
)
def test_outbox_retry_says_what_is_wrong(
    wf: Workflow,
    clock: FixedClock,
    sink: SmtpSink,
    lps: Cli,
    args: tuple[str, ...],
    code: int,
    error: str,
) -> None:
    failed_welcomes(wf, clock, sink)
    result = lps("outbox", "retry", *args)
    assert result.exit_code == code
    # A usage error comes after click's usage line; any other error is the one line.
    lines = result.stderr.splitlines()
    assert lines[-1].startswith(error), result.stderr
    assert len(lines) == 1 or code == 2
    assert "Traceback" not in result.output
    assert {row.status for row in outbox(wf)} == {"failed"}
