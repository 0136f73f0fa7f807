from __future__ import annotations

# The step kernel, on SQLite and PostgreSQL: refusals write nothing, optimistic locking,
# the audit chain and versions.
import itertools
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from conftest import enrol, make_cohort
from engine_helpers import D1, D2, D3, INVITE_DAY, drive, go, host, snapshot
from helpers import on
from sqlalchemy import select

from states.programme import StepArgs
from workflow import kernel
from workflow.audit import GENESIS, entry_hash
from workflow.clock import FixedClock
from workflow.engine import StepRequest, Workflow
from workflow.errors import ConcurrentChange, GuardFailed, InvalidInput, NotFound
from workflow.records import AUDIT, PARTICIPANTS, ParticipantRow, Step, load_cohorts, write_steps

# -- refusals write nothing -------------------------------------------------------------------


def test_a_refusal_writes_nothing(wf: Workflow, clock: FixedClock, pid: int) -> None:
    go(wf, pid, "hold_manager_conversation", goals=("x",))
    before = snapshot(wf, pid)
    attempts: list[Callable[[], object]] = [
        lambda: go(wf, pid, "register_day"),
        lambda: go(wf, pid, "invite_jti"),
        lambda: go(wf, pid, "certify"),
        lambda: go(wf, pid, "hold_manager_conversation", goals=("y",)),
        lambda: go(wf, pid, "complete_jti"),
        lambda: go(wf, pid, "withdraw"),
    ]
    for attempt in attempts:
        with pytest.raises(GuardFailed):
            attempt()
        assert snapshot(wf, pid) == before
    with pytest.raises(GuardFailed) as raised:
        go(wf, pid, "fly")
    assert raised.value.reasons[0].startswith("unknown trigger 'fly'; choose one of: ")
    assert snapshot(wf, pid) == before


def test_dry_run_writes_nothing(wf: Workflow, clock: FixedClock, pid: int) -> None:
    before = snapshot(wf, pid)
    result = wf.advance(pid, StepRequest("withdraw", reason="x"), dry_run=True)
    assert result.dry_run
    assert result.participant.state == "withdrawn"
    assert [(e.event, e.to_state) for e in result.entries] == [("withdraw", "withdrawn")]
    assert snapshot(wf, pid) == before


def test_unknown_participant(wf: Workflow, pid: int) -> None:
    with pytest.raises(NotFound, match=r"^no participant with id 99; see `lps participant list`$"):
        go(wf, 99, "withdraw", reason="x")
    with pytest.raises(
        NotFound, match=r"^no participant with email 'nobody@example.dk'; see `lps participant"
    ):
        wf.history("nobody@example.dk")


# -- optimistic locking -----------------------------------------------------------------------


def test_a_write_on_a_stale_read_raises_concurrent_change(
    wf: Workflow, database: Any, clock: FixedClock, pid: int
) -> None:
    other = Workflow(database, clock=clock, actor="other")

    def change(step: Step) -> list[str]:
        # between our read and our write, the other administrator records the conversation
        other.advance(pid, StepRequest("hold_manager_conversation", goals=("x",)))
        return kernel.fire(wf.runtime, step, "withdraw", StepArgs(reason="Nyt job"))

    with pytest.raises(ConcurrentChange) as raised:
        kernel.change(wf.runtime, pid, change)
    assert str(raised.value) == (
        f"participant #{pid} was changed by someone else at the same time; "
        "nothing was written; try again"
    )
    view = wf.participant(pid)
    assert view.state == "manager_conversation_held"
    assert view.version == 2
    assert [(e.event, e.actor) for e in wf.history(pid)] == [
        ("enrol", "tester"),
        ("hold_manager_conversation", "other"),
    ]
    # read again, the step goes through
    assert go(wf, pid, "withdraw", reason="Nyt job").participant.state == "withdrawn"


def test_write_steps_reports_a_stale_step_and_writes_none_of_it(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    with wf.db.reading() as conn:
        row = ParticipantRow.from_row(
            conn.execute(select(PARTICIPANTS).where(PARTICIPANTS.c.id == pid)).one()
        )
        cohort = load_cohorts(conn, {row.cohort_id})[row.cohort_id]
    go(wf, pid, "hold_manager_conversation", goals=("x",))  # someone else, after our read
    before = snapshot(wf, pid)

    stale = Step(row, cohort, wf.now(), "stale")
    stale.state = "withdrawn"
    stale.record("withdraw", row.state, "withdrawn", note="stale")
    with wf.db.transaction() as conn:
        assert write_steps(conn, [stale]) == [stale]
    assert snapshot(wf, pid) == before

    stale = Step(row, cohort, wf.now(), "stale")
    stale.record("set_host", row.state, row.state)
    with pytest.raises(ConcurrentChange), wf.db.transaction() as conn:
        kernel.write(conn, [stale])
    assert snapshot(wf, pid) == before


# -- the audit chain and versions -------------------------------------------------------------


def test_audit_hash_chain_and_versions(wf: Workflow, clock: FixedClock, pid: int) -> None:
    versions = [wf.participant(pid).version]
    assert versions == [1]
    steps: list[Callable[[], object]] = [
        lambda: go(wf, pid, "hold_manager_conversation", goals=("x",), note="God samtale"),
        lambda: (on(clock, INVITE_DAY), go(wf, pid, "invite_jti")),
        lambda: host(wf, pid),
        lambda: wf.waive(pid, "jti", "Udbyder nede"),
        lambda: (on(clock, D1), go(wf, pid, "register_day", absent=True, reason="Syg")),
        lambda: go(wf, pid, "withdraw", reason="Nyt job"),
    ]
    for action in steps:
        action()
        versions.append(wf.participant(pid).version)
    assert versions == list(range(1, len(steps) + 2))

    with wf.db.reading() as conn:
        rows = [
            r._mapping
            for r in conn.execute(
                select(AUDIT).where(AUDIT.c.participant_id == pid).order_by(AUDIT.c.seq)
            )
        ]
        head = conn.execute(
            select(PARTICIPANTS.c.audit_head, PARTICIPANTS.c.audit_seq).where(
                PARTICIPANTS.c.id == pid
            )
        ).one()
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0]["prev_hash"] == GENESIS
    for earlier, later in itertools.pairwise(rows):
        assert later["prev_hash"] == earlier["hash"]
    for row in rows:
        assert row["hash"] == entry_hash(
            prev_hash=row["prev_hash"],
            participant_id=row["participant_id"],
            seq=row["seq"],
            at=row["at"],
            actor=row["actor"],
            event=row["event"],
            from_state=row["from_state"],
            to_state=row["to_state"],
            digest=row["note_digest"],
            data=row["data"],
            channel=row["channel"],
        )
    assert len({r["hash"] for r in rows}) == len(rows)
    assert (head.audit_head, head.audit_seq) == (rows[-1]["hash"], len(rows))
    assert [(e.event, e.note) for e in wf.history(pid)] == [
        ("enrol", None),
        ("hold_manager_conversation", "God samtale"),
        ("invite_jti", None),
        ("set_host", None),
        ("waive", "Udbyder nede"),
        ("register_day", "Syg"),
        ("withdraw", "Nyt job"),
    ]


def test_each_participant_has_its_own_chain(wf: Workflow, clock: FixedClock) -> None:
    make_cohort(wf)
    a = enrol(wf, "a@example.dk")
    b = enrol(wf, "b@example.dk")
    go(wf, a, "hold_manager_conversation", goals=("x",))
    go(wf, b, "withdraw", reason="x")
    go(wf, a, "withdraw", reason="y")
    assert [e.seq for e in wf.history(a)] == [1, 2, 3]
    assert [e.seq for e in wf.history(b)] == [1, 2]
    assert wf.participant(a).version == 3
    assert wf.participant(b).version == 2


def test_pass_through_is_one_write(wf: Workflow, clock: FixedClock, pid: int) -> None:
    drive(wf, clock, pid, "day_5")
    version = wf.participant(pid).version
    step = go(wf, pid, "deliver_speech")
    assert len(step.entries) == 2
    assert wf.participant(pid).version == version + 1
    assert step.participant.version == version + 1


def test_moving_day_one_past_an_early_career_visit_does_not_strand_the_participant(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    drive(wf, clock, pid, "day_1")
    host(wf, pid)
    on(clock, D1 + timedelta(days=1))
    go(wf, pid, "hold_career_visit")  # recorded on 2027-03-02
    try:
        wf.reschedule("H1", 1, date(2027, 3, 5))
    except InvalidInput:
        return  # refusing to move day 1 past recorded facts is an acceptable answer
    on(clock, D2)
    go(wf, pid, "register_day")
    on(clock, D3)
    step = go(wf, pid, "register_day")  # either a clean refusal or a step, never a crash
    assert step.participant.state in ("day_3", "career_visit_held")


def test_advance_cohort_leaves_out_a_participant_named_as_hash_id(
    wf: Workflow, clock: FixedClock
) -> None:
    make_cohort(wf)
    a = enrol(wf, "a@example.dk")
    b = enrol(wf, "b@example.dk")
    assert wf.participant(f"#{b}").id == b  # single-participant commands accept #ID
    on(clock, INVITE_DAY)
    result = wf.advance_cohort("H1", StepRequest("invite_jti"), except_refs=[f"#{b}"])
    assert result.advanced == [(a, "enrolled", "jti_invited")]
    assert result.skipped == 1
    assert wf.participant(b).state == "enrolled"
