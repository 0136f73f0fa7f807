"""A tamper-evident audit trail: after a walk through several steps ``lps audit verify`` passes;
then every kind of change made directly in the database, behind the engine's back, is found,
named by participant and entry, and makes ``lps audit verify`` exit 1."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Cli
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from workflow.audit import entry_hash, note_digest
from workflow.db import Database
from workflow.models import AUDIT_CHECKPOINTS, DEADLINES, OUTBOX
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
    return walk(lps)


def walk(lps: Cli) -> Cli:
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


def rehash(row: Any, key: str | None = None, **changes: Any) -> dict[str, Any]:
    """The entry with ``changes`` applied and its hash recomputed, as a forger would (one who
    holds ``key``, if given)."""
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
        role=values["role"],
        facts=values["facts_digest"],
        key=key,
        channel=values["channel"],
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
    "note blanked of someone never erased": (
        edit(5, note=None),
        ["participant #1, entry 5: its note was removed, but participant #1 was never erased"],
    ),
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


def test_notes_blanked_by_an_erasure_still_verify(walked: Cli, database: Database) -> None:
    """The chain covers a note only through its digest, so erasing the words themselves (as
    the right to erasure requires) is not tampering."""
    withdrawn = walked("advance", "1", "withdraw", "--reason", "Nyt job")
    assert withdrawn.exit_code == 0, withdrawn.output
    erased = walked("participant", "erase", "1", "--reason", "Anmodning om sletning")
    assert erased.exit_code == 0, erased.output
    with database.reading() as conn:
        assert [e.note for e in entries(conn)][4] is None

    result = walked("audit", "verify")

    assert result.exit_code == 0, result.output
    assert f"{LAST + 3} entries of 2 participants verified" in result.stdout


# -- sealed with the audit key ------------------------------------------------------------------
#
# A database administrator can write every table but does not hold LPS_AUDIT_KEY: whatever
# they rewrite, recompute, cut or delete is named by `lps audit verify`.

KEY = "nøgle-uden-for-databasen"
CHECKPOINT_AT = "2027-03-15 10:00"
IN_DB = f"the checkpoint in the database of {CHECKPOINT_AT}"


@pytest.fixture
def sealed(lps: Cli) -> Cli:
    """The walk with the audit key set and a checkpoint taken after it."""
    lps.env["LPS_AUDIT_KEY"] = KEY
    walk(lps)
    taken = lps("audit", "checkpoint")
    assert taken.exit_code == 0, taken.output
    assert taken.stdout == (
        f"Checkpoint of {CHECKPOINT_AT} signed: {LAST + 1} entries of 2 participants.\n"
    )
    return lps


def recompute(
    conn: Connection, participant_id: int, start: int, key: str | None, **changes: Any
) -> None:
    """Rewrite the chain from entry ``start`` on with ``changes`` to that entry, every later
    hash recomputed (with ``key``, a key guessed by the forger) and the head moved along."""
    rows = entries(conn, participant_id)
    previous = rows[start - 2].hash if start > 1 else rows[0].prev_hash
    for row in rows[start - 1 :]:
        forged = rehash(row, key, prev_hash=previous, **(changes if row.seq == start else {}))
        conn.execute(
            update(AUDIT)
            .where(AUDIT.c.id == row.id)
            .values({k: v for k, v in forged.items() if k != "id"})
        )
        previous = forged["hash"]
    conn.execute(
        update(PARTICIPANTS).where(PARTICIPANTS.c.id == participant_id).values(audit_head=previous)
    )


def mallory_and_an_absence(
    key: str | None, key_id: str | None = None
) -> Callable[[Connection], None]:
    """Entry 3's actor made mallory and day 2 (the last entry) made an absence, facts and all,
    the chain recomputed with ``key`` (keeping the entries' key ids unless ``key_id``)."""

    def change(conn: Connection) -> None:
        ids = {} if key_id is None else {"key_id": key_id}
        recompute(conn, 1, 3, key, actor="mallory", **ids)
        facts = conn.execute(
            select(PARTICIPANTS.c.facts).where(PARTICIPANTS.c.id == 1)
        ).scalar_one()
        days = dict(facts["days"])
        days["2"] = {**days["2"], "attended": False}
        facts = {**facts, "days": days}
        last = entries(conn)[-1]
        forged = rehash(last, key, data={**last.data, "attended": False}, **ids)
        conn.execute(
            update(AUDIT)
            .where(AUDIT.c.id == last.id)
            .values(data=forged["data"], hash=forged["hash"])
        )
        conn.execute(
            update(PARTICIPANTS)
            .where(PARTICIPANTS.c.id == 1)
            .values(audit_head=forged["hash"], facts=facts)
        )

    return change


def cut_the_tail(conn: Connection) -> None:
    """The last entry deleted and the participant's head, length, state and facts set back
    to what they were before it."""
    rows = entries(conn)
    conn.execute(delete(AUDIT).where(AUDIT.c.id == rows[-1].id))
    facts = conn.execute(select(PARTICIPANTS.c.facts).where(PARTICIPANTS.c.id == 1)).scalar_one()
    days = {number: day for number, day in facts["days"].items() if number != "2"}
    conn.execute(
        update(PARTICIPANTS)
        .where(PARTICIPANTS.c.id == 1)
        .values(
            audit_seq=LAST - 1,
            audit_head=rows[-2].hash,
            state="day_1",
            facts={**facts, "days": days},
        )
    )


def delete_participant(conn: Connection) -> None:
    for table in (AUDIT, DEADLINES, OUTBOX):
        conn.execute(delete(table).where(table.c.participant_id == 2))
    conn.execute(delete(PARTICIPANTS).where(PARTICIPANTS.c.id == 2))


def edit_facts(conn: Connection) -> None:
    facts = conn.execute(select(PARTICIPANTS.c.facts).where(PARTICIPANTS.c.id == 1)).scalar_one()
    conn.execute(
        update(PARTICIPANTS)
        .where(PARTICIPANTS.c.id == 1)
        .values(facts={**facts, "goals": ["Ingen"]})
    )


def delete_checkpoints(conn: Connection) -> None:
    conn.execute(delete(AUDIT_CHECKPOINTS))


def edit_checkpoint(conn: Connection) -> None:
    body = conn.execute(select(AUDIT_CHECKPOINTS.c.body)).scalar_one()
    conn.execute(update(AUDIT_CHECKPOINTS).values(body=body.replace('"1":[7,', '"1":[6,')))


SEALED_CASES: dict[str, tuple[Callable[[Connection], None], list[str]]] = {
    "chain recomputed without the key: mallory and an absence": (
        mallory_and_an_absence(None),
        ["participant #1, entry 3: its content does not match its hash: edited"],
    ),
    "chain recomputed with a guessed key": (
        mallory_and_an_absence("leder-paa-spring"),
        ["participant #1, entry 3: its content does not match its hash: edited"],
    ),
    "chain recomputed as if never sealed": (
        mallory_and_an_absence(None, key_id=""),
        [
            "participant #1, entry 3: is not sealed with the audit key, though entry 1 before "
            "it is: it was rewritten by someone without the key"
        ],
    ),
    "tail cut, head and state set back": (
        cut_the_tail,
        [
            f"participant #1: {IN_DB} recorded {LAST} entries, but {LAST - 1} are there: "
            "the chain was cut short"
        ],
    ),
    "whole participant deleted": (
        delete_participant,
        [
            f"participant #2: is missing, but {IN_DB} recorded 1 entries of theirs: "
            "the participant was deleted"
        ],
    ),
    "recorded facts edited": (
        edit_facts,
        ["participant #1: the recorded facts are not those its last entry sealed: edited"],
    ),
    "note blanked of someone never erased": (
        edit(5, note=None),
        ["participant #1, entry 5: its note was removed, but participant #1 was never erased"],
    ),
    "checkpoint edited": (
        edit_checkpoint,
        [
            f"{IN_DB} is not signed with the audit key: it was edited or forged, or "
            "LPS_AUDIT_KEY is not the key it was written with"
        ],
    ),
}


def test_a_sealed_walk_verifies_and_says_against_what(sealed: Cli) -> None:
    result = sealed("audit", "verify")

    assert result.exit_code == 0, result.output
    role = "postgres" if sealed.url.startswith("postgresql") else getpass.getuser()
    assert result.stdout.splitlines() == [
        f"Audit trail intact: {LAST + 1} entries of 2 participants verified and replayed.",
        f"Every entry sealed with the audit key; chains held against {IN_DB}.",
        f"Written by: {role} on behalf of tester ({LAST + 1}).",
    ]


@pytest.mark.parametrize("case", list(SEALED_CASES))
def test_rewriting_a_sealed_trail_is_found_and_named(
    sealed: Cli, database: Database, case: str
) -> None:
    tamper, problems = SEALED_CASES[case]
    with database.engine.begin() as conn:
        tamper(conn)

    result = sealed("audit", "verify")

    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [f"Error: {problem}" for problem in problems]


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        (
            cut_the_tail,
            f"participant #1: the checkpoint file of {CHECKPOINT_AT} recorded {LAST} entries, "
            f"but {LAST - 1} are there: the chain was cut short",
        ),
        (
            delete_participant,
            f"participant #2: is missing, but the checkpoint file of {CHECKPOINT_AT} recorded 1 "
            "entries of theirs: the participant was deleted",
        ),
    ],
)
def test_a_checkpoint_kept_outside_finds_what_the_database_no_longer_shows(
    sealed: Cli,
    database: Database,
    tmp_path: Path,
    case: Callable[[Connection], None],
    problem: str,
) -> None:
    kept = tmp_path / "checkpoint.json"
    assert sealed("audit", "checkpoint", "--output", str(kept)).exit_code == 0
    with database.engine.begin() as conn:
        case(conn)
        delete_checkpoints(conn)

    without = sealed("audit", "verify")
    assert without.exit_code == 0, without.output
    assert "Note: the database holds no checkpoint" in without.stdout

    result = sealed("audit", "verify", "--checkpoint", str(kept))

    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [f"Error: {problem}"]


def test_a_sweep_writes_a_checkpoint_that_keeps_what_was_lost(
    sealed: Cli, database: Database
) -> None:
    """The sweep's checkpoint does not forget: a tail cut before it still shows after it."""
    with database.engine.begin() as conn:
        cut_the_tail(conn)
    sealed.now = "2027-03-16T10:00"
    swept = sealed("remind")
    assert swept.exit_code == 0, swept.output
    with database.reading() as conn:
        assert (
            conn.execute(select(AUDIT_CHECKPOINTS.c.at))
            .scalar_one()
            .isoformat()
            .startswith("2027-03-16")
        )

    # A sweep that moves no chain leaves the stored checkpoint as it was.
    sealed.now = "2027-03-16T10:01"
    assert sealed("remind").exit_code == 0
    with database.reading() as conn:
        at = conn.execute(select(AUDIT_CHECKPOINTS.c.at)).scalar_one()
    assert at.isoformat() == "2027-03-16T09:00:00+00:00"

    result = sealed("audit", "verify")

    assert result.exit_code == 1
    # The sweep's steps grew the cut chain again, past a new entry 7.
    assert result.stderr.splitlines() == [
        f"Error: participant #1, entry {LAST}: differs from the checkpoint in the database of "
        "2027-03-16 10:00: the chain was rewritten"
    ]


def test_a_checkpoint_file_from_another_key_or_edited_is_refused(
    sealed: Cli, tmp_path: Path
) -> None:
    kept = tmp_path / "checkpoint.json"
    assert sealed("audit", "checkpoint", "--output", str(kept)).exit_code == 0
    kept.write_text(kept.read_text().replace('"2": [\n   1', '"2": [\n   0'))

    result = sealed("audit", "verify", "--checkpoint", str(kept))

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"Error: the checkpoint file of {CHECKPOINT_AT} is not signed with the audit key: it "
        "was edited or forged, or LPS_AUDIT_KEY is not the key it was written with"
    ]
    kept.write_text("nonsense")
    unreadable = sealed("audit", "verify", "--checkpoint", str(kept))
    assert unreadable.exit_code == 1
    assert unreadable.stderr == f"Error: {kept} is not an lps audit checkpoint: it is not JSON\n"


def test_a_checkpoint_needs_the_key(walked: Cli) -> None:
    result = walked("audit", "checkpoint")

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: a checkpoint is signed with the audit key, and none is set; set LPS_AUDIT_KEY "
        "(keep it outside the database)\n"
    )


def test_entries_from_before_the_key_verify_once_a_checkpoint_anchors_them(
    walked: Cli, database: Database
) -> None:
    """A database written before entries were sealed (no role, no facts, plain SHA-256) keeps
    verifying; once the key is set, one checkpoint anchors the old entries and new ones are
    sealed."""
    with database.engine.begin() as conn:
        for participant_id in (1, 2):
            previous = entries(conn, participant_id)[0].prev_hash
            for row in entries(conn, participant_id):
                legacy = rehash(row, prev_hash=previous, role=None, facts_digest=None, key_id="")
                conn.execute(
                    update(AUDIT)
                    .where(AUDIT.c.id == row.id)
                    .values(
                        prev_hash=previous,
                        role=None,
                        facts_digest=None,
                        key_id="",
                        hash=legacy["hash"],
                    )
                )
                previous = legacy["hash"]
            conn.execute(
                update(PARTICIPANTS)
                .where(PARTICIPANTS.c.id == participant_id)
                .values(audit_head=previous)
            )
    ok(walked)

    walked.env["LPS_AUDIT_KEY"] = KEY
    unanchored = walked("audit", "verify")
    assert unanchored.exit_code == 1
    assert unanchored.stderr.splitlines()[0] == (
        "Error: participant #1, entry 1: is not sealed with the audit key, and no checkpoint "
        "covers it: it was written or rewritten without the key (after first setting "
        "LPS_AUDIT_KEY, run `lps audit checkpoint` once to anchor the older entries)"
    )
    assert walked("audit", "checkpoint").exit_code == 0
    walked.now = "2027-03-16T10:00"
    assert walked("advance", "2", "withdraw", "--reason", "Nyt job").exit_code == 0

    result = walked("audit", "verify")

    assert result.exit_code == 0, result.output
    assert "Every entry sealed with the audit key" in result.stdout
    with database.reading() as conn:
        assert [bool(e.key_id) for e in entries(conn, 2)] == [False, True]
