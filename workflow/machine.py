"""The one shared ``transitions`` Machine that evaluates every participant's steps.

A participant's row is loaded into a light :class:`StepModel`, attached to the machine for the
duration of one step, and detached again: the database row stays the truth.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from transitions import EventData, Machine

from states.facts import Facts
from states.programme import (
    INITIAL_STATE,
    STATE_NAMES,
    TRANSITIONS,
    Situation,
    StepArgs,
    Transition,
    guard_refusals,
    refusals,
)

__all__ = [
    "PROGRAMME_MACHINE",
    "StepModel",
    "attached",
]


# transitions logs every attach and trigger at INFO; that is noise for an administrator.
logging.getLogger("transitions").setLevel(logging.WARNING)


class StepModel:
    """One participant while a trigger is evaluated: situation in, new facts out."""

    state: str

    def __init__(self) -> None:
        self.situation: Situation | None = None
        self.args = StepArgs()
        self.facts = Facts()
        self.refused: list[str] = []
        self.transition: Transition | None = None

    def load(self, situation: Situation, args: StepArgs) -> None:
        self.situation = situation
        self.args = args
        self.facts = situation.facts
        PROGRAMME_MACHINE.set_state(situation.state, model=self)

    def fire(self, situation: Situation, trigger: str, args: StepArgs) -> tuple[str, Facts] | None:
        """Fire ``trigger`` for the participant in ``situation``; return (state, facts), or
        ``None`` when the programme's rules refuse it, with the reasons in ``refused``. The row
        of the programme that fired is left in ``transition``."""
        self.load(situation, args)
        self.refused = []
        self.transition = None
        if trigger not in PROGRAMME_MACHINE.events or not PROGRAMME_MACHINE.events[
            trigger
        ].transitions.get(situation.state):
            # Not a transition of this state: the rules name the way there.
            self.refused = refusals(trigger, situation, args)
            return None
        fired: Any = self.trigger(trigger)  # type: ignore[attr-defined]
        if not fired:
            return None
        return self.state, self.facts


def _build_machine() -> Machine:
    machine = Machine(
        model=None,
        states=list(STATE_NAMES),
        initial=INITIAL_STATE,
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=False,
    )
    for transition in TRANSITIONS:
        machine.add_transition(
            transition.trigger,
            list(transition.sources),
            transition.dest,
            conditions=_rules_hold(transition),
            before=_record_facts(transition),
        )
    return machine


# Each arrow of the machine carries its own row of the programme's table, so firing it needs no
# second look-up of which row applies.
def _rules_hold(transition: Transition) -> Callable[[EventData], bool]:
    def check(event: EventData) -> bool:
        model = event.model
        assert isinstance(model, StepModel)
        assert model.situation is not None
        model.refused = guard_refusals(transition, model.situation, model.args)
        return not model.refused

    return check


def _record_facts(transition: Transition) -> Callable[[EventData], None]:
    def record(event: EventData) -> None:
        model = event.model
        assert isinstance(model, StepModel)
        assert model.situation is not None
        model.facts = transition.effect(model.situation, model.args)
        model.transition = transition

    return record


PROGRAMME_MACHINE = _build_machine()


@contextlib.contextmanager
def attached() -> Iterator[StepModel]:
    """A model attached to the shared machine for one step, or for one batch of steps in which
    it carries one participant after another (attaching costs far more than firing)."""
    model = StepModel()
    PROGRAMME_MACHINE.add_model(model, initial=INITIAL_STATE)
    try:
        yield model
    finally:
        PROGRAMME_MACHINE.remove_model(model)
