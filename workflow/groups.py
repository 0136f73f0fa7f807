"""Network groups (netværksgrupper): a cohort's active participants in diverse groups of 4-6.

Diversity is lexicographic: first as few pairs in a group as possible share a municipality,
then as few as possible share a workplace (the same workplace in the same municipality). The
arrangement starts from a round-robin deal of the participants ordered by municipality and
workplace, which already spreads every municipality as evenly as the group sizes allow, and
then swaps members between groups while that lowers the cost. ``random.Random(seed)`` breaks
ties, so a seed always gives the same groups.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update

from states.programme import FINAL_STATES
from workflow import messages
from workflow.errors import ConcurrentChange, InvalidInput
from workflow.kernel import Runtime
from workflow.queries import cohort_row
from workflow.records import PARTICIPANTS, CohortRow, ParticipantRow, Step, write_steps

MIN_SIZE = 4
MAX_SIZE = 6
DEFAULT_SIZE = 5
DEFAULT_SEED = 0


def _key(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


@dataclass(frozen=True)
class Member:
    """A participant as the grouping sees them."""

    id: int
    name: str = ""
    email: str = ""
    municipality: str = ""
    workplace: str | None = None

    @property
    def municipality_key(self) -> str:
        return _key(self.municipality)

    @property
    def workplace_key(self) -> tuple[str, str] | None:
        """A workplace is shared only within one municipality; no workplace shares nothing."""
        workplace = _key(self.workplace)
        return (self.municipality_key, workplace) if workplace else None


def group_sizes(count: int, target: int = DEFAULT_SIZE) -> list[int]:
    """Balanced group sizes for ``count`` participants, largest first.

    Every size is 4-6 whenever that is possible. Fewer than four participants make one group;
    seven cannot be split into groups of 4-6 and make one group of seven rather than leaving
    three people in a group of their own.
    """
    if count <= 0:
        return []
    if count < 2 * MIN_SIZE and not MIN_SIZE <= count <= MAX_SIZE:
        return [count]
    lowest = math.ceil(count / MAX_SIZE)
    highest = count // MIN_SIZE
    groups = min(max(int(count / target + 0.5), lowest), highest)
    small, extra = divmod(count, groups)
    return [small + 1] * extra + [small] * (groups - extra)


def shared_pairs(members: Iterable[Member]) -> tuple[int, int]:
    """(pairs sharing a municipality, pairs sharing a workplace) within one group."""
    members = list(members)
    municipalities = Counter(m.municipality_key for m in members)
    workplaces = Counter(m.workplace_key for m in members if m.workplace_key is not None)
    return _pairs(municipalities), _pairs(workplaces)


def diversity_cost(groups: Iterable[Iterable[Member]]) -> tuple[int, int]:
    """The summed :func:`shared_pairs` of all groups: lower is more diverse."""
    municipality = workplace = 0
    for group in groups:
        m, w = shared_pairs(group)
        municipality += m
        workplace += w
    return municipality, workplace


def _pairs(counts: Counter[Any]) -> int:
    return sum(c * (c - 1) // 2 for c in counts.values())


def arrange(
    members: Sequence[Member],
    *,
    size: int = DEFAULT_SIZE,
    seed: int = DEFAULT_SEED,
    existing: Sequence[Sequence[Member]] = (),
) -> list[list[Member]]:
    """Place ``members`` in groups; the result is the same for the same input and seed.

    Without ``existing`` groups, all members are dealt into :func:`group_sizes` groups. With
    them, the existing groups keep their members and ``members`` are newcomers: they form new
    groups of their own when there are enough of them, and otherwise join existing groups with
    room (those that have fallen below four first, none beyond six), whichever leaves the
    fewest groups outside 4-6. The result lists the existing groups first, in their order,
    then the new ones.
    """
    _check_size(size)
    rng = random.Random(seed)
    pool = _dealing_order(sorted(members, key=lambda m: m.id), rng)
    groups = [sorted(group, key=lambda m: m.id) for group in existing]
    kept = len(groups)
    if not groups:
        groups = _deal(pool, group_sizes(len(pool), size))
    else:
        joining = len(pool) - _members_of_new_groups([len(g) for g in groups], len(pool), size)
        for member in pool[:joining]:
            short = [i for i, g in enumerate(groups) if len(g) < MIN_SIZE]
            with_room = [i for i, g in enumerate(groups) if len(g) < MAX_SIZE]
            _insert_best(groups, member, short or with_room, rng)
        rest = pool[joining:]
        groups += _deal(rest, group_sizes(len(rest), size))
    _improve(groups, {m.id for m in members}, rng)
    for index in range(kept, len(groups)):
        groups[index].sort(key=lambda m: m.id)
    return groups


def _check_size(size: int) -> None:
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise InvalidInput(f"--size must be between {MIN_SIZE} and {MAX_SIZE}, not {size}")


def _dealing_order(members: list[Member], rng: random.Random) -> list[Member]:
    """Members in blocks by municipality, and by workplace within one: dealt round-robin, each
    block spreads over the groups as evenly as possible."""
    by_municipality: dict[str, dict[str, list[Member]]] = {}
    for member in members:
        workplace = member.workplace_key[1] if member.workplace_key else ""
        by_municipality.setdefault(member.municipality_key, {}).setdefault(workplace, []).append(
            member
        )
    order: list[Member] = []
    for municipality in _shuffled(by_municipality, rng):
        workplaces = by_municipality[municipality]
        for workplace in _shuffled(workplaces, rng):
            block = list(workplaces[workplace])
            rng.shuffle(block)
            order += block
    return order


def _shuffled(keys: Iterable[str], rng: random.Random) -> list[str]:
    ordered = sorted(keys)
    rng.shuffle(ordered)
    return ordered


def _deal(members: list[Member], sizes: list[int]) -> list[list[Member]]:
    groups: list[list[Member]] = [[] for _ in sizes]
    index = 0
    for member in members:
        while len(groups[index % len(groups)]) >= sizes[index % len(groups)]:
            index += 1
        groups[index % len(groups)].append(member)
        index += 1
    return groups


def _members_of_new_groups(sizes: list[int], count: int, target: int) -> int:
    """How many of ``count`` newcomers form new groups; the others join the existing groups of
    ``sizes``, those below four first, none beyond six.

    The plan leaves the fewest groups outside 4-6, then the smallest shortfall or excess, and
    then puts as many newcomers as possible in new groups of their own.
    """
    room = sum(max(0, MAX_SIZE - size) for size in sizes)
    best: tuple[int, int, int] | None = None
    chosen = count
    for new in range(max(0, count - room), count + 1):
        joined = sorted(sizes)
        left = count - new
        for index, size in enumerate(joined):
            topped = min(max(size, MIN_SIZE), size + left)
            left -= topped - size
            joined[index] = topped
        for index, size in enumerate(joined):
            added = min(MAX_SIZE - size, left) if size < MAX_SIZE else 0
            left -= added
            joined[index] = size + added
        result = joined + group_sizes(new, target)
        off = [s for s in result if not MIN_SIZE <= s <= MAX_SIZE]
        gap = sum(MIN_SIZE - s if s < MIN_SIZE else s - MAX_SIZE for s in off)
        key = (len(off), gap, -new)
        if best is None or key < best:
            best, chosen = key, new
    return chosen


def _insert_cost(group: list[Member], member: Member, weight: int) -> int:
    municipality = sum(1 for m in group if m.municipality_key == member.municipality_key)
    workplace = sum(
        1 for m in group if member.workplace_key and m.workplace_key == member.workplace_key
    )
    return municipality * weight + workplace


def _insert_best(
    groups: list[list[Member]], member: Member, candidates: list[int], rng: random.Random
) -> None:
    weight = _weight(groups, 1)
    ranked = sorted(
        candidates,
        key=lambda i: (_insert_cost(groups[i], member, weight), len(groups[i]), rng.random()),
    )
    groups[ranked[0]].append(member)


def _weight(groups: list[list[Member]], extra: int) -> int:
    # One shared municipality must outweigh any number of shared workplaces.
    total = sum(len(g) for g in groups) + extra
    return total * total + 1


def _swap_delta(a: Counter[Hashable], b: Counter[Hashable], key_a: Any, key_b: Any) -> int:
    """Change in shared pairs when a member with ``key_a`` leaves group A for group B and one
    with ``key_b`` goes the other way."""
    if key_a == key_b:
        return 0
    delta = 0
    if key_a is not None:
        delta += b[key_a] - (a[key_a] - 1)
    if key_b is not None:
        delta += a[key_b] - (b[key_b] - 1)
    return delta


def _improve(groups: list[list[Member]], movable: set[int], rng: random.Random) -> None:
    """Swap movable members between groups while a swap makes the groups more diverse."""
    weight = _weight(groups, 0)
    municipalities: list[Counter[Hashable]] = [
        Counter(m.municipality_key for m in g) for g in groups
    ]
    workplaces: list[Counter[Hashable]] = [
        Counter(m.workplace_key for m in g if m.workplace_key is not None) for g in groups
    ]
    slots = [
        (g, i) for g, group in enumerate(groups) for i, m in enumerate(group) if m.id in movable
    ]
    pairs = [(s, t) for n, s in enumerate(slots) for t in slots[n + 1 :] if s[0] != t[0]]
    for _ in range(100):
        rng.shuffle(pairs)
        improved = False
        for (ga, ia), (gb, ib) in pairs:
            a, b = groups[ga][ia], groups[gb][ib]
            delta = weight * _swap_delta(
                municipalities[ga], municipalities[gb], a.municipality_key, b.municipality_key
            ) + _swap_delta(workplaces[ga], workplaces[gb], a.workplace_key, b.workplace_key)
            if delta >= 0:
                continue
            groups[ga][ia], groups[gb][ib] = b, a
            for counters, key_a, key_b in (
                (municipalities, a.municipality_key, b.municipality_key),
                (workplaces, a.workplace_key, b.workplace_key),
            ):
                if key_a is not None:
                    counters[ga][key_a] -= 1
                    counters[gb][key_a] += 1
                if key_b is not None:
                    counters[gb][key_b] -= 1
                    counters[ga][key_b] += 1
            improved = True
        if not improved:
            return


# -- Groups of a cohort in the database -------------------------------------------------------


@dataclass(frozen=True)
class GroupMember:
    id: int
    name: str
    email: str
    municipality: str
    workplace: str | None
    new: bool = False

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class NetworkGroup:
    number: int
    members: tuple[GroupMember, ...]

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def shared(self) -> tuple[int, int]:
        """(pairs sharing a municipality, pairs sharing a workplace)."""
        return shared_pairs(_member(m) for m in self.members)

    def as_json(self) -> dict[str, Any]:
        municipality, workplace = self.shared
        return {
            "number": self.number,
            "size": self.size,
            "shared_municipality_pairs": municipality,
            "shared_workplace_pairs": workplace,
            "members": [m.as_json() for m in self.members],
        }


@dataclass(frozen=True)
class Grouping:
    """A cohort's network groups: saved, or a preview of what saving would write."""

    cohort: str
    groups: tuple[NetworkGroup, ...]
    unplaced: tuple[GroupMember, ...] = ()
    size: int = DEFAULT_SIZE
    seed: int | None = None
    saved: bool = False
    warnings: tuple[str, ...] = ()
    announcements: int = 0

    @property
    def placed(self) -> list[GroupMember]:
        """Members who get a group now (all of them on a first formation)."""
        return [m for g in self.groups for m in g.members if m.new]

    @property
    def shared(self) -> tuple[int, int]:
        return diversity_cost([_member(m) for m in g.members] for g in self.groups)

    def as_json(self) -> dict[str, Any]:
        municipality, workplace = self.shared
        return {
            "cohort": self.cohort,
            "size": self.size,
            "seed": self.seed,
            "saved": self.saved,
            "placed": [m.id for m in self.placed],
            "shared_municipality_pairs": municipality,
            "shared_workplace_pairs": workplace,
            "groups": [g.as_json() for g in self.groups],
            "unplaced": [m.as_json() for m in self.unplaced],
            "warnings": list(self.warnings),
            "announcements": self.announcements,
        }


def _member(m: GroupMember | ParticipantRow) -> Member:
    return Member(m.id, m.name, m.email, m.municipality, m.workplace)


def _group_member(row: ParticipantRow, new: bool) -> GroupMember:
    return GroupMember(row.id, row.name, row.email, row.municipality, row.workplace, new)


def _load(runtime: Runtime, code: str) -> tuple[CohortRow, list[ParticipantRow], int]:
    """The cohort, its active participants, and the highest group number ever given in it."""
    with runtime.db.reading() as conn:
        cohort = cohort_row(conn, code)
        rows = [
            ParticipantRow.from_row(r)
            for r in conn.execute(
                select(PARTICIPANTS)
                .where(PARTICIPANTS.c.cohort_id == cohort.id)
                .order_by(PARTICIPANTS.c.id)
            )
        ]
    highest = max((r.network_group for r in rows if r.network_group is not None), default=0)
    return cohort, [r for r in rows if r.state not in FINAL_STATES], highest


def _existing(active: list[ParticipantRow]) -> dict[int, list[ParticipantRow]]:
    groups: dict[int, list[ParticipantRow]] = {}
    for row in active:
        if row.network_group is not None:
            groups.setdefault(row.network_group, []).append(row)
    return dict(sorted(groups.items()))


def _warnings(groups: Sequence[NetworkGroup], active: int) -> list[str]:
    warnings = []
    for group in groups:
        if group.size < MIN_SIZE and active >= MIN_SIZE:
            warnings.append(
                f"group {group.number} has {group.size} active member(s), fewer than {MIN_SIZE}"
            )
        elif group.size > MAX_SIZE:
            warnings.append(
                f"group {group.number} has {group.size} members: {active} participants cannot "
                f"be split into groups of {MIN_SIZE}-{MAX_SIZE}"
            )
    return warnings


def cohort_groups(runtime: Runtime, code: str) -> Grouping:
    """The saved network groups of a cohort's active participants, and who has none."""
    cohort, active, _ = _load(runtime, code)
    groups = tuple(
        NetworkGroup(number, tuple(_group_member(r, False) for r in rows))
        for number, rows in _existing(active).items()
    )
    unplaced = tuple(_group_member(r, False) for r in active if r.network_group is None)
    return Grouping(
        cohort.code,
        groups,
        unplaced,
        saved=True,
        warnings=tuple(_warnings(groups, len(active))),
    )


def form_groups(
    runtime: Runtime,
    code: str,
    *,
    size: int = DEFAULT_SIZE,
    seed: int = DEFAULT_SEED,
    save: bool = False,
) -> Grouping:
    """Form the network groups of cohort ``code``: a preview, or with ``save`` written.

    Participants who already have a group keep it; only those without one are placed. Saving
    sets each placed participant's group, appends a ``form_group`` audit entry and queues the
    ``group_announcement`` with the other members, all in one transaction; a participant
    changed by someone else since it was read refuses the whole save.
    """
    _check_size(size)
    cohort, active, highest = _load(runtime, code)
    if not active:
        raise InvalidInput(f"cohort {cohort.code} has no active participants to place in groups")
    existing = _existing(active)
    newcomers = [r for r in active if r.network_group is None]
    arranged = arrange(
        [_member(r) for r in newcomers],
        size=size,
        seed=seed,
        existing=[[_member(r) for r in rows] for rows in existing.values()],
    )
    added = len(arranged) - len(existing)
    numbers = [*existing, *range(highest + 1, highest + 1 + added)]
    by_id = {r.id: r for r in active}
    fresh = {r.id for r in newcomers}
    groups = tuple(
        NetworkGroup(
            number,
            tuple(
                _group_member(by_id[m.id], m.id in fresh) for m in sorted(group, key=lambda m: m.id)
            ),
        )
        for number, group in zip(numbers, arranged, strict=True)
    )
    grouping = Grouping(
        cohort.code,
        groups,
        size=size,
        seed=seed,
        saved=not fresh,
        warnings=tuple(_warnings(groups, len(active))),
    )
    if not save or not fresh:
        return grouping
    announcements = _save(runtime, cohort, by_id, groups)
    return Grouping(
        grouping.cohort,
        grouping.groups,
        size=size,
        seed=seed,
        saved=True,
        warnings=grouping.warnings,
        announcements=announcements,
    )


def _save(
    runtime: Runtime,
    cohort: CohortRow,
    rows: dict[int, ParticipantRow],
    groups: Sequence[NetworkGroup],
) -> int:
    now = runtime.now()
    steps: list[Step] = []
    assignments: list[dict[str, int]] = []
    for group in groups:
        for member in group.members:
            if not member.new:
                continue
            row = rows[member.id]
            step = Step(row, cohort, now, runtime.actor, channel=runtime.channel)
            others = [
                {"name": m.name, "municipality": m.municipality, "workplace": m.workplace or ""}
                for m in sorted(group.members, key=lambda m: m.name.casefold())
                if m.id != member.id
            ]
            roles = messages.queue(
                step,
                "group_announcement",
                ("participant",),
                occurrence=group.number,
                extras={"group": {"number": group.number, "members": others}},
                settings=runtime.settings,
            )
            data: dict[str, Any] = {"group": group.number}
            if roles:
                data["notified"] = ["group_announcement"]
            step.record("form_group", row.state, row.state, data=data)
            steps.append(step)
            assignments.append({"b_id": row.id, "b_group": group.number})
    with runtime.db.transaction() as conn:
        conflicts = write_steps(conn, steps)
        if conflicts:
            raise ConcurrentChange(
                f"participant #{conflicts[0].row.id} was changed by someone else while the "
                "groups were formed; nothing was saved; try again"
            )
        conn.execute(
            update(PARTICIPANTS)
            .where(PARTICIPANTS.c.id == bindparam("b_id"))
            .values(network_group=bindparam("b_group")),
            assignments,
        )
    return sum(len(step.outbox) for step in steps)


__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_SIZE",
    "MAX_SIZE",
    "MIN_SIZE",
    "GroupMember",
    "Grouping",
    "Member",
    "NetworkGroup",
    "arrange",
    "cohort_groups",
    "diversity_cost",
    "form_groups",
    "group_sizes",
    "shared_pairs",
]
