"""Concurrent administrators: many real ``lps`` processes fire the same or conflicting triggers
at one participant at the same moment, on SQLite and on PostgreSQL. Exactly one wins each step,
the others are refused with one clear line, and the audit trail has one entry per step."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import START, Cli, enrol, make_cohort
from procs import Finished, race
from sqlalchemy import select

from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import Workflow
from workflow.records import AUDIT, PARTICIPANTS

PROCESSES = 10
NOW = START.isoformat()
CONCURRENT = "changed by someone else at the same time; nothing was written; try again"


@dataclass(frozen=True)
class Round:
    """One race: which participant, and the trigger (with its options) each process fires."""

    participant_id: int
    commands: tuple[tuple[str, ...], ...]
    conflicting: bool


HOLD = ("hold_manager_conversation", "--goal", "Tydelighed")
INVITE = ("invite_jti", "--early")
WITHDRAW = ("withdraw", "--reason", "Skiftet job")


def same(participant_id: int, ref: str, trigger: tuple[str, ...]) -> Round:
    """Every process fires ``trigger`` at the participant named by ``ref`` (id or email)."""
    command = ("advance", ref, *trigger)
    return Round(participant_id, (command,) * PROCESSES, conflicting=False)


def conflicting(participant_id: int, first: tuple[str, ...], second: tuple[str, ...]) -> Round:
    """Half the processes fire ``first``, the other half ``second``, interleaved."""
    ref = str(participant_id)
    commands = tuple(("advance", ref, *(first if i % 2 == 0 else second)) for i in range(PROCESSES))
    return Round(participant_id, commands, conflicting=True)


def trail(database: Database, participant_id: int) -> list[tuple[int, str, str | None, str]]:
    with database.reading() as conn:
        rows = conn.execute(
            select(AUDIT.c.seq, AUDIT.c.event, AUDIT.c.from_state, AUDIT.c.to_state)
            .where(AUDIT.c.participant_id == participant_id)
            .order_by(AUDIT.c.seq)
        ).all()
    return [(r.seq, r.event, r.from_state, r.to_state) for r in rows]


def state_of(database: Database, participant_id: int) -> tuple[str, int]:
    with database.reading() as conn:
        row = conn.execute(
            select(PARTICIPANTS.c.state, PARTICIPANTS.c.version).where(
                PARTICIPANTS.c.id == participant_id
            )
        ).one()
    return row.state, row.version


def outcome(result: Finished, reached: set[str]) -> str:
    """'won', 'concurrent' or 'refused'; fails on anything else a user should never see."""
    assert result.returncode in (0, 1), (result.args, result.returncode, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    if result.returncode == 0:
        assert result.stderr == "", result.stderr
        return "won"
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    if CONCURRENT in lines[0]:
        return "concurrent"
    # It read the participant after a winner had committed: the refusal names that state.
    named = {state for state in reached if state in lines[0]}
    assert "not possible" in lines[0] and named, (lines[0], reached)
    return "refused"


@pytest.fixture
def setup(db_url: str, tmp_path: Path) -> tuple[str, Database, Workflow]:
    init = Cli(db_url)("init")
    assert init.exit_code == 0, init.output
    database = Database(db_url)
    workflow = Workflow(database, clock=FixedClock(START), actor="setup")
    make_cohort(workflow)
    return db_url, database, workflow


@pytest.mark.slow
@pytest.mark.postgres
def test_racing_administrators_one_winner_per_step(
    setup: tuple[str, Database, Workflow], tmp_path: Path
) -> None:
    url, database, workflow = setup
    first = enrol(workflow, email="soren@example.dk")
    second = enrol(workflow, email="aase@example.dk", name="Åse Øster")
    third = enrol(workflow, email="lukasz@example.dk", name="Łukasz Nguyễn")
    rounds = [
        same(first, str(first), HOLD),
        same(first, "soren@example.dk", INVITE),
        conflicting(second, WITHDRAW, HOLD),
        conflicting(third, HOLD, WITHDRAW),
    ]
    counts: Counter[str] = Counter()
    for number, round_ in enumerate(rounds, start=1):
        pid = round_.participant_id
        before = trail(database, pid)
        _, version_before = state_of(database, pid)

        results = race(round_.commands, url=url, now=NOW, workdir=tmp_path)

        after = trail(database, pid)
        assert after[: len(before)] == before, "an earlier entry changed"
        new = after[len(before) :]
        assert new, f"race {number}: nobody won, the step was lost"
        reached = {to_state for _, _, _, to_state in new}
        outcomes = [outcome(result, reached) for result in results]
        counts.update(outcomes)
        winners = [r for r, o in zip(results, outcomes, strict=True) if o == "won"]
        # One audit entry per successful step, and one successful process per entry.
        assert sorted(e for _, e, _, _ in new) == sorted(w.args[2] for w in winners), (
            number,
            new,
        )
        state, version = state_of(database, pid)
        assert version == version_before + len(winners)
        assert state == new[-1][3]
        if round_.conflicting:
            # Holding the conversation may win before a withdrawal; nothing follows one.
            assert [e for _, e, _, _ in new] in (
                ["withdraw"],
                ["hold_manager_conversation"],
                ["hold_manager_conversation", "withdraw"],
            ), new
        else:
            assert len(winners) == 1, [(r.returncode, r.stderr) for r in results]
        for winner in winners:
            trigger = winner.args[2]
            assert f": {trigger}: " in winner.stdout, winner.stdout
        verify = Cli(url)("audit", "verify")
        assert verify.exit_code == 0, verify.output
        assert "Audit trail intact" in verify.output

    total = sum(counts.values())
    assert total == PROCESSES * len(rounds)
    print(
        f"\n{database.url.split(':', 1)[0]}: {total} processes in {len(rounds)} races of "
        f"{PROCESSES}: {counts['won']} won, {counts['concurrent']} lost the write race "
        f"(changed by someone else), {counts['refused']} refused by a guard; steps lost: 0"
    )
    database.dispose()
