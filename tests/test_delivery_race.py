"""Sweeps that overlap for longer than a claim's lease, against a real SMTP server on loopback
that answers slowly: a sweep sends only what it still holds, so every message arrives once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from conftest import START, enrol, make_cohort
from helpers import outbox
from smtp_server import SmtpSink

from notifications.delivery import Composed, SmtpChannel
from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import Workflow
from workflow.sweep import CLAIM_LEASE, SweepReport, _claim, deliver

PARTICIPANTS = 60  # a welcome mail to each and to their manager
BATCH = 40  # rows claimed at a time
# What one message costs on the clock the lease is measured by: the lease covers 10 messages.
PER_MESSAGE = timedelta(seconds=30)
SECOND_STARTS_AT = 25  # messages received when the second sweep starts: 2.5 leases in


def enrol_many(wf: Workflow, count: int) -> None:
    make_cohort(wf)
    for number in range(count):
        enrol(wf, f"p{number}@example.dk", manager_email=f"m{number}@example.dk")


@pytest.fixture
def second(db_url: str, clock: FixedClock) -> Iterator[Workflow]:
    """Another sweeper on the same database, as a second machine would be."""
    database = Database(db_url)
    yield Workflow(database, clock=clock, actor="other")
    database.dispose()


@pytest.mark.parametrize("moved", ["replayed clock", "lease clock"])
def test_two_sweeps_overlapping_by_more_than_the_lease_send_every_message_once(
    wf: Workflow, clock: FixedClock, second: Workflow, moved: str
) -> None:
    """The server takes its time over each message; the clock moves with every message it
    receives. The second sweep starts when the first has sent for two leases, and the first
    goes on sending for longer than a lease after that. ``replayed clock``: the engine's clock
    moves (as ``LPS_NOW`` runs of ``lps remind`` do); ``lease clock``: only the clock leases
    are measured by moves."""
    enrol_many(wf, PARTICIPANTS)
    lease_clock = FixedClock(START)
    moving = clock if moved == "replayed clock" else lease_clock
    extra: dict[str, Any] = {} if moved == "replayed clock" else {"lease_clock": lease_clock}
    second_may_start = threading.Event()
    reports: dict[str, SweepReport] = {}
    errors: list[str] = []
    with SmtpSink(delay=0.003) as sink:

        def on_message(received: Any) -> None:
            moving.set(moving.now() + PER_MESSAGE)
            if len(sink.received) == SECOND_STARTS_AT:
                second_may_start.set()

        sink.on_message = on_message

        def run(name: str, workflow: Workflow, wait: threading.Event | None) -> None:
            try:
                if wait is not None:
                    assert wait.wait(timeout=60), "the first sweep never got going"
                channel = SmtpChannel.from_url(sink.url)
                reports[name] = deliver(workflow, channel, batch_size=BATCH, **extra)
            except Exception as error:  # collected and reported below
                errors.append(f"{name}: {type(error).__name__}: {error}")

        threads = [
            threading.Thread(target=run, args=("first", wf, None)),
            threading.Thread(target=run, args=("second", second, second_may_start)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        received = list(sink.received)

    assert errors == []
    rows = outbox(wf)
    assert len(rows) == 2 * PARTICIPANTS
    assert {row.status for row in rows} == {"sent"}
    got = Counter(str(r.message["X-LPS-Key"]) for r in received)
    assert got == Counter(row.key for row in rows), {k: n for k, n in got.items() if n > 1}
    assert reports["first"].delivered + reports["second"].delivered == 2 * PARTICIPANTS
    # The runs overlapped by more than a lease: the first sweep (whose connection brought the
    # first message) was still sending well after the second started.
    first_peer = received[0].peer
    last_of_first = max(i for i, r in enumerate(received) if r.peer == first_peer)
    lease_in_messages = CLAIM_LEASE // PER_MESSAGE
    assert last_of_first > SECOND_STARTS_AT + lease_in_messages
    assert reports["second"].delivered > lease_in_messages


class TakenOverWhileSending:
    """An SMTP channel during whose first send the lease runs out and another sweeper claims
    the rows: the first sweep's SMTP server has been slow for longer than the lease."""

    name = "smtp"
    replaces_on_resend = False

    def __init__(self, inner: SmtpChannel, wf: Workflow, lease_clock: FixedClock):
        self.inner = inner
        self.wf = wf
        self.lease_clock = lease_clock
        self.taken: list[int] = []

    def send(self, message: Composed) -> None:
        try:
            self.inner.send(message)
        finally:
            if not self.taken:
                self.lease_clock.set(self.lease_clock.now() + CLAIM_LEASE + timedelta(minutes=1))
                with self.wf.db.transaction() as conn:
                    claimed = _claim(
                        conn, self.wf.now(), self.lease_clock.now(), CLAIM_LEASE, "other", 10
                    )
                self.taken = [row.id for row in claimed]

    def flush(self) -> None:
        self.inner.flush()

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("answer", [None, 451])
def test_a_row_taken_over_by_another_claimant_is_neither_marked_sent_nor_failed_by_the_first(
    wf: Workflow, sink: SmtpSink, answer: int | None
) -> None:
    make_cohort(wf)
    enrol(wf)  # the welcome mail to the participant and to the manager
    sink.refuse_with(answer)
    lease_clock = FixedClock(START)
    channel = TakenOverWhileSending(SmtpChannel.from_url(sink.url), wf, lease_clock)

    report = wf.remind(channel=channel, lease_clock=lease_clock)

    rows = outbox(wf)
    assert sorted(channel.taken) == [row.id for row in rows]
    # The other claimant holds both rows: the first sweep recorded nothing over its claim,
    # and did not send the second message, whose lease it no longer held.
    for row in rows:
        assert (row.status, row.attempts, row.sent_at, row.last_error) == (
            "pending",
            0,
            None,
            None,
        )
        assert row.claim_token == "other"
        assert row.claimed_until == lease_clock.now() + CLAIM_LEASE
    assert len(sink.received) == (1 if answer is None else 0)
    expected = (1, 0, 0) if answer is None else (0, 0, 0)
    assert (report.delivered, report.retrying, report.failed) == expected
