"""What the workflow tests (test_workflow_*.py, test_kernel.py) share: moving the clock,
firing a step, and driving a participant along the programme."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from conftest import DAYS
from helpers import on

from workflow.clock import FixedClock
from workflow.engine import StepRequest, StepResult, Workflow
from workflow.errors import GuardFailed

D1, D2, D3, D4, D5 = DAYS

INVITE_DAY = D1 - timedelta(days=14)  # 2027-02-15

LATER_DAYS = tuple(d + timedelta(days=91) for d in DAYS)  # from 2027-05-31

EARLIER_DAYS = tuple(d - timedelta(days=7) for d in DAYS)  # from 2027-02-22


def go(wf: Workflow, pid: int | str, trigger: str, **kw: Any) -> StepResult:
    return wf.advance(pid, StepRequest(trigger, **kw))


def host(wf: Workflow, pid: int, municipality: str = "Odense") -> None:
    wf.set_host(
        pid, name="Hanne Vært", email="hanne@example.dk", role="leader", municipality=municipality
    )


def trail(wf: Workflow, pid: int | str) -> list[tuple[str, str | None, str]]:
    return [(e.event, e.from_state, e.to_state) for e in wf.history(pid)]


def snapshot(wf: Workflow, pid: int) -> tuple[Any, ...]:
    view = wf.participant(pid)
    return view.state, view.version, view.facts, [e.as_json() for e in wf.history(pid)]


def refused(action: Callable[[], object]) -> GuardFailed:
    with pytest.raises(GuardFailed) as raised:
        action()
    return raised.value


# The programme in table order; each step takes the participant one state further.
PATH: list[tuple[str, Callable[[Workflow, FixedClock, int], object]]] = [
    (
        "manager_conversation_held",
        lambda wf, clock, pid: go(wf, pid, "hold_manager_conversation", goals=("Lede møder",)),
    ),
    ("jti_invited", lambda wf, clock, pid: (on(clock, INVITE_DAY), go(wf, pid, "invite_jti"))),
    ("jti_completed", lambda wf, clock, pid: go(wf, pid, "complete_jti")),
    ("day_1", lambda wf, clock, pid: (on(clock, D1), go(wf, pid, "register_day"))),
    ("day_2", lambda wf, clock, pid: (on(clock, D2), go(wf, pid, "register_day"))),
    ("day_3", lambda wf, clock, pid: (on(clock, D3), go(wf, pid, "register_day"))),
    (
        "career_visit_held",
        lambda wf, clock, pid: (host(wf, pid), go(wf, pid, "hold_career_visit")),
    ),
    ("day_4", lambda wf, clock, pid: (on(clock, D4), go(wf, pid, "register_day"))),
    ("day_5", lambda wf, clock, pid: (on(clock, D5), go(wf, pid, "register_day"))),
    ("certified", lambda wf, clock, pid: go(wf, pid, "deliver_speech")),
    (
        "closing_conversation_held",
        lambda wf, clock, pid: (
            on(clock, D5 + timedelta(days=20)),
            go(wf, pid, "hold_closing_conversation"),
        ),
    ),
    ("completed", lambda wf, clock, pid: go(wf, pid, "complete")),
]


def drive(wf: Workflow, clock: FixedClock, pid: int, target: str) -> None:
    """Walk a participant along the programme until it is in ``target``. ``speech_delivered``
    is reached by skipping the career visit, so that the speech does not certify."""
    if target == "enrolled":
        return
    for state, action in PATH:
        if target == "speech_delivered" and state == "career_visit_held":
            continue
        if target == "speech_delivered" and state == "certified":
            go(wf, pid, "deliver_speech")
            break
        action(wf, clock, pid)
        assert wf.participant(pid).state == state
        if state == target:
            break
    assert wf.participant(pid).state == target
