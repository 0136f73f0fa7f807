"""One shared ``transitions`` Machine per programme version, evaluating every step of the
participants on it.

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
    BUILTIN,
    INITIAL_STATE,
    Programme,
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
    "machine_for",
]


# transitions logs every attach and trigger at INFO; that is noise for an administrator.
logging.getLogger("transitions").setLevel(logging.WARNING)


class StepModel:
    """One participant while a trigger is evaluated: situation in, new facts out."""

    state: str

    def __init__(self, machine: Machine | None = None) -> None:
        self.machine = machine or PROGRAMME_MACHINE
        self.situation: Situation | None = None
        self.args = StepArgs()
        self.facts = Facts()
        self.refused: list[str] = []
        self.transition: Transition | None = None

    def load(self, situation: Situation, args: StepArgs) -> None:
        self.situation = situation
        self.args = args
        self.facts = situation.facts
        # A batch may cross into a cohort on another version: its machine takes over. The
        # model is fired through the machine's events rather than the trigger methods the
        # first machine bound to it.
        self.machine = machine_for(situation.cohort.rules)
        # What Machine.set_state does for a model, with one look-up of the state, not three.
        if situation.state not in self.machine.states:
            raise ValueError(f"State '{situation.state}' is not a registered state.")
        self.state = situation.state

    def fire(self, situation: Situation, trigger: str, args: StepArgs) -> tuple[str, Facts] | None:
        """Fire ``trigger`` for the participant in ``situation``; return (state, facts), or
        ``None`` when the programme's rules refuse it, with the reasons in ``refused``. The row
        of the programme that fired is left in ``transition``."""
        self.load(situation, args)
        self.refused = []
        self.transition = None
        events = self.machine.events
        if trigger not in events or not events[trigger].transitions.get(situation.state):
            # Not a transition of this state: the rules name the way there.
            self.refused = refusals(trigger, situation, args)
            return None
        fired: Any = events[trigger].trigger(self)
        if not fired:
            return None
        return self.state, self.facts


def _build_machine(programme: Programme) -> Machine:
    machine = Machine(
        model=None,
        states=list(programme.state_names),
        initial=INITIAL_STATE,
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=False,
    )
    for transition in programme.transitions:
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


_MACHINES: dict[int, tuple[Programme, Machine]] = {}


def machine_for(programme: Programme) -> Machine:
    """The one machine of ``programme``, built the first time it is asked for."""
    found = _MACHINES.get(id(programme))
    if found is None or found[0] is not programme:
        found = (programme, _build_machine(programme))
        _MACHINES[id(programme)] = found
    return found[1]


PROGRAMME_MACHINE = machine_for(BUILTIN)


@contextlib.contextmanager
def attached(programme: Programme | None = None) -> Iterator[StepModel]:
    """A model attached to a programme's shared machine for one step, or for one batch of
    steps in which it carries one participant after another (attaching costs far more than
    firing). A participant of a cohort on another version moves the model to that version's
    machine."""
    machine = machine_for(programme or BUILTIN)
    model = StepModel(machine)
    machine.add_model(model, initial=INITIAL_STATE)
    try:
        yield model
    finally:
        machine.remove_model(model)
