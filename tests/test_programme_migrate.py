"""Moving a cohort whose participants stand in every state to another programme version: a
dry run, then exactly that plan applied; on SQLite and PostgreSQL with a real SMTP server."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

from conftest import DAYS, START, Cli, make_cohort
from engine_helpers import drive, go
from helpers import enrol_in_h1, fails, install_programme_text, ok, on
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader
from smtp_server import SmtpSink
from sqlalchemy import select
from sweep_helpers import Mornings, at

from states.definition import BUILTIN_TOML
from states.programme import STATE_NAMES
from workflow.clock import FixedClock
from workflow.engine import Workflow
from workflow.errors import InvalidInput
from workflow.moves import parse_map
from workflow.records import DEADLINES, PARTICIPANTS
from workflow.verify import verify_audit

D1, D2, D3, D4, D5 = DAYS
LATER = tuple(day + timedelta(days=91) for day in DAYS)
MOMENT = D5 + timedelta(days=25)

# The next version: no closing reminder, automatic completion after 45 days, a new label.
SECOND = (
    BUILTIN_TOML.replace('version = "leder-paa-spring/1"', 'version = "leder-paa-spring/2"')
    .replace('at = "certified+30"\nexpires = "certified+60"\nenabled = true',
             'at = "certified+30"\nexpires = "certified+60"\nenabled = false')
    .replace('[rule.auto_complete]  # completes the path (fires complete)\nat = "certified+60"',
             '[rule.auto_complete]  # completes the path (fires complete)\nat = "certified+45"')
    .replace('da = "Undervisningsdag 5", en = "Teaching day 5"',
             'da = "Sidste undervisningsdag", en = "Last teaching day"')
)  # fmt: skip
# A version without the career visit: whoever had one has no place in it.
NO_VISIT = BUILTIN_TOML.replace(
    'version = "leder-paa-spring/1"', 'version = "uden-besoeg/1"'
).replace(
    "[step.career_visit]  # the career visit with a host in the participant's own "
    "municipality\nenabled = true",
    "[step.career_visit]\nenabled = false",
)


def everyone(wf: Workflow, clock: FixedClock) -> dict[str, int]:
    """One participant in each state of the built-in programme, by state."""
    make_cohort(wf)
    make_cohort(wf, "H2", LATER)
    ids = {}
    for index, state in enumerate(STATE_NAMES):
        ids[state] = wf.enrol(
            "H1",
            name=f"Deltager {index}",
            email=f"p{index}@odense.dk",
            municipality="Odense",
            manager_name=f"Leder {index}",
            manager_email=f"leder{index}@odense.dk",
        ).participant.id
    for state, pid in ids.items():
        if state == "withdrawn":
            on(clock, D2)
            go(wf, pid, "withdraw", reason="Nyt job")
        elif state == "deferred":
            on(clock, D1 - timedelta(days=20))
            go(wf, pid, "defer", reason="Barsel", to="H2")
        else:
            clock.set(START)  # each walk starts where the first one did
            drive(wf, clock, pid, state)
    return ids


def pending(wf: Workflow, pid: int) -> dict[str, object]:
    with wf.db.reading() as conn:
        rows = conn.execute(select(DEADLINES).where(DEADLINES.c.participant_id == pid)).all()
    return {f"{r.rule}:{r.occurrence}": (r.status, r.due_at) for r in rows}


def test_a_cohort_in_every_state_moves_to_the_next_version_and_nobody_gets_mail_twice(
    wf: Workflow, clock: FixedClock, sink: SmtpSink, tmp_path: Path
) -> None:
    ids = everyone(wf, clock)
    install_programme_text(wf, tmp_path / "v2", SECOND)
    mornings = Mornings(wf, clock, sink)
    mornings.sweep(at(MOMENT))
    before = {pid: wf.participant(pid).state for pid in ids.values()}
    certified = ids["certified"]
    old_deadlines = pending(wf, certified)
    assert old_deadlines["closing_reminder:0"][0] == "pending"

    plan = wf.plan_migration("H1", "leder-paa-spring/2")
    # The sweep sent the JTI to the two who had not had it: they stand in jti_invited now.
    assert before[ids["enrolled"]] == before[ids["manager_conversation_held"]] == "jti_invited"
    outcomes = {move.id: move.outcome for move in plan.participants}
    assert outcomes == {
        pid: "finished" if state in ("completed", "withdrawn", "deferred") else "moves"
        for state, pid in ids.items()
    }
    assert plan.blocked == []
    changes = {
        (c.rule, c.change)
        for move in plan.participants
        if move.id == certified
        for c in move.deadlines
    }
    assert changes == {("closing_reminder", "removed"), ("auto_complete", "moved")}
    # A dry run changes nobody.
    assert {pid: wf.participant(pid).state for pid in ids.values()} == before

    done = wf.apply_migration(plan.plan)
    assert (done.moved, done.finished) == (13, 3)
    for state, pid in ids.items():
        view = wf.participant(pid)
        assert view.state == before[pid]
        finished = state in ("completed", "withdrawn", "deferred")
        assert view.definition_version == (
            "leder-paa-spring/1" if finished else "leder-paa-spring/2"
        ), state
    assert wf.cohort("H1").programme == "leder-paa-spring/2"
    assert wf.participant(ids["day_5"]).state_label == "Sidste undervisningsdag"
    after = pending(wf, certified)
    assert after["closing_reminder:0"][0] == "dropped"
    assert after["auto_complete:0"] == ("pending", at_nine(D5 + timedelta(days=45)))
    migrated = [e for e in wf.history(certified) if e.event == "migrate"]
    assert [(e.from_state, e.to_state, e.actor) for e in migrated] == [
        ("certified", "certified", "tester")
    ]
    assert migrated[0].data == {
        "from_version": "leder-paa-spring/1",
        "to_version": "leder-paa-spring/2",
        "plan": plan.plan,
        "deadlines_dropped": ["closing_reminder"],
    }

    # The sweeps go on: nobody is mailed twice, the certified complete on the new day.
    for days in (0, 1, 21, 40):
        mornings.sweep(at(MOMENT + timedelta(days=days)))
    keys = Counter(mail.key for mail in mornings.mails)
    assert [key for key, count in keys.items() if count > 1] == []
    assert not [m for m in mornings.mails if m.rule == "closing_reminder"]
    assert wf.participant(certified).state == "completed"
    assert verify_audit(wf.db).ok, verify_audit(wf.db).problems


def at_nine(day: object) -> object:
    from states.rules import local_moment

    return local_moment(day, 9)  # type: ignore[arg-type]


def test_a_version_with_no_place_for_what_happened_blocks_and_says_why(
    wf: Workflow, clock: FixedClock, tmp_path: Path
) -> None:
    ids = everyone(wf, clock)
    install_programme_text(wf, tmp_path / "nv", NO_VISIT)
    plan = wf.plan_migration("H1", "uden-besoeg/1")
    reasons = {m.from_state: m.reasons for m in plan.participants if m.outcome == "blocked"}
    assert reasons["career_visit_held"] == (
        "state career_visit_held has no place in uden-besoeg/1; map it with "
        "--map career_visit_held=STATE",
        "a career visit is recorded (2027-03-29); uden-besoeg/1 has none",
    )
    assert reasons["day_4"] == ("a career visit is recorded (2027-03-29); uden-besoeg/1 has none",)
    assert "enrolled" not in reasons
    with_map = wf.plan_migration("H1", "uden-besoeg/1", ["career_visit_held=day_3"])
    mapped = next(m for m in with_map.participants if m.from_state == "career_visit_held")
    assert mapped.to_state == "day_3"
    assert mapped.reasons == ("a career visit is recorded (2027-03-29); uden-besoeg/1 has none",)

    # The others move; whoever is blocked stays on the version their path is on, and goes on.
    done = wf.apply_migration(with_map.plan)
    with_visit = ("career_visit_held", "day_4", "day_5", "certified", "closing_conversation_held")
    assert {m.id for m in done.blocked} == {ids[state] for state in with_visit}
    assert (done.moved, done.finished) == (13 - len(with_visit), 3)
    versions = {state: wf.participant(pid).definition_version for state, pid in ids.items()}
    assert {state for state, version in versions.items() if version == "leder-paa-spring/1"} == {
        *with_visit,
        "completed",
        "withdrawn",
        "deferred",
    }
    assert wf.cohort("H1").programme == "uden-besoeg/1"
    assert wf.participant(ids["day_4"]).as_json()["programme"] == "leder-paa-spring/1"

    # On their own version the career visit still counts towards the certificate ...
    stayed = ids["day_4"]
    on(clock, D5)
    go(wf, stayed, "register_day")
    go(wf, stayed, "deliver_speech")
    assert wf.participant(stayed).state == "certified"
    # ... and on the new one there is none to hold.
    moved = ids["day_3"]
    assert "hold_career_visit" not in {t.trigger for t in wf.triggers(moved)}
    on(clock, D4)
    go(wf, moved, "register_day")
    on(clock, D5)
    go(wf, moved, "register_day")
    go(wf, moved, "deliver_speech")
    assert wf.participant(moved).state == "certified"
    clock.set(START)  # before day 1, while the cohort takes enrolments
    newcomer = wf.enrol(
        "H1",
        name="Ny Deltager",
        email="ny@odense.dk",
        municipality="Odense",
        manager_name="Leder",
        manager_email="leder@odense.dk",
    ).participant
    assert newcomer.definition_version == "uden-besoeg/1"
    report = verify_audit(wf.db)
    assert report.ok, report.problems


def test_the_cli_dry_run_then_apply_and_apply_refused_after_a_change(
    lps: Cli, wf: Workflow, clock: FixedClock, tmp_path: Path
) -> None:
    ids = everyone(wf, clock)
    install_programme_text(wf, tmp_path / "v2", SECOND)
    lps.now = at(MOMENT).isoformat()
    result = ok(lps, "programme", "migrate", "--cohort", "H1", "--to", "leder-paa-spring/2",
                "--dry-run", "--json")  # fmt: skip
    data = json.loads(result.stdout)
    assert set(data) >= {"plan", "participants"}
    first = data["participants"][0]
    assert set(first) >= {"id", "email", "outcome", "reasons", "from_state", "to_state"}
    assert Counter(p["outcome"] for p in data["participants"]) == {"moves": 13, "finished": 3}
    text = ok(lps, "programme", "migrate", "--cohort", "H1", "--to", "leder-paa-spring/2",
              "--dry-run").stdout  # fmt: skip
    assert f"Plan {data['plan']}: cohort H1 from leder-paa-spring/1 to leder-paa-spring/2" in text
    assert "auto_complete: 2027-06-25 09:00 → 2027-06-10 09:00" in text
    # Someone changes after the dry run: the plan is refused, naming them.
    ok(lps, "advance", str(ids["certified"]), "hold_closing_conversation")
    with wf.db.reading() as conn:
        version = conn.execute(
            select(PARTICIPANTS.c.version).where(PARTICIPANTS.c.id == ids["certified"])
        ).scalar()
    refused = fails(lps, "programme", "migrate", "--apply", data["plan"])
    assert refused.stderr == (
        f"Error: plan {data['plan']}: participants changed since the dry run: "
        f"#{ids['certified']} p11@odense.dk (row version {version - 1} → {version}); "
        "make a new dry run\n"
    )
    assert wf.cohort("H1").programme == "leder-paa-spring/1"
    again = json.loads(
        ok(
            lps,
            "programme",
            "migrate",
            "--cohort",
            "H1",
            "--to",
            "leder-paa-spring/2",
            "--dry-run",
            "--json",
        ).stdout
    )
    assert again["plan"] != data["plan"]
    applied = ok(lps, "programme", "migrate", "--apply", again["plan"])
    assert applied.stdout == (
        f"Plan {again['plan']}: moved 13 participants of cohort H1 to leder-paa-spring/2; "
        "3 finished left as they were.\n"
    )
    # A migration back is another migration; its dry run says what it would do.
    back = ok(lps, "programme", "migrate", "--cohort", "H1", "--to", "leder-paa-spring/1",
              "--dry-run").stdout  # fmt: skip
    assert "auto_complete: 2027-06-10 09:00 → 2027-06-25 09:00" in back
    assert "closing_reminder" not in back  # dropped once, never brought back to be sent
    assert ok(lps, "audit", "verify").exit_code == 0


@given(st.lists(st.text(max_size=12), max_size=4))
def test_any_map_option_is_pairs_of_states_or_a_clear_refusal(pairs: list[str]) -> None:
    try:
        parsed = parse_map(pairs)
    except InvalidInput as refused:
        assert "is not OLD_STATE=NEW_STATE" in str(refused) or "mapped twice" in str(refused)
        assert "\n" not in str(refused) and "\r" not in str(refused)
    else:
        assert len(parsed) == len(pairs)
        assert all(old and new for old, new in parsed)
        assert {old for old, _ in parsed} == {p.partition("=")[0].strip() for p in pairs}


# The next version with the first teaching day under another theme.
RETHEMED = BUILTIN_TOML.replace(
    'version = "leder-paa-spring/1"', 'version = "leder-paa-spring/3"'
).replace('da = "Ledelse i en kommunal kontekst"', 'da = "Ledelse i kommunen"')


def certificate_text(wf: Workflow, pid: int) -> str:
    _, pdf = wf.certificate(pid)
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_a_finished_participants_certificate_keeps_the_days_of_their_own_version(
    wf: Workflow, clock: FixedClock, tmp_path: Path
) -> None:
    make_cohort(wf)
    done, certified = enrol_in_h1(wf, "Anna", "Bo")
    drive(wf, clock, done, "completed")
    clock.set(START)
    drive(wf, clock, certified, "certified")
    install_programme_text(wf, tmp_path / "v3", RETHEMED)

    wf.apply_migration(wf.plan_migration("H1", "leder-paa-spring/3").plan)

    assert wf.participant(done).definition_version == "leder-paa-spring/1"
    assert "Ledelse i en kommunal kontekst" in certificate_text(wf, done)
    assert "Ledelse i kommunen" in certificate_text(wf, certified)
