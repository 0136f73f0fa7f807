"""Someone enrolled a few days before day 1 is not sent the reminders of the weeks before."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from conftest import enrol, make_cohort

from notifications.delivery import EmlChannel
from workflow.clock import FixedClock
from workflow.engine import Workflow


def test_reminders_due_before_enrolment_are_skipped_but_the_jti_still_goes_out(
    wf: Workflow, clock: FixedClock, tmp_path: Path
) -> None:
    make_cohort(wf)
    clock.set(datetime(2027, 2, 24, 10, 0))  # D1-5: past D1-21, D1-14 and D1-7
    pid = enrol(wf)

    report = wf.remind(channel=EmlChannel(tmp_path))

    outcomes = {(d.rule, d.outcome) for d in report.decisions if d.participant_id == pid}
    assert outcomes == {("jti_invitation", "fired")}
    sent = sorted((v.rule, v.recipient) for v in wf.outbox("sent") if v.participant_id == pid)
    assert sent == [
        ("jti_invitation", "Søren Ærø <soren@example.dk>"),
        ("welcome", "Mette Leder <mette@example.dk>"),
        ("welcome", "Søren Ærø <soren@example.dk>"),
    ]
    assert wf.participant(pid).state == "jti_invited"
