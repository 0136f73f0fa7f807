"""Mail that arrives as what it is: automatic, from the sender's own domain, readable by
mail programs, and refused permanently only once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from conftest import START, enrol, make_cohort
from smtp_server import SmtpSink

from notifications.delivery import SmtpChannel, message_id_for
from workflow.clock import FixedClock
from workflow.engine import Workflow


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
