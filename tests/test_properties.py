from __future__ import annotations

# Random sequences of steps, clock moves, waivers and hosts against one participant: the
# engine's invariants hold after every step.
import itertools
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import DAYS, START
from helpers import at
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from states.programme import (
    FINAL_STATES,
    OBLIGATIONS,
    PATH_ORDER,
    STATE_NAMES,
    TRIGGERS,
    CohortPlan,
    outstanding,
    replay,
)
from workflow.checkpoints import FORMAT, Checkpoint
from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import AuditView, ParticipantView, StepRequest, StepResult, Workflow
from workflow.errors import GuardFailed, InvalidInput, NotFound
from workflow.migrate import upgrade

D1, D2, D3, D4, D5 = DAYS
MILESTONES = [
    D1 - timedelta(days=21),
    D1 - timedelta(days=14),
    D1 - timedelta(days=1),
    D1,
    D1 + timedelta(days=2),
    D2,
    D3,
    D3 + timedelta(days=3),
    D4,
    D5,
    D5 + timedelta(days=30),
    D5 + timedelta(days=60),
    D5 + timedelta(days=90),
]
DATE_FIELDS = (
    "manager_conversation",
    "jti_invited",
    "jti_completed",
    "career_visit",
    "speech",
    "certified",
    "closing_conversation",
    "closing_declined",
    "completed",
)
EXAMPLES = itertools.count()

# What an administrator might type along with a trigger; ``on`` is relative to the clock.
REQUESTS = st.fixed_dictionaries(
    {
        "on": st.sampled_from([None, None, 0, -1, 1, -30]),
        "goals": st.sampled_from([(), ("Lede møder",), ("Lede møder", "Feedback"), ("  ",)]),
        "absent": st.booleans(),
        "reason": st.sampled_from([None, "", "Syg", "=SUM(A1)"]),
        "to": st.sampled_from([None, None, "later", "earlier", "same", "missing"]),
        "early": st.booleans(),
        "internship": st.sampled_from([None, True, False]),
        "note": st.sampled_from([None, "Aftaler"]),
    }
)


def obligations_settled_by_audit(entries: list[AuditView], max_absences: int) -> set[str]:
    """The obligations met or waived according to the audit trail alone, read up to (not
    including) the first certify entry."""
    settled: set[str] = set()
    attended: dict[int, bool] = {}
    waived_attendance: int | None = None
    for entry in entries:
        if entry.event == "certify":
            break
        if entry.event == "hold_manager_conversation":
            settled.add("manager_conversation")
        elif entry.event == "complete_jti":
            settled.add("jti")
        elif entry.event == "hold_career_visit":
            settled.add("career_visit")
        elif entry.event == "deliver_speech":
            settled.add("speech")
        elif entry.event == "register_day":
            attended[entry.data["day"]] = entry.data["attended"]
        elif entry.event == "waive":
            name = entry.data["obligation"]
            if name == "attendance":
                waived_attendance = sum(1 for a in attended.values() if not a)
            else:
                settled.add(name)
    absences = sum(1 for a in attended.values() if not a)
    uncovered = absences - (waived_attendance or 0)
    if len(attended) == 5 and (absences <= max_absences or uncovered <= max_absences):
        settled.add("attendance")
    return settled


class OneParticipant(RuleBasedStateMachine):
    database: Database

    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock(START)
        self.wf = Workflow(self.database, clock=self.clock, actor="property")
        self.number = next(EXAMPLES)
        self.pid = 0
        self.plan = CohortPlan("?", DAYS)
        self.version = 0
        self.last: ParticipantView | None = None

    # -- set-up -------------------------------------------------------------------------------

    @initialize(max_absences=st.integers(0, 2))
    def enrol(self, max_absences: int) -> None:
        code = f"P{self.number}"
        for suffix, shift in (("", 0), ("L", 91), ("E", -7)):
            self.wf.create_cohort(
                code + suffix,
                name=f"Hold {code}{suffix}",
                days=[d + timedelta(days=shift) for d in DAYS],
                max_absences=max_absences,
                allow_holiday=True,  # the fixture's day 3 is Anden påskedag
            )
        self.plan = CohortPlan(code, DAYS, max_absences)
        result = self.wf.enrol(
            code,
            name="Søren Ærø",
            email="soren@example.dk",
            municipality="Odense",
            manager_name="Mette Leder",
            manager_email="mette@example.dk",
        )
        self.pid = result.participant.id
        self.version = 1
        self.last = self.wf.participant(self.pid)

    # -- what happens to the participant ------------------------------------------------------

    def _request(self, trigger: str, raw: dict[str, Any]) -> StepRequest:
        today = self.wf.today()
        targets = {
            "later": f"P{self.number}L",
            "earlier": f"P{self.number}E",
            "same": f"P{self.number}",
            "missing": "NOPE",
            None: None,
        }
        return StepRequest(
            trigger,
            on=None if raw["on"] is None else today + timedelta(days=raw["on"]),
            note=raw["note"],
            reason=raw["reason"],
            goals=raw["goals"],
            absent=raw["absent"],
            to=targets[raw["to"]],
            early=raw["early"],
            internship=raw["internship"],
        )

    def _attempt(self, action: Any) -> StepResult | ParticipantView | None:
        before = self.wf.participant(self.pid)
        history = self.wf.history(self.pid)
        try:
            result = action()
        except (GuardFailed, InvalidInput, NotFound) as refusal:
            assert str(refusal)
            # a refused step changes nothing
            after = self.wf.participant(self.pid)
            assert (after.state, after.version, after.facts) == (
                before.state,
                before.version,
                before.facts,
            )
            assert self.wf.history(self.pid) == history
            return None
        self.version += 1
        return result  # type: ignore[no-any-return]

    @rule(trigger=st.sampled_from([*TRIGGERS, "register-day", "fly"]), raw=REQUESTS)
    def fire(self, trigger: str, raw: dict[str, Any]) -> None:
        request = self._request(trigger, raw)
        final_before = self.wf.participant(self.pid).state in FINAL_STATES
        result = self._attempt(lambda: self.wf.advance(self.pid, request))
        if result is None:
            return
        assert not final_before, "a step succeeded after the path had ended"
        assert isinstance(result, StepResult)
        self._check_step(result)
        if result.participant.state == "deferred":
            self._check_deferred_enrolment(request.to or "")

    @rule(
        obligation=st.sampled_from([*OBLIGATIONS, "career-visit", "homework"]),
        reason=st.sampled_from(["", "Aftalt med leder"]),
    )
    def waive(self, obligation: str, reason: str) -> None:
        result = self._attempt(lambda: self.wf.waive(self.pid, obligation, reason))
        if result is not None:
            assert isinstance(result, StepResult)
            assert result.entries[0].event == "waive"
            self._check_step(result)

    @rule(municipality=st.sampled_from(["Odense", " ODENSE", "Svendborg"]))
    def set_host(self, municipality: str) -> None:
        result = self._attempt(
            lambda: self.wf.set_host(
                self.pid,
                name="Hanne Vært",
                email="hanne@example.dk",
                role="leader",
                municipality=municipality,
            )
        )
        if result is not None:
            assert municipality.strip().lower() == "odense"

    @rule(days=st.sampled_from([1, 2, 7, 14, 30, 61]))
    def wait(self, days: int) -> None:
        self.clock.set(self.clock.now() + timedelta(days=days))

    @rule(
        to=st.sampled_from(["later", "later", "earlier", "same", "missing", None]),
        reason=st.sampled_from(["", "Barsel"]),
    )
    def defer(self, to: str | None, reason: str) -> None:
        raw = {
            "on": None,
            "goals": (),
            "absent": False,
            "reason": reason,
            "to": to,
            "early": False,
            "internship": None,
            "note": None,
        }
        self.fire("defer", raw)

    @rule(
        count=st.integers(1, 4),
        thorough=st.booleans(),
        ending=st.sampled_from(
            ["hold_closing_conversation", "decline_closing_conversation", "complete"]
        ),
    )
    def progress(self, count: int, thorough: bool, ending: str) -> None:
        """Take the next steps of the path, as an administrator who keeps up would; a hasty
        one (not ``thorough``) registers the days and leaves the optional facts for later."""
        for _ in range(count):
            self._progress_once(thorough, ending)

    def _progress_once(self, thorough: bool, ending: str) -> None:
        view = self.wf.participant(self.pid)
        if view.state in FINAL_STATES:
            return
        possible = {t.trigger for t in self.wf.triggers(self.pid) if t.possible}
        if thorough and view.facts.host is None and view.state.startswith("day_"):
            self.set_host("Odense")
            return
        order = ["certify", "deliver_speech", ending, "complete", "register_day", "invite_jti"]
        if thorough:
            order[4:4] = ["hold_career_visit", "complete_jti", "hold_manager_conversation"]
        for trigger in order:
            if trigger in possible:
                request = StepRequest(trigger, goals=("Lede møder",))
                result = self._attempt(lambda r=request: self.wf.advance(self.pid, r))
                # what `triggers` calls possible goes through
                assert result is not None, (trigger, view.state)
                assert isinstance(result, StepResult)
                self._check_step(result)
                return
        now = self.clock.now()
        later = [at(day) for day in MILESTONES if FixedClock(at(day)).now() > now]
        if later:
            self.clock.set(later[0])

    # -- checks -------------------------------------------------------------------------------

    def _check_step(self, result: StepResult) -> None:
        assert result.participant.version == self.version
        for entry in result.entries:
            if entry.event == "certify":
                assert entry.to_state == "certified"
                assert outstanding(result.participant.facts, self.plan) == []

    def _check_deferred_enrolment(self, code: str) -> None:
        moved = self.wf.participants(cohort=code)
        assert len(moved) == 1
        new = moved[0]
        assert new.state in ("enrolled", "manager_conversation_held")
        assert (new.state == "manager_conversation_held") == (
            self.wf.participant(self.pid).facts.manager_conversation is not None
        )
        assert replay([(e.event, e.from_state, e.to_state) for e in self.wf.history(new.id)]) == (
            new.state
        )

    @invariant()
    def invariants_hold(self) -> None:
        if not self.pid:
            return
        view = self.wf.participant(self.pid)
        entries = self.wf.history(self.pid)

        assert view.state in STATE_NAMES
        assert view.version == self.version
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        assert replay([(e.event, e.from_state, e.to_state) for e in entries]) == view.state
        assert view.outstanding == [name for name, _ in outstanding(view.facts, self.plan)]

        certifications = [e for e in entries if e.event == "certify"]
        assert len(certifications) <= 1
        if view.state in ("certified", "closing_conversation_held", "completed"):
            assert certifications, "certified without a certify entry"
        if certifications:
            # never certified while an obligation was open: by the facts, and by the audit
            # trail read up to the certify entry
            assert outstanding(view.facts, self.plan) == []
            settled = obligations_settled_by_audit(entries, self.plan.max_absences)
            assert settled == set(OBLIGATIONS), settled

        previous = self.last
        if previous is not None:
            # nothing moves backwards, and a recorded fact is never lost or changed
            assert PATH_ORDER[view.state] >= PATH_ORDER[previous.state]
            if previous.state in FINAL_STATES:
                assert view.state == previous.state
            for name in DATE_FIELDS:
                before = getattr(previous.facts, name)
                if before is not None:
                    assert getattr(view.facts, name) == before, name
            for number, record in previous.facts.days.items():
                assert view.facts.days[number] == record
            assert set(previous.facts.waivers) <= set(view.facts.waivers)
        self.last = view

    def teardown(self) -> None:
        if self.pid:
            event(f"ended in {self.wf.participant(self.pid).state}")


@pytest.fixture(scope="module")
def shared_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    path: Path = tmp_path_factory.mktemp("properties") / "lps.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database)
    yield database
    database.dispose()


def test_random_paths_keep_the_programme_invariants(shared_database: Database) -> None:
    OneParticipant.database = shared_database
    run_state_machine_as_test(
        OneParticipant,
        settings=settings(
            max_examples=50,
            stateful_step_count=40,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(
    st.text(max_size=200)
    | _JSON.map(json.dumps)
    | st.dictionaries(
        st.sampled_from(["format", "at", "key_id", "chains", "signature"]), _JSON
    ).map(lambda d: json.dumps({**d, "format": FORMAT}))
)
def test_a_checkpoint_file_is_read_or_refused_in_one_line(text: str) -> None:
    """Whatever a checkpoint file holds, reading it gives a checkpoint or an InvalidInput."""
    try:
        checkpoint = Checkpoint.from_text(text, source="kept.json")
    except InvalidInput as refused:
        assert str(refused).startswith("kept.json is not an lps audit checkpoint")
    else:
        assert Checkpoint.from_text(checkpoint.to_text(), source="again") == checkpoint
