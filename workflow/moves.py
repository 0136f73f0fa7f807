"""Moving the participants of a cohort to another programme version: a dry run that says, for
each of them, what would happen and why, and the application of exactly that plan."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from states.errors import LpsError
from states.facts import Facts
from states.programme import FINAL_STATES, LOCAL_TZ, CohortPlan, Programme, outstanding
from states.rules import DueMoment, certified_deadlines, cohort_deadlines
from workflow.clock import SUPPORTED_YEARS, in_supported_range, parse_date, shown
from workflow.db import Database
from workflow.errors import GuardFailed, InvalidInput, NotFound
from workflow.kernel import write
from workflow.models import COHORTS, DEADLINES, MIGRATION_PLANS, PARTICIPANTS
from workflow.programmes import resolve
from workflow.queries import cohort_row
from workflow.records import CohortRow, ParticipantRow, Step
from workflow.validation import holiday_refusals

__all__ = [
    "DeadlineChange",
    "MigrationPlan",
    "MigrationRefused",
    "Moved",
    "ParticipantMove",
    "apply_plan",
    "dry_run",
    "parse_days",
    "parse_map",
]

MIGRATE = "migrate"


class MigrationRefused(LpsError):
    """A plan that cannot be carried out: someone is blocked, or changed since the dry run."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines
        super().__init__("; ".join(lines))

    def lines(self) -> list[str]:
        return list(self._lines)


@dataclass(frozen=True)
class DeadlineChange:
    """One timed rule of one participant: ``added``, ``removed`` or ``moved``."""

    rule: str
    occurrence: int
    change: str
    old: datetime | None
    new: datetime | None
    old_expires: datetime | None = None
    new_expires: datetime | None = None

    def text(self) -> str:
        name = self.rule if not self.occurrence else f"{self.rule} #{self.occurrence}"
        if self.change == "added":
            return f"{name}: added, {_local(self.new)}"
        if self.change == "removed":
            return f"{name}: removed (was {_local(self.old)})"
        return f"{name}: {_local(self.old)} → {_local(self.new)}"

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "occurrence": self.occurrence,
            "change": self.change,
            "old": self.old.isoformat() if self.old else None,
            "new": self.new.isoformat() if self.new else None,
        }


def _local(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class ParticipantMove:
    """What the plan does with one participant."""

    id: int
    email: str
    outcome: str
    reasons: tuple[str, ...]
    from_state: str
    to_state: str
    from_version: str
    to_version: str
    row_version: int
    deadlines: tuple[DeadlineChange, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "outcome": self.outcome,
            "reasons": list(self.reasons),
            "from_state": self.from_state,
            "to_state": self.to_state,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "deadlines": [change.as_json() for change in self.deadlines],
        }


@dataclass(frozen=True)
class MigrationPlan:
    """A dry run: ``plan`` is its id, a digest of every move and of each participant's row
    version, so that applying it later carries out exactly this."""

    plan: str
    cohort: str
    from_version: str
    to_version: str
    mapping: tuple[tuple[str, str], ...]
    participants: tuple[ParticipantMove, ...]
    # The cohort's teaching days before and after: a version with more days adds dates.
    from_days: tuple[date, ...] = ()
    to_days: tuple[date, ...] = ()

    @property
    def blocked(self) -> list[ParticipantMove]:
        return [p for p in self.participants if p.outcome == "blocked"]

    @property
    def added_days(self) -> tuple[tuple[int, date], ...]:
        """The days the move gives the cohort, by number."""
        return tuple(
            (number, day)
            for number, day in enumerate(self.to_days, start=1)
            if number > len(self.from_days)
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "cohort": self.cohort,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "from_days": [day.isoformat() for day in self.from_days],
            "to_days": [day.isoformat() for day in self.to_days],
            "participants": [p.as_json() for p in self.participants],
        }


@dataclass(frozen=True)
class Moved:
    """What ``--apply`` did."""

    plan: str
    cohort: str
    to_version: str
    moved: int
    finished: int
    # Those who stay where they are, on their own version, and why.
    blocked: tuple[ParticipantMove, ...] = ()


def parse_map(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    """``OLD=NEW`` state mappings; refuse a malformed or repeated one."""
    found: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = (part.strip() for part in pair.partition("="))
        if not sep or not old or not new:
            raise InvalidInput(f"--map {shown(pair)} is not OLD_STATE=NEW_STATE")
        if old in found:
            raise InvalidInput(f"state {shown(old)} is mapped twice")
        found[old] = new
    return tuple(sorted(found.items()))


def parse_days(pairs: list[str]) -> tuple[tuple[int, date], ...]:
    """``N=YYYY-MM-DD``: the date of teaching day N that a version with more days adds;
    refuse a malformed or repeated one."""
    found: dict[int, date] = {}
    for pair in pairs:
        number, sep, text = (part.strip() for part in pair.partition("="))
        if not sep or not number.isascii() or not number.isdigit() or not 1 <= int(number) <= 8:
            raise InvalidInput(f"--day {shown(pair)} is not N=YYYY-MM-DD with N from 1 to 8")
        try:
            day = parse_date(text)
        except ValueError:
            raise InvalidInput(
                f"--day {shown(pair)}: {shown(text)} is not a date (YYYY-MM-DD)"
            ) from None
        if not in_supported_range(day):
            raise InvalidInput(
                f"--day {shown(pair)} is outside the supported years {SUPPORTED_YEARS}"
            )
        if int(number) in found:
            raise InvalidInput(f"--day {int(number)} is given twice")
        found[int(number)] = day
    return tuple(sorted(found.items()))


def _cohort_days(
    cohort: CohortRow,
    target: Programme,
    added: tuple[tuple[int, date], ...],
    allow_holiday: bool,
) -> tuple[date, ...]:
    """Every date the cohort keeps on ``target``: its own, any kept for those on a version
    with more days, and those ``added`` for the days ``target`` has beyond them."""
    stored = list(cohort.stored_days)
    count = target.definition.day_count
    given = dict(added)
    for number in given:
        if number > count:
            raise InvalidInput(
                f"--day {number}: {target.version} has {count} teaching days, not {number}"
            )
        if number <= len(stored):
            raise InvalidInput(
                f"--day {number}: day {number} of cohort {cohort.code} is "
                f"{stored[number - 1].isoformat()}; move it with `lps cohort reschedule`"
            )
    missing = [n for n in range(len(stored) + 1, count + 1) if n not in given]
    if missing:
        raise InvalidInput(
            f"{target.version} has {count} teaching days and cohort {cohort.code} has "
            f"{len(stored)}; give the new ones their dates with "
            + " ".join(f"--day {n}=YYYY-MM-DD" for n in missing)
        )
    new = [given[n] for n in range(len(stored) + 1, count + 1)]
    days = stored + new
    for number, (earlier, later) in enumerate(itertools.pairwise(days), start=2):
        if later <= earlier:
            raise InvalidInput(
                f"day {number} ({later.isoformat()}) must come after day {number - 1} "
                f"({earlier.isoformat()})"
            )
    if new and not allow_holiday:
        closures = target.definition.closures | cohort.closed
        refused = holiday_refusals(new, closures)
        if refused:
            raise GuardFailed("migrate", refused)
    return tuple(days)


# -- what a version has room for ---------------------------------------------------------------


def _fact_reasons(facts: Facts, target: Programme) -> list[str]:
    version, has = target.version, target.definition.has
    reasons = []
    if not has("jti") and facts.jti_invited is not None:
        reasons.append(f"the JTI was sent on {facts.jti_invited}; {version} has no JTI")
    if not has("career_visit"):
        if facts.career_visit is not None:
            reasons.append(f"a career visit is recorded ({facts.career_visit}); {version} has none")
        elif facts.host is not None:
            reasons.append(f"a host is registered; {version} has no career visit")
    if not has("speech") and facts.speech is not None:
        reasons.append(f"a speech is recorded ({facts.speech}); {version} has no speech")
    if not has("closing_conversation") and (facts.closing_conversation or facts.closing_declined):
        reasons.append(f"the closing conversation is recorded; {version} has none")
    count = target.definition.day_count
    if len(facts.days) > count:
        reasons.append(f"{len(facts.days)} teaching days are registered; {version} has {count}")
    for name in facts.waivers:
        if name not in target.obligations:
            reasons.append(f"a waiver of {name} is recorded; {version} has no obligation {name}")
    return reasons


# The fact a state says is recorded; the state cannot be reached without it.
_STATE_FACTS = {
    "manager_conversation_held": ("manager_conversation", "the manager conversation"),
    "jti_invited": ("jti_invited", "the JTI invitation"),
    "jti_completed": ("jti_completed", "the JTI answer"),
    "career_visit_held": ("career_visit", "the career visit"),
    "speech_delivered": ("speech", "the speech"),
    "certified": ("certified", "the certificate"),
    "closing_conversation_held": ("closing_conversation", "the closing conversation"),
}


def _state_reasons(state: str, facts: Facts, target: Programme, plan: CohortPlan) -> list[str]:
    names = target.state_names
    reasons = []
    fact = _STATE_FACTS.get(state)
    if fact is not None and getattr(facts, fact[0]) is None:
        reasons.append(f"{state} needs {fact[1]} recorded, and it is not")
    days = len(facts.days)
    position = names.index(state)
    first_day = names.index("day_1")
    last_day = names.index(f"day_{target.definition.day_count}")
    if state.startswith("day_") and int(state[4:]) != days:
        reasons.append(f"{state} needs {state[4:]} teaching days registered; {days} are")
    elif position < first_day and days:
        reasons.append(f"{state} comes before day 1, but {days} teaching days are registered")
    elif position > last_day and days != target.definition.day_count:
        reasons.append(
            f"{state} comes after the last day, but {days} of "
            f"{target.definition.day_count} teaching days are registered"
        )
    if state in ("certified", "closing_conversation_held"):
        open_ones = [name for name, _ in outstanding(facts, plan)]
        if open_ones:
            reasons.append(f"{state} in {target.version} needs {', '.join(open_ones)} met")
    return reasons


def _new_moments(facts: Facts, plan: CohortPlan) -> dict[tuple[str, int], DueMoment]:
    moments = list(cohort_deadlines(plan))
    if facts.certified is not None:
        moments += certified_deadlines(facts.certified, plan)
    return {(m.rule, m.occurrence): m for m in moments}


def _deadline_changes(
    rows: list[Any], facts: Facts, plan: CohortPlan, target: Programme
) -> tuple[DeadlineChange, ...]:
    wanted = _new_moments(facts, plan)
    existing = {(r.rule, r.occurrence): r for r in rows}
    keeps_host_letter = target.definition.rule("host_letter") is not None
    changes = []
    for key, row in sorted(existing.items()):
        if row.status != "pending":
            continue  # sent, done, dropped or skipped: history, never redone
        if key in wanted:
            moment = wanted[key]
            if (moment.due_at, moment.expires_at) != (row.due_at, row.expires_at):
                changes.append(
                    DeadlineChange(
                        *key, "moved", row.due_at, moment.due_at, row.expires_at, moment.expires_at
                    )
                )
        elif not (key[0] == "host_letter" and keeps_host_letter):
            changes.append(DeadlineChange(*key, "removed", row.due_at, None, row.expires_at))
    for key, moment in sorted(wanted.items()):
        if key not in existing:
            changes.append(
                DeadlineChange(*key, "added", None, moment.due_at, None, moment.expires_at)
            )
    return tuple(changes)


def _unmoved(row: ParticipantRow, outcome: str, reason: str) -> ParticipantMove:
    """A participant the plan leaves in their state and on their version."""
    return ParticipantMove(
        row.id,
        row.email,
        outcome,
        (reason,),
        row.state,
        row.state,
        row.definition_version,
        row.definition_version,
        row.version,
    )


def _plan(
    conn: Connection,
    code: str,
    to_version: str,
    mapping: tuple[tuple[str, str], ...],
    added: tuple[tuple[int, date], ...] = (),
    allow_holiday: bool = False,
) -> tuple[MigrationPlan, CohortRow, list[ParticipantRow], dict[int, dict[Any, int]]]:
    cohort = cohort_row(conn, code)
    target = resolve(conn, to_version)
    stored = _cohort_days(cohort, target, added, allow_holiday)
    count = target.definition.day_count
    bad = [new for _, new in mapping if new not in target.state_names]
    if bad:
        raise InvalidInput(
            f"--map names {', '.join(bad)}, which {target.version} has no state for; "
            f"its states: {', '.join(target.state_names)}"
        )
    moved = replace(
        cohort, programme=target.version, days=stored[:count], later_days=stored[count:]
    )
    plan = moved.plan
    rows = [
        ParticipantRow.from_row(r)
        for r in conn.execute(
            select(PARTICIPANTS)
            .where(PARTICIPANTS.c.cohort_id == cohort.id)
            .order_by(PARTICIPANTS.c.id)
        )
    ]
    deadline_rows: dict[int, list[Any]] = {}
    for r in conn.execute(
        select(DEADLINES).where(
            DEADLINES.c.participant_id.in_(
                select(PARTICIPANTS.c.id).where(PARTICIPANTS.c.cohort_id == cohort.id)
            )
        )
    ):
        deadline_rows.setdefault(r.participant_id, []).append(r)
    mapped = dict(mapping)
    moves = []
    for row in rows:
        if row.state in FINAL_STATES:
            moves.append(_unmoved(row, "finished", f"{row.state}: left as they are"))
            continue
        if row.definition_version == target.version:
            moves.append(_unmoved(row, "moves", f"already on {target.version}: nothing to do"))
            continue
        state = mapped.get(row.state, row.state)
        reasons = []
        if state not in target.state_names:
            reasons.append(
                f"state {row.state} has no place in {target.version}; "
                f"map it with --map {row.state}=STATE"
            )
        else:
            reasons += _state_reasons(state, row.facts, target, plan)
        reasons += _fact_reasons(row.facts, target)
        changes = (
            ()
            if reasons
            else _deadline_changes(deadline_rows.get(row.id, []), row.facts, plan, target)
        )
        moves.append(
            ParticipantMove(
                row.id,
                row.email,
                "blocked" if reasons else "moves",
                tuple(reasons),
                row.state,
                state,
                row.definition_version,
                target.version,
                row.version,
                changes,
            )
        )
    digest = hashlib.sha256(
        json.dumps(
            {
                "cohort": cohort.code,
                "to": target.version,
                "map": mapping,
                "days": [day.isoformat() for day in stored],
                "moves": [[m.row_version, m.as_json()] for m in moves],
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()[:16]
    result = MigrationPlan(
        digest,
        cohort.code,
        cohort.programme,
        target.version,
        mapping,
        tuple(moves),
        cohort.days,
        moved.days,
    )
    ids = {
        pid: {(r.rule, r.occurrence): r.id for r in found} for pid, found in deadline_rows.items()
    }
    return result, moved, rows, ids


def dry_run(
    db: Database,
    code: str,
    to_version: str,
    mapping: tuple[tuple[str, str], ...],
    now: datetime,
    actor: str,
    added: tuple[tuple[int, date], ...] = (),
    allow_holiday: bool = False,
) -> MigrationPlan:
    """What moving cohort ``code`` to ``to_version`` would do (``added``: the dates of the
    days the version has beyond the cohort's); the plan is kept, so that ``apply_plan`` can
    carry out exactly it. Nothing about the participants is written."""
    with db.transaction() as conn:
        plan, _, _, _ = _plan(conn, code, to_version, mapping, added, allow_holiday)
        known = conn.execute(
            select(MIGRATION_PLANS.c.id).where(MIGRATION_PLANS.c.id == plan.plan)
        ).first()
        if known is None:
            conn.execute(
                MIGRATION_PLANS.insert().values(
                    id=plan.plan,
                    cohort=plan.cohort,
                    to_version=plan.to_version,
                    mapping=[list(pair) for pair in mapping],
                    days={str(number): day.isoformat() for number, day in added},
                    participants=[[m.id, m.row_version] for m in plan.participants],
                    created_at=now,
                    created_by=actor,
                )
            )
    return plan


def apply_plan(db: Database, plan_id: str, now: datetime, actor: str) -> Moved:
    """Carry out the dry run ``plan_id``: each participant who moves in one transaction with a
    ``migrate`` audit entry; the blocked stay on their version, and are named in the result.
    Refused, naming who, if anyone changed since the dry run."""
    with db.reading() as conn:
        stored = conn.execute(
            select(MIGRATION_PLANS).where(MIGRATION_PLANS.c.id == plan_id.strip())
        ).first()
        if stored is None:
            raise NotFound(
                f"no migration plan {plan_id}; make one with `lps programme migrate --dry-run`"
            )
        if stored.applied_at is not None:
            raise MigrationRefused(
                [
                    f"plan {stored.id} was applied on {_local(stored.applied_at)} by "
                    f"{stored.applied_by}; make a new dry run"
                ]
            )
        mapping = tuple((old, new) for old, new in stored.mapping)
        added = tuple(
            (int(number), date.fromisoformat(day)) for number, day in sorted(stored.days.items())
        )
        plan, moved_cohort, rows, ids = _plan(
            conn, stored.cohort, stored.to_version, mapping, added, allow_holiday=True
        )
    then = {pid: version for pid, version in stored.participants}
    by_id = {row.id: row for row in rows}
    changed = [
        f"#{row.id} {row.email} (row version {then.get(row.id)} → {row.version})"
        if row.id in then
        else f"#{row.id} {row.email} (enrolled since)"
        for row in rows
        if then.get(row.id) != row.version
    ] + [f"#{pid} (gone)" for pid in then if pid not in by_id]
    if changed:
        raise MigrationRefused(
            [
                f"plan {plan_id}: participants changed since the dry run: {', '.join(changed)}; "
                "make a new dry run"
            ]
        )
    if plan.plan != stored.id:
        raise MigrationRefused(
            [
                f"plan {plan_id} no longer holds (the programme or the cohort changed); "
                "make a new dry run"
            ]
        )
    # The cohort moves first, so that whoever enrols from now on starts on the new version
    # while the others move one by one.
    with db.transaction() as conn:
        conn.execute(
            update(COHORTS)
            .where(COHORTS.c.code == plan.cohort)
            .values(
                programme=plan.to_version,
                **{f"day_{n}": day for n, day in enumerate(moved_cohort.stored_days, start=1)},
            )
        )
        conn.execute(
            update(MIGRATION_PLANS)
            .where(MIGRATION_PLANS.c.id == plan.plan)
            .values(applied_at=now, applied_by=actor)
        )
    moved = 0
    for move in plan.participants:
        if move.outcome != "moves" or move.from_version == move.to_version:
            continue
        with db.transaction() as conn:
            _move_one(
                conn, by_id[move.id], moved_cohort, move, plan, ids.get(move.id, {}), now, actor
            )
        moved += 1
    finished = sum(1 for m in plan.participants if m.outcome == "finished")
    return Moved(plan.plan, plan.cohort, plan.to_version, moved, finished, tuple(plan.blocked))


def _move_one(
    conn: Connection,
    row: ParticipantRow,
    cohort: CohortRow,
    move: ParticipantMove,
    plan: MigrationPlan,
    ids: dict[Any, int],
    now: datetime,
    actor: str,
) -> None:
    step = Step(replace(row, definition_version=move.to_version), cohort, now, actor)
    step.state = move.to_state
    dropped = [c for c in move.deadlines if c.change == "removed"]
    step.record(
        MIGRATE,
        move.from_state,
        move.to_state,
        data={
            "from_version": move.from_version,
            "to_version": move.to_version,
            "plan": plan.plan,
            "deadlines_dropped": [c.rule for c in dropped],
        },
    )
    for change in dropped:
        step.resolved_deadlines.append(
            (
                ids[change.rule, change.occurrence],
                "dropped",
                f"dropped by migration {plan.plan}: {move.to_version} has no such deadline",
            )
        )
    step.schedule(
        [
            DueMoment(c.rule, c.occurrence, c.new, c.new_expires)
            for c in move.deadlines
            if c.change == "added" and c.new is not None
        ],
        skip_passed=True,
        passed_reason=f"its moment had passed when migration {plan.plan} added it",
    )
    write(conn, [step])
    for change in move.deadlines:
        if change.change == "moved":
            conn.execute(
                update(DEADLINES)
                .where(DEADLINES.c.id == ids[change.rule, change.occurrence])
                .values(due_at=change.new, expires_at=change.new_expires)
            )
    conn.execute(
        update(PARTICIPANTS)
        .where(PARTICIPANTS.c.id == row.id)
        .values(definition_version=move.to_version)
    )
