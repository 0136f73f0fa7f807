"""Network groups: sizes and diversity over many random cohorts, saving, announcements and
re-forming after a withdrawal."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from conftest import START, Cli, enrol, make_cohort
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smtp_server import SmtpSink
from sqlalchemy import select

from cli.main import COMMANDS
from notifications.delivery import channel_from_env
from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import StepRequest, Workflow
from workflow.errors import ConcurrentChange
from workflow.groups import (
    Member,
    arrange,
    diversity_cost,
    group_sizes,
)
from workflow.records import AUDIT, OUTBOX
from workflow.verify import verify_audit

MUNICIPALITIES = ["Odense", "Vejle", "Aarhus", "Kolding", "Svendborg", "Nyborg", "Faaborg", "Ærø"]
WORKPLACES = [None, "Jobcenter", "Skole", "Plejecenter", "Rådhus", "Bibliotek"]


@pytest.fixture(autouse=True)
def groups_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """``lps groups`` as cli/main.py registers it."""
    monkeypatch.setitem(
        COMMANDS, "groups", ("cli.groups", "groups", "Form and show a cohort's network groups.")
    )


@st.composite
def cohorts(draw: st.DrawFn, min_size: int = 4, max_size: int = 40) -> list[Member]:
    count = draw(st.integers(min_size, max_size))
    municipalities = MUNICIPALITIES[: draw(st.integers(1, len(MUNICIPALITIES)))]
    workplaces = WORKPLACES[: draw(st.integers(1, len(WORKPLACES)))]
    return [
        Member(
            id=index + 1,
            name=f"Deltager {index + 1}",
            municipality=draw(st.sampled_from(municipalities)),
            workplace=draw(st.sampled_from(workplaces)),
        )
        for index in range(count)
    ]


def round_robin(members: list[Member], groups: int) -> list[list[Member]]:
    """The naive baseline: deal the participants in enrolment order."""
    return [members[start::groups] for start in range(groups)]


def fewest_municipality_pairs(members: list[Member], groups: int) -> int:
    """Every municipality spread as evenly as possible over the groups."""
    total = 0
    for count in Counter(m.municipality_key for m in members).values():
        base, extra = divmod(count, groups)
        total += extra * (base + 1) * base // 2 + (groups - extra) * base * (base - 1) // 2
    return total


def ids(groups: list[list[Member]]) -> list[list[int]]:
    return [[m.id for m in group] for group in groups]


# -- the arrangement, over many random cohorts ------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(members=cohorts(), size=st.integers(4, 6), seed=st.integers(0, 2**32))
def test_every_participant_is_in_exactly_one_group_of_four_to_six(
    members: list[Member], size: int, seed: int
) -> None:
    groups = arrange(members, size=size, seed=seed)
    placed = sorted(m.id for group in groups for m in group)
    assert placed == [m.id for m in members]
    sizes = sorted(len(group) for group in groups)
    if len(members) == 7:
        assert sizes == [7]
    else:
        assert all(4 <= s <= 6 for s in sizes), sizes
    assert max(sizes) - min(sizes) <= 1
    assert sizes == sorted(group_sizes(len(members), size))


@settings(max_examples=300, deadline=None)
@given(members=cohorts(), size=st.integers(4, 6), seed=st.integers(0, 2**32))
def test_groups_are_at_least_as_diverse_as_a_round_robin(
    members: list[Member], size: int, seed: int
) -> None:
    groups = arrange(members, size=size, seed=seed)
    baseline = round_robin(members, len(groups))
    assert diversity_cost(groups) <= diversity_cost(baseline)
    assert diversity_cost(groups)[0] == fewest_municipality_pairs(members, len(groups))


@settings(max_examples=100, deadline=None)
@given(members=cohorts(), seed=st.integers(0, 2**32), shuffle=st.randoms())
def test_the_same_seed_gives_the_same_groups_whatever_the_input_order(
    members: list[Member], seed: int, shuffle: random.Random
) -> None:
    first = arrange(members, seed=seed)
    shuffled = list(members)
    shuffle.shuffle(shuffled)
    assert ids(arrange(shuffled, seed=seed)) == ids(first)
    assert ids(arrange(members, seed=seed)) == ids(first)


def test_different_seeds_can_give_different_groups() -> None:
    members = [Member(i, municipality=f"K{i % 6}") for i in range(1, 31)]
    results = {str(ids(arrange(members, seed=seed))) for seed in range(5)}
    assert len(results) > 1


@pytest.mark.parametrize("count", [1, 2, 3])
def test_fewer_than_four_participants_form_one_group(count: int) -> None:
    members = [Member(i, municipality="Odense") for i in range(1, count + 1)]
    assert ids(arrange(members)) == [list(range(1, count + 1))]


@pytest.mark.parametrize(
    ("count", "target", "sizes"),
    [
        (4, 5, [4]),
        (6, 4, [6]),
        (7, 5, [7]),
        (8, 5, [4, 4]),
        (9, 6, [5, 4]),
        (12, 4, [4, 4, 4]),
        (12, 6, [6, 6]),
        (13, 5, [5, 4, 4]),
        (40, 5, [5] * 8),
        (40, 6, [6, 6, 6, 6, 6, 5, 5]),
    ],
)
def test_group_sizes(count: int, target: int, sizes: list[int]) -> None:
    assert group_sizes(count, target) == sizes


def test_two_municipalities_with_two_workplaces_each_mix_completely() -> None:
    members = [
        Member(1, municipality="Odense", workplace="Jobcenter"),
        Member(2, municipality="Odense", workplace="Jobcenter"),
        Member(3, municipality="Odense", workplace="Skole"),
        Member(4, municipality="Odense", workplace="Skole"),
        Member(5, municipality="Vejle", workplace="Jobcenter"),
        Member(6, municipality="Vejle", workplace="Jobcenter"),
        Member(7, municipality="Vejle", workplace="Skole"),
        Member(8, municipality="Vejle", workplace="Skole"),
    ]
    groups = arrange(members, seed=3)
    for group in groups:
        assert Counter(m.municipality for m in group) == {"Odense": 2, "Vejle": 2}
    # Jobcenter in Odense and Jobcenter in Vejle are different workplaces.
    assert diversity_cost(groups) == (4, 0)


def test_municipalities_match_regardless_of_case_and_spacing() -> None:
    members = [
        Member(i, municipality=name)
        for i, name in enumerate(
            ["Odense", " odense", "ODENSE ", "Vejle", "vejle", "Aarhus", "Kolding", "Ærø"], start=1
        )
    ]
    assert diversity_cost([members]) == (3 + 1, 0)


@st.composite
def reformations(draw: st.DrawFn) -> tuple[list[list[Member]], list[Member], int]:
    members = draw(cohorts(min_size=4, max_size=36))
    groups = arrange(members, seed=draw(st.integers(0, 1000)))
    withdrawn = set(draw(st.lists(st.sampled_from([m.id for m in members]), max_size=6)))
    existing = [[m for m in g if m.id not in withdrawn] for g in groups]
    existing = [g for g in existing if g]
    newcomers = draw(cohorts(min_size=0, max_size=12))
    offset = len(members)
    newcomers = [
        Member(m.id + offset, m.name, m.email, m.municipality, m.workplace) for m in newcomers
    ]
    return existing, newcomers, draw(st.integers(0, 1000))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=reformations(), size=st.integers(4, 6))
def test_reforming_keeps_existing_groups_and_places_only_newcomers(
    case: tuple[list[list[Member]], list[Member], int], size: int
) -> None:
    existing, newcomers, seed = case
    groups = arrange(newcomers, size=size, seed=seed, existing=existing)
    for before, after in zip(existing, groups, strict=False):
        assert {m.id for m in before} <= {m.id for m in after}
        added = len(after) - len(before)
        assert added == 0 or len(after) <= 6
    placed = [m.id for g in groups for m in g]
    assert sorted(placed) == sorted([m.id for g in existing for m in g] + [m.id for m in newcomers])
    new_groups = groups[len(existing) :]
    room = sum(6 - len(g) for g in existing)
    if len(newcomers) <= room:
        assert all(len(g) >= 4 for g in new_groups), "a small new group though others had room"
    if len(newcomers) >= 4 and len(newcomers) != 7 and all(len(g) >= 4 for g in existing):
        assert [len(g) for g in new_groups] == group_sizes(len(newcomers), size)
        assert [len(g) for g in groups[: len(existing)]] == [len(g) for g in existing]
    if any(len(g) < 4 for g in groups[: len(existing)]):
        assert not any(len(a) > len(b) >= 4 for a, b in zip(groups, existing, strict=False)), (
            "a newcomer joined a full-enough group while another lacked members"
        )
    assert ids(arrange(newcomers, size=size, seed=seed, existing=existing)) == ids(groups)


def test_newcomers_fill_a_group_that_lost_members_before_forming_a_new_one() -> None:
    existing = [
        [
            Member(1, municipality="Odense"),
            Member(2, municipality="Vejle"),
            Member(3, municipality="Aarhus"),
        ],
        [
            Member(4, municipality="Odense"),
            Member(5, municipality="Vejle"),
            Member(6, municipality="Aarhus"),
            Member(7, municipality="Kolding"),
        ],
    ]
    newcomers = [Member(8, municipality="Kolding"), Member(9, municipality="Nyborg")]
    groups = arrange(newcomers, seed=1, existing=existing)
    assert len(groups) == 2
    assert [m.id for m in groups[0]][:3] == [1, 2, 3]
    assert len(groups[0]) >= 4
    # Kolding is already in group 2: the Kolding newcomer goes to group 1.
    assert 8 in {m.id for m in groups[0]}


def test_four_newcomers_form_a_new_group() -> None:
    existing = [[Member(i, municipality=f"K{i}") for i in range(1, 6)] for _ in range(1)]
    newcomers = [Member(i, municipality=f"K{i}") for i in range(10, 14)]
    groups = arrange(newcomers, seed=0, existing=existing)
    assert ids(groups) == [[1, 2, 3, 4, 5], [10, 11, 12, 13]]


# -- in the database --------------------------------------------------------------------------


def enrol_many(wf: Workflow, count: int, seed: int = 7) -> list[int]:
    rng = random.Random(seed)
    return [
        enrol(
            wf,
            email=f"deltager{n}@example.dk",
            name=f"Deltager {n} Ærø",
            municipality=rng.choice(MUNICIPALITIES[:4]),
            workplace=rng.choice(WORKPLACES),
        )
        for n in range(1, count + 1)
    ]


def announcement_rows(wf: Workflow) -> list[dict[str, object]]:
    with wf.db.reading() as conn:
        rows = conn.execute(
            select(OUTBOX).where(OUTBOX.c.rule == "group_announcement").order_by(OUTBOX.c.id)
        ).all()
    return [dict(r._mapping) for r in rows]


def form_group_entries(wf: Workflow) -> list[dict[str, object]]:
    with wf.db.reading() as conn:
        rows = conn.execute(select(AUDIT).where(AUDIT.c.event == "form_group")).all()
    return [dict(r._mapping) for r in rows]


def test_a_preview_writes_nothing(wf: Workflow) -> None:
    make_cohort(wf)
    enrol_many(wf, 10)
    preview = wf.form_groups("H1", seed=5)
    assert not preview.saved
    assert sorted(len(g.members) for g in preview.groups) == [5, 5]
    assert all(p.network_group is None for p in wf.participants(cohort="H1"))
    assert announcement_rows(wf) == []
    assert form_group_entries(wf) == []
    assert wf.groups("H1").groups == ()


def test_saving_writes_groups_audit_and_announcements(wf: Workflow) -> None:
    make_cohort(wf)
    people = enrol_many(wf, 13)
    preview = wf.form_groups("H1", size=4, seed=11)
    saved = wf.form_groups("H1", size=4, seed=11, save=True)
    assert saved.saved
    assert [[m.id for m in g.members] for g in saved.groups] == [
        [m.id for m in g.members] for g in preview.groups
    ]
    assert [g.number for g in saved.groups] == [1, 2, 3]
    assert saved.announcements == 13

    group_of = {p.id: p.network_group for p in wf.participants(cohort="H1")}
    assert set(group_of) == set(people)
    for group in saved.groups:
        for member in group.members:
            assert group_of[member.id] == group.number

    entries = form_group_entries(wf)
    assert sorted(e["participant_id"] for e in entries) == sorted(people)
    assert all(e["data"]["group"] == group_of[e["participant_id"]] for e in entries)
    assert all(e["from_state"] == e["to_state"] == "enrolled" for e in entries)
    assert verify_audit(wf.db).ok

    mails = announcement_rows(wf)
    assert sorted(m["participant_id"] for m in mails) == sorted(people)
    names = {p.id: p.name for p in wf.participants(cohort="H1")}
    for mail in mails:
        pid = mail["participant_id"]
        assert mail["occurrence"] == str(group_of[pid])
        assert mail["subject"].startswith(f"Du er i netværksgruppe {group_of[pid]}")
        others = [n for i, n in names.items() if group_of[i] == group_of[pid] and i != pid]
        listed = [line for line in mail["body_text"].splitlines() if line.startswith("- ")]
        assert len(listed) == len(others)
        for other in others:
            assert any(line.startswith(f"- {other},") for line in listed), (other, listed)

    shown = wf.groups("H1")
    assert [[m.id for m in g.members] for g in shown.groups] == [
        [m.id for m in g.members] for g in saved.groups
    ]
    assert shown.unplaced == ()


def test_the_announcement_reaches_each_member_by_smtp(wf: Workflow) -> None:
    make_cohort(wf)
    enrol(wf, email="a@example.dk", name="Anna Ærø", municipality="Odense", workplace="Skole")
    enrol(wf, email="b@example.dk", name="Bo Øby", municipality="Vejle")
    enrol(wf, email="c@example.dk", name="Carl Å", municipality="Aarhus", workplace="Jobcenter")
    enrol(wf, email="d@example.dk", name="Dorte", municipality="Kolding", language="en")
    wf.form_groups("H1", save=True)
    with SmtpSink() as sink:
        wf.remind(channel=channel_from_env({"LPS_SMTP_URL": sink.url}))
        mails = [m for m in sink.messages if m["X-LPS-Rule"] == "group_announcement"]
    assert sorted(m["To"] for m in mails) == [
        "Anna Ærø <a@example.dk>",
        "Bo Øby <b@example.dk>",
        "Carl Å <c@example.dk>",
        "Dorte <d@example.dk>",
    ]
    anna = next(m for m in mails if "a@example.dk" in m["To"])
    text = anna.get_body(("plain",)).get_content()
    assert "- Bo Øby, Vejle" in text
    assert "- Carl Å, Jobcenter, Aarhus" in text
    assert "- Dorte, Kolding" in text
    assert "Anna Ærø, " not in text
    dorte = next(m for m in mails if "d@example.dk" in m["To"])
    assert dorte["Subject"].startswith("You are in network group 1")


def test_reforming_after_a_withdrawal_places_only_those_without_a_group(wf: Workflow) -> None:
    make_cohort(wf)
    enrol_many(wf, 12)
    first = wf.form_groups("H1", size=4, save=True)
    before = {p.id: p.network_group for p in wf.participants(cohort="H1")}
    leaver = first.groups[1].members[0].id
    wf.advance(leaver, StepRequest("withdraw", reason="Nyt job"))
    late = [
        enrol(wf, email="sen1@example.dk", name="Sen Ankomst", municipality="Nyborg"),
        enrol(wf, email="sen2@example.dk", name="Også Sen", municipality="Faaborg"),
    ]

    again = wf.form_groups("H1", size=4, save=True)
    after = {p.id: p.network_group for p in wf.participants(cohort="H1")}
    for pid, number in before.items():
        assert after[pid] == number
    assert [m.id for m in again.placed] == late
    sizes = {g.number: g.size for g in again.groups}
    assert sizes[first.groups[1].number] >= 4
    assert sorted(sizes.values()) == [4, 4, 5]
    assert all(after[pid] in sizes for pid in late)

    entries = Counter(e["participant_id"] for e in form_group_entries(wf))
    assert all(count == 1 for count in entries.values())
    assert set(entries) == set(before) | set(late)
    assert Counter(m["participant_id"] for m in announcement_rows(wf)) == entries
    assert verify_audit(wf.db).ok

    nothing = wf.form_groups("H1", save=True)
    assert nothing.placed == []
    assert len(announcement_rows(wf)) == 14


def test_enough_newcomers_form_a_new_group_with_the_next_number(wf: Workflow) -> None:
    make_cohort(wf)
    enrol_many(wf, 8)
    wf.form_groups("H1", save=True)
    for n in range(4):
        enrol(wf, email=f"ny{n}@example.dk", name=f"Ny {n}", municipality=MUNICIPALITIES[n])
    grouping = wf.form_groups("H1", save=True)
    assert [(g.number, g.size) for g in grouping.groups] == [(1, 4), (2, 4), (3, 4)]
    assert all(m.new for m in grouping.groups[2].members)


class ClockWithInterruption(FixedClock):
    """Runs ``interruption`` the first time it is asked the time: the save asks just before it
    writes, after the participants were read."""

    def __init__(self, interruption: Callable[[], object]) -> None:
        super().__init__(START)
        self.interruption: Callable[[], object] | None = interruption

    def now(self) -> datetime:
        interruption, self.interruption = self.interruption, None
        if interruption is not None:
            interruption()
        return super().now()


def test_a_participant_changed_meanwhile_refuses_the_whole_save(
    wf: Workflow, database: Database
) -> None:
    make_cohort(wf)
    people = enrol_many(wf, 8)
    other_admin = Workflow(database, clock=FixedClock(START), actor="other")
    racing = Workflow(
        database,
        clock=ClockWithInterruption(
            lambda: other_admin.advance(
                people[3], StepRequest("hold_manager_conversation", goals=("Mod",))
            )
        ),
        actor="tester",
    )
    with pytest.raises(ConcurrentChange) as refused:
        racing.form_groups("H1", save=True)
    assert str(refused.value) == (
        f"participant #{people[3]} was changed by someone else while the groups were formed; "
        "nothing was saved; try again"
    )
    assert all(p.network_group is None for p in wf.participants(cohort="H1"))
    assert form_group_entries(wf) == []
    assert announcement_rows(wf) == []
    assert wf.participant(people[3]).state == "manager_conversation_held"
    assert verify_audit(wf.db).ok
    assert wf.form_groups("H1", save=True).saved


def test_forming_groups_refuses_an_empty_or_unknown_cohort_and_a_bad_size(wf: Workflow) -> None:
    from workflow.errors import InvalidInput, NotFound

    make_cohort(wf)
    with pytest.raises(InvalidInput, match="cohort H1 has no active participants"):
        wf.form_groups("H1")
    with pytest.raises(NotFound, match="no cohort with code 'X9'"):
        wf.form_groups("X9")
    enrol(wf)
    with pytest.raises(InvalidInput, match="--size must be between 4 and 6, not 8"):
        wf.form_groups("H1", size=8)


# -- the command ------------------------------------------------------------------------------


@pytest.fixture
def cohort_of_nine(lps: Cli, wf: Workflow) -> Iterator[Cli]:
    make_cohort(wf)
    enrol_many(wf, 9)
    yield lps


def test_groups_form_previews_then_saves(cohort_of_nine: Cli) -> None:
    lps = cohort_of_nine
    preview = lps("groups", "form", "H1", "--seed", "4")
    assert preview.exit_code == 0, preview.output
    assert "Preview: 9 participant(s) to place (seed 4)" in preview.output
    assert "2 group(s) (sizes 1: 5, 2: 4)" in preview.output
    assert json.loads(lps("groups", "show", "H1", "--json").output)["groups"] == []

    saved = lps("groups", "form", "H1", "--seed", "4", "--save")
    assert saved.exit_code == 0, saved.output
    assert "Saved: 9 participant(s) placed; 9 announcement(s) queued." in saved.output

    shown = json.loads(lps("groups", "show", "H1", "--json").output)
    assert [g["size"] for g in shown["groups"]] == [5, 4]
    assert sum(len(g["members"]) for g in shown["groups"]) == 9
    assert shown["unplaced"] == []
    text = lps("groups", "show", "H1")
    assert text.exit_code == 0
    assert "Deltager 1 Ærø" in text.output

    again = lps("groups", "form", "H1", "--save")
    assert "Everyone active already has a group; nothing to place." in again.output


def test_groups_command_errors(cohort_of_nine: Cli) -> None:
    lps = cohort_of_nine
    unknown = lps("groups", "form", "NOPE")
    assert unknown.exit_code == 1
    assert unknown.output.strip() == "Error: no cohort with code 'NOPE'; see `lps cohort list`"
    too_big = lps("groups", "form", "H1", "--size", "8")
    assert too_big.exit_code == 2
    assert "8 is not in the range 4<=x<=6" in too_big.output
    empty = lps("groups", "show", "H1")
    assert "Cohort H1 has no network groups yet" in empty.output
    assert "Without a group: Deltager 1 Ærø (#1)" in empty.output
