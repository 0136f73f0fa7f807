"""Benchmark 1, bulk step: ``register_day`` for 10,000 participants in 400 cohorts.

Three ways of writing the same rows are timed on identical copies of one fixture, three rounds
in turns, and the median of each reported:

- the engine: ``Workflow.advance_cohorts`` over the 400 cohorts (what ``lps advance --cohort A
  --cohort B ... register_day`` does), and, as a second figure, ``advance_cohort`` once per
  cohort (400 separate commands' worth of work, without their start-up);
- the floor: the participant updates and audit inserts, computed beforehand, written with plain
  SQL through the driver in one transaction (``executemany``);
- the common recipe: one ``transitions.Machine`` constructed per participant, per-row updates
  through a SQLAlchemy ORM session (flushed per participant, committed per cohort).

The CLI is timed once, as a subprocess, on one cohort.
"""

from __future__ import annotations

import importlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

from tests.benchmarks.common import (
    Context,
    count,
    cpu_timed,
    instance,
    load,
    lps_command,
    lps_env,
    profiled,
    run_process,
    say,
)
from tests.benchmarks.fixtures import DAYS, Population, build, jti_invited, local

NAME = "bulk"
NOW_LOCAL = datetime(2027, 3, 1, 10, 0)  # teaching day 1
STEPS_PER_SECOND_TARGET = 10_000
FLOOR_RATIO_TARGET = 5.0
RECIPE_RATIO_TARGET = 10.0
ROUNDS = 3


def population(ctx: Context) -> Population:
    return jti_invited(ctx.scale.n(10_000), ctx.scale.n(400), local(NOW_LOCAL))


def run(ctx: Context) -> None:
    pop = population(ctx)
    say(
        f"\n## Bulk step: register_day for {pop.participants:,} participants in "
        f"{pop.cohorts} cohorts ({load()})"
    )
    for backend in ctx.backends:
        run_backend(ctx, backend, pop)


def run_backend(ctx: Context, backend: str, pop: Population) -> None:
    key = f"bulk-{pop.participants}"

    def fixture(url: str) -> None:
        build(url, pop)

    codes = [pop.code(c) for c in range(1, pop.cohorts + 1)]
    n = pop.participants
    runs: dict[str, list[tuple[float, float]]] = {"engine": [], "floor": [], "recipe": []}
    # In turns, so that a slow spell of the machine hits all three alike; medians of each.
    for _ in range(ROUNDS):
        with instance(ctx, backend, key, fixture) as url:
            runs["engine"].append(engine_pass(url, pop, codes))
            check(url, pop, "engine")
        with instance(ctx, backend, key, fixture) as url:
            runs["floor"].append(floor_pass(url, pop))
            check(url, pop, "floor")
        with instance(ctx, backend, key, fixture) as url:
            runs["recipe"].append(recipe_pass(url, pop, codes))
            check(url, pop, "recipe")
    engine_s, engine_cpu = _median_run(runs["engine"])
    floor_s, floor_cpu = _median_run(runs["floor"])
    recipe_s, recipe_cpu = _median_run(runs["recipe"])
    with instance(ctx, backend, key, fixture) as url:
        separate_s, separate_cpu = engine_pass(url, pop, codes, separately=True)
        check(url, pop, "engine, cohort by cohort")
    with instance(ctx, backend, key, fixture) as url:
        cli_s, output = cli_pass(url, codes)
        check(url, pop, "CLI")
    report = ctx.report
    rate = n / engine_s
    report.add(
        NAME,
        backend,
        f"engine: advance_cohorts, {pop.cohorts} cohorts in one call",
        engine_s,
        "s",
        note=f"cpu {engine_cpu:.2f}s in this process",
    )
    report.add(
        NAME,
        backend,
        f"engine: advance_cohort x {pop.cohorts}, one call per cohort",
        separate_s,
        "s",
        note=f"{n / separate_s:,.0f} steps/s; cpu {separate_cpu:.2f}s",
    )
    report.add(
        NAME,
        backend,
        "engine participant-steps per second",
        rate,
        "steps/s",
        target=f">= {STEPS_PER_SECOND_TARGET:,} (SQLite)" if backend == "sqlite" else "",
        met=rate >= STEPS_PER_SECOND_TARGET if backend == "sqlite" else None,
        note=f"{n / engine_cpu:,.0f} per CPU-second of this process",
    )
    report.add(
        NAME,
        backend,
        "floor: plain SQL executemany, one transaction",
        floor_s,
        "s",
        note=f"cpu {floor_cpu:.2f}s in this process",
    )
    report.add(NAME, backend, "floor participant-steps per second", n / floor_s, "steps/s")
    ratio = engine_s / floor_s
    report.add(
        NAME,
        backend,
        "engine / floor",
        ratio,
        "x",
        target=f"<= {FLOOR_RATIO_TARGET:g}x",
        met=ratio <= FLOOR_RATIO_TARGET,
        note=f"cpu ratio {engine_cpu / max(floor_cpu, 1e-9):.1f}x",
    )
    report.add(
        NAME,
        backend,
        "recipe: Machine per participant + ORM rows",
        recipe_s,
        "s",
        note=f"cpu {recipe_cpu:.2f}s in this process",
    )
    report.add(NAME, backend, "recipe participant-steps per second", n / recipe_s, "steps/s")
    speedup = recipe_s / engine_s
    report.add(
        NAME,
        backend,
        "recipe / engine (engine speed-up)",
        speedup,
        "x",
        target=f">= {RECIPE_RATIO_TARGET:g}x",
        met=speedup >= RECIPE_RATIO_TARGET,
        note=f"cpu ratio {recipe_cpu / engine_cpu:.1f}x",
    )
    report.add(
        NAME,
        backend,
        f"CLI once: lps advance --cohort x {pop.cohorts} register_day (start-up included)",
        cli_s,
        "s",
        note=f"{n / cli_s:,.0f} steps/s; " + (output.strip().splitlines() or [""])[-1],
    )
    if ctx.profile:
        with instance(ctx, backend, key, fixture) as url, profiled(ctx, f"bulk engine ({backend})"):
            engine_pass(url, pop, codes)


def _median_run(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The (wall, cpu) pair of the run with the median wall time."""
    return sorted(runs)[len(runs) // 2]


def check(url: str, pop: Population, label: str) -> None:
    moved = count(url, "SELECT count(*) FROM participants WHERE state = 'day_1'")
    entries = count(url, "SELECT count(*) FROM audit_entries")
    expected = pop.participants * (len(pop.trail) + 1)
    if moved != pop.participants or entries != expected:
        raise AssertionError(
            f"{label}: {moved} participants in day_1 (expected {pop.participants}), "
            f"{entries} audit entries (expected {expected})"
        )


def engine_pass(
    url: str, pop: Population, codes: list[str], *, separately: bool = False
) -> tuple[float, float]:
    from workflow.clock import FixedClock
    from workflow.db import Database
    from workflow.engine import StepRequest, Workflow

    # The modules a step uses, imported before the clock starts: start-up is benchmark 5.
    importlib.import_module("workflow.machine")
    importlib.import_module("workflow.messages")
    importlib.import_module("notifications.render")
    database = Database(url)
    workflow = Workflow(database, clock=FixedClock(pop.now), actor="bench")
    request = StepRequest("register_day")
    # One warm connection, as in a CLI run that has already checked the schema.
    database.check_schema()

    def work() -> int:
        if not separately:
            return len(workflow.advance_cohorts(codes, request).advanced)
        advanced = 0
        for code in codes:
            advanced += len(workflow.advance_cohort(code, request).advanced)
        return advanced

    seconds, cpu, advanced = cpu_timed(work)
    database.dispose()
    if advanced != pop.participants:
        raise AssertionError(f"engine advanced {advanced}, expected {pop.participants}")
    return seconds, cpu


def _floor_rows(url: str, pop: Population) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The exact participant updates and audit entries the step writes, computed up front."""
    from states.facts import Facts
    from workflow.audit import entry_hash, note_digest
    from workflow.db import Database

    database = Database(url)
    with database.reading() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, version, audit_seq, audit_head, facts FROM participants ORDER BY id"
        ).all()
    database.dispose()
    sqlite = url.startswith("sqlite")
    stored = pop.now.astimezone(UTC).replace(tzinfo=None)
    at: Any = stored.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else stored
    digest = note_digest(None)
    data = {"day": 1, "attended": True}
    updates = []
    audits = []
    for pid, version, seq, head, raw_facts in rows:
        doc = json.loads(raw_facts) if isinstance(raw_facts, str) else raw_facts
        facts = Facts.from_json(doc).to_json()
        facts["days"] = {"1": {"on": DAYS[0].isoformat(), "attended": True}}
        new_hash = entry_hash(
            prev_hash=head,
            participant_id=pid,
            seq=seq + 1,
            at=pop.now,
            actor="bench",
            event="register_day",
            from_state=pop.state,
            to_state="day_1",
            digest=digest,
            data=data,
        )
        updates.append(
            ("day_1", _json(facts, sqlite), version + 1, seq + 1, new_hash, at, pid, version)
        )
        audits.append(
            (
                pid,
                seq + 1,
                at,
                "bench",
                "register_day",
                pop.state,
                "day_1",
                None,
                digest,
                _json(data, sqlite),
                head,
                new_hash,
            )
        )
    return updates, audits


def _json(doc: Any, sqlite: bool) -> Any:
    if sqlite:
        return json.dumps(doc)
    from psycopg.types.json import Jsonb

    return Jsonb(doc)


def floor_pass(url: str, pop: Population) -> tuple[float, float]:
    """Plain SQL through the driver, on a connection set up exactly as the engine's."""
    from workflow.db import Database

    updates, audits = _floor_rows(url, pop)
    database = Database(url)
    raw = database.engine.raw_connection()
    mark = "?" if database.is_sqlite else "%s"
    update_sql = (
        f"UPDATE participants SET state = {mark}, facts = {mark}, version = {mark}, "
        f"audit_seq = {mark}, audit_head = {mark}, updated_at = {mark} "
        f"WHERE id = {mark} AND version = {mark}"
    )
    insert_sql = (
        "INSERT INTO audit_entries (participant_id, seq, at, actor, event, from_state, "
        "to_state, note, note_digest, data, prev_hash, hash) VALUES ("
        + ", ".join([mark] * 12)
        + ")"
    )

    def work() -> None:
        cursor = raw.cursor()
        if database.is_sqlite:
            cursor.execute("BEGIN")
        cursor.executemany(update_sql, updates)
        cursor.executemany(insert_sql, audits)
        if database.is_sqlite:
            cursor.execute("COMMIT")
        else:
            raw.commit()
        cursor.close()

    seconds, cpu, _ = cpu_timed(work)
    raw.close()
    database.dispose()
    return seconds, cpu


def recipe_pass(url: str, pop: Population, codes: list[str]) -> tuple[float, float]:
    """The usual way: a Machine per participant, ORM objects updated row by row."""
    from sqlalchemy import select
    from sqlalchemy.orm import DeclarativeBase, Session
    from transitions import Machine

    from states.facts import Facts
    from states.programme import (
        FINAL_STATES,
        STATE_NAMES,
        TRANSITIONS,
        CohortPlan,
        Situation,
        StepArgs,
        refusals,
        transition_for,
    )
    from workflow.audit import entry_hash, note_digest
    from workflow.db import Database
    from workflow.models import AUDIT, COHORTS, PARTICIPANTS

    # The recipe's ORM classes, mapped onto the engine's own tables.
    class Base(DeclarativeBase):
        pass

    class Cohort(Base):
        __table__ = COHORTS

    class Participant(Base):
        __table__ = PARTICIPANTS

    class AuditEntry(Base):
        __table__ = AUDIT

    logging.getLogger("transitions").setLevel(logging.WARNING)
    spec = [
        {
            "trigger": t.trigger,
            "source": list(t.sources),
            "dest": t.dest,
            "conditions": "guards_hold",
            "before": "record_facts",
        }
        for t in TRANSITIONS
    ]
    args = StepArgs()
    now = pop.now
    digest = note_digest(None)

    class Person:
        state: str

        def __init__(self, row: Participant, plan: CohortPlan):
            self.row = row
            self.plan = plan
            self.facts = Facts.from_json(row.facts)

        def situation(self) -> Situation:
            return Situation(self.state, self.facts, self.plan, self.row.municipality, now)

        def guards_hold(self, event: Any) -> bool:
            return not refusals(event.event.name, self.situation(), args)

        def record_facts(self, event: Any) -> None:
            transition = transition_for(event.event.name, self.state)
            if transition is not None:
                self.facts = transition.effect(self.situation(), args)

    database = Database(url)

    def work() -> int:
        advanced = 0
        for code in codes:
            with Session(database.engine) as session:
                cohort = session.scalars(select(Cohort).where(Cohort.code == code)).one()
                days = (cohort.day_1, cohort.day_2, cohort.day_3, cohort.day_4, cohort.day_5)
                plan = CohortPlan(cohort.code, days, cohort.max_absences, cohort.send_hour)
                people = session.scalars(
                    select(Participant)
                    .where(
                        Participant.cohort_id == cohort.id, Participant.state.not_in(FINAL_STATES)
                    )
                    .order_by(Participant.id)
                ).all()
                for row in people:
                    person = Person(row, plan)
                    Machine(
                        model=person,
                        states=list(STATE_NAMES),
                        transitions=spec,
                        initial=row.state,
                        auto_transitions=False,
                        send_event=True,
                    )
                    before = row.state
                    if not person.trigger("register_day"):  # type: ignore[attr-defined]
                        continue
                    seq = row.audit_seq + 1
                    data = {"day": len(person.facts.days), "attended": True}
                    new_hash = entry_hash(
                        prev_hash=row.audit_head,
                        participant_id=row.id,
                        seq=seq,
                        at=now,
                        actor="bench",
                        event="register_day",
                        from_state=before,
                        to_state=person.state,
                        digest=digest,
                        data=data,
                    )
                    session.add(
                        AuditEntry(
                            participant_id=row.id,
                            seq=seq,
                            at=now,
                            actor="bench",
                            event="register_day",
                            from_state=before,
                            to_state=person.state,
                            note=None,
                            note_digest=digest,
                            data=data,
                            prev_hash=row.audit_head,
                            hash=new_hash,
                        )
                    )
                    row.state = person.state
                    row.facts = person.facts.to_json()
                    row.version += 1
                    row.audit_seq = seq
                    row.audit_head = new_hash
                    row.updated_at = now
                    session.flush()
                    advanced += 1
                session.commit()
        return advanced

    seconds, cpu, advanced = cpu_timed(work)
    database.dispose()
    if advanced != pop.participants:
        raise AssertionError(f"recipe advanced {advanced}, expected {pop.participants}")
    return seconds, cpu


def cli_pass(url: str, codes: list[str]) -> tuple[float, str]:
    cohorts = [word for code in codes for word in ("--cohort", code)]
    env = lps_env(url, NOW_LOCAL.isoformat(timespec="minutes"))
    # A read-only command first, so the timed run reads compiled bytecode like an installed lps.
    run_process([*lps_command(), "triggers", "1"], env)
    seconds, done = run_process(
        [*lps_command(), "--actor", "bench", "advance", *cohorts, "register_day"], env
    )
    if "Advanced" not in done.stdout:
        raise AssertionError(f"unexpected CLI output: {done.stdout}{done.stderr}")
    return seconds, done.stdout
