"""A tamper-evident audit trail: after a walk through several steps ``lps audit verify`` passes;
then every kind of change made directly in the database, behind the engine's back, is found,
named by participant and entry, and makes ``lps audit verify`` exit 1."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from conftest import Cli
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from workflow.audit import entry_hash, note_digest
from workflow.db import Database
from workflow.records import AUDIT, PARTICIPANTS

DAYS = "2027-03-01,2027-03-15,2027-03-29,2027-04-12,2027-04-26"

# The walk of participant #1, one audit entry per line; #2 is enrolled and left alone.
WALK: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("2027-01-04T10:00", ("advance", "1", "hold_manager_conversation", "--goal", "Tydelighed")),
    ("2027-01-04T10:05", ("advance", "1", "invite_jti", "--early")),
    ("2027-01-20T10:00", ("advance", "1", "complete_jti")),
    ("2027-03-01T10:00", ("advance", "1", "register_day", "--absent", "--reason", "Syg")),
    (
        "2027-03-05T10:00",
        (
            "host",
            "set",
            "1",
            "--name",
            "Hanne Vært",
            "--email",
            "hanne@odense.dk",
            "--role",
            "leader",
            "--municipality",
            "Odense",
        ),
    ),
    ("2027-03-15T10:00", ("advance", "1", "register_day")),
)
EVENTS = (
    "enrol",
    "hold_manager_conversation",
    "invite_jti",
    "complete_jti",
    "register_day",
    "set_host",
    "register_day",
)
LAST = len(EVENTS)


def ok(lps: Cli) -> None:
    result = lps("audit", "verify")
    assert result.exit_code == 0, result.output
    intact = f"Audit trail intact: {LAST + 1} entries of 2 participants verified and replayed."
    assert intact in result.stdout


@pytest.fixture
def walked(lps: Cli) -> Cli:
    """Participant #1 walked to day 2 with an absence noted on day 1; #2 only enrolled."""
    created = lps(
        "cohort", "create", "H1", "--name", "Hold 1", "--days", DAYS, "--allow-holiday",
        "--admin-email", "kursus@odense.dk",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    for name, email in (("Søren Ærø", "soren@odense.dk"), ("Åse Øster", "aase@odense.dk")):
        added = lps(
            "participant", "add", "H1", "--name", name, "--email", email, "--municipality",
            "Odense", "--manager-name", "Mette Kjær", "--manager-email", "mette@odense.dk",
        )  # fmt: skip
        assert added.exit_code == 0, added.output
    for now, args in WALK:
        lps.now = now
        result = lps(*args)
        assert result.exit_code == 0, (args, result.output)
    return lps


def entries(conn: Connection, participant_id: int = 1) -> list[Any]:
    return list(
        conn.execute(
            select(AUDIT).where(AUDIT.c.participant_id == participant_id).order_by(AUDIT.c.seq)
        ).all()
    )


def rehash(row: Any, **changes: Any) -> dict[str, Any]:
    """The entry with ``changes`` applied and its hash recomputed, as a forger would."""
    values = {**row._mapping, **changes}
    values["hash"] = entry_hash(
        prev_hash=values["prev_hash"],
        participant_id=values["participant_id"],
        seq=values["seq"],
        at=values["at"],
        actor=values["actor"],
        event=values["event"],
        from_state=values["from_state"],
        to_state=values["to_state"],
        digest=values["note_digest"],
        data=dict(values["data"] or {}),
    )
    return values


def edit(number: int, **values: Any) -> Callable[[Connection], None]:
    """Change entry ``number`` of participant #1 in place."""

    def change(conn: Connection) -> None:
        conn.execute(
            update(AUDIT).where(AUDIT.c.participant_id == 1, AUDIT.c.seq == number).values(**values)
        )

    return change


def delete_entry(seq: int) -> Callable[[Connection], None]:
    def change(conn: Connection) -> None:
        conn.execute(delete(AUDIT).where(AUDIT.c.participant_id == 1, AUDIT.c.seq == seq))

    return change


def delete_all(conn: Connection) -> None:
    conn.execute(delete(AUDIT).where(AUDIT.c.participant_id == 1))


def edit_note_and_digest(conn: Connection) -> None:
    edit(5, note="Rask", note_digest=note_digest("Rask"))(conn)


def edit_earlier_moment(conn: Connection) -> None:
    third = entries(conn)[2]
    edit(3, at=third.at - timedelta(days=30))(conn)


def forge_at_the_end(conn: Connection) -> None:
    """A well-formed entry, hash and all, appended without moving the participant's head."""
    last = entries(conn)[-1]
    forged = rehash(
        last,
        seq=last.seq + 1,
        event="register_day",
        from_state="day_2",
        to_state="day_3",
        prev_hash=last.hash,
        note=None,
        note_digest=note_digest(None),
        data={},
    )
    del forged["id"]
    conn.execute(AUDIT.insert(), [forged])


def rewrite_in_the_middle(conn: Connection) -> None:
    """Entry 4 rewritten with a recomputed hash: the next entry no longer links to it."""
    fourth = entries(conn)[3]
    forged = rehash(fourth, actor="mallory")
    edit(4, actor=forged["actor"], hash=forged["hash"])(conn)


def forge_an_illegal_jump(conn: Connection) -> None:
    """The last entry rewritten to jump from day 1 to day 5, hash recomputed, and the head and
    state of the participant moved along with it: only the replay can tell."""
    last = entries(conn)[-1]
    forged = rehash(last, to_state="day_5")
    edit(LAST, to_state="day_5", hash=forged["hash"])(conn)
    conn.execute(
        update(PARTICIPANTS)
        .where(PARTICIPANTS.c.id == 1)
        .values(state="day_5", audit_head=forged["hash"])
    )


def state_without_entry(conn: Connection) -> None:
    conn.execute(update(PARTICIPANTS).where(PARTICIPANTS.c.id == 1).values(state="certified"))


def swap_two_entries(conn: Connection) -> None:
    edit(3, seq=99)(conn)
    edit(4, seq=3)(conn)
    edit(99, seq=4)(conn)


def move_to_another_participant(conn: Connection) -> None:
    conn.execute(
        update(AUDIT)
        .where(AUDIT.c.participant_id == 1, AUDIT.c.seq == LAST)
        .values(participant_id=2, seq=2)
    )


CASES: dict[str, tuple[Callable[[Connection], None], list[str]]] = {
    "actor edited": (
        edit(3, actor="mallory"),
        ["participant #1, entry 3: its content does not match its hash: edited"],
    ),
    "event edited": (
        edit(3, event="complete_jti"),
        ["participant #1, entry 3: its content does not match its hash: edited"],
    ),
    "to_state edited": (
        edit(4, to_state="day_1"),
        ["participant #1, entry 4: its content does not match its hash: edited"],
    ),
    "from_state edited": (
        edit(4, from_state="enrolled"),
        ["participant #1, entry 4: its content does not match its hash: edited"],
    ),
    "data edited": (
        edit(5, data={"absent": False}),
        ["participant #1, entry 5: its content does not match its hash: edited"],
    ),
    "moment edited": (
        edit_earlier_moment,
        ["participant #1, entry 3: its content does not match its hash: edited"],
    ),
    "note edited": (edit(5, note="Rask"), ["participant #1, entry 5: its note was edited"]),
    "note and its digest edited": (
        edit_note_and_digest,
        ["participant #1, entry 5: its content does not match its hash: edited"],
    ),
    "middle entry deleted": (
        delete_entry(3),
        ["participant #1, entry 4: expected entry 3 here: an entry was deleted or inserted"],
    ),
    "first entry deleted": (
        delete_entry(1),
        ["participant #1, entry 2: expected entry 1 here: an entry was deleted or inserted"],
    ),
    "last entry deleted": (
        delete_entry(LAST),
        [
            f"participant #1: the participant's chain ends at entry {LAST}, but {LAST - 1} "
            "entries are there: an entry was deleted or added at the end"
        ],
    ),
    "every entry deleted": (delete_all, [f"participant #1: all {LAST} entries are missing"]),
    "forged entry appended with a valid hash": (
        forge_at_the_end,
        [
            f"participant #1: the participant's chain ends at entry {LAST}, but {LAST + 1} "
            "entries are there: an entry was deleted or added at the end"
        ],
    ),
    "middle entry rewritten with a valid hash": (
        rewrite_in_the_middle,
        ["participant #1, entry 5: does not link to the entry before it"],
    ),
    "illegal jump forged with hash and head": (
        forge_an_illegal_jump,
        [
            f"participant #1: does not replay: entry {LAST}: register_day cannot lead from day_1 "
            "to day_5"
        ],
    ),
    "state changed without an entry": (
        state_without_entry,
        ["participant #1: the trail replays to day_2, but the participant is certified"],
    ),
    "two entries swapped": (
        swap_two_entries,
        ["participant #1, entry 3: does not link to the entry before it"],
    ),
    "entry moved to another participant": (
        move_to_another_participant,
        [
            f"participant #1: the participant's chain ends at entry {LAST}, but {LAST - 1} "
            "entries are there: an entry was deleted or added at the end",
            "participant #2, entry 2: does not link to the entry before it",
        ],
    ),
}


def test_the_walk_verifies(walked: Cli, database: Database) -> None:
    ok(walked)
    with database.reading() as conn:
        assert tuple(e.event for e in entries(conn)) == EVENTS
        assert [e.note for e in entries(conn)][4] == "Syg"


@pytest.mark.parametrize("case", list(CASES))
def test_tampering_is_found_and_named(walked: Cli, database: Database, case: str) -> None:
    ok(walked)
    tamper, problems = CASES[case]
    with database.engine.begin() as conn:
        tamper(conn)

    result = walked("audit", "verify")

    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"Error: {problem}" for problem in problems]


def test_a_note_blanked_for_privacy_still_verifies(walked: Cli, database: Database) -> None:
    """The chain covers a note only through its digest, so erasing the words themselves (as
    the right to erasure requires) is not tampering."""
    with database.engine.begin() as conn:
        edit(5, note=None)(conn)

    ok(walked)
