"""Benchmark 7, programme migration: a dry run and an apply of ``lps programme migrate`` for
10,000 participants in 400 cohorts (every cohort moved to the next version, one cohort per
dry run and per apply, as an administrator runs them), next to the bulk-step floor: the
plain-SQL participant update and audit insert of benchmark 1 on the same population.
"""

from __future__ import annotations

import importlib
import tempfile
from datetime import datetime
from pathlib import Path

from tests.benchmarks import bulk
from tests.benchmarks.common import Context, count, cpu_timed, instance, load, say
from tests.benchmarks.fixtures import Population, build, jti_invited, local

NAME = "migrate"
NOW_LOCAL = datetime(2027, 2, 20, 10, 0)  # between the JTI invitation and day 1
TO = "leder-paa-spring/2"


def population(ctx: Context) -> Population:
    return jti_invited(ctx.scale.n(10_000), ctx.scale.n(400), local(NOW_LOCAL))


def _second_version() -> Path:
    from states.definition import BUILTIN_TOML

    # The next revision: reminders three weeks ahead instead of two, the escalation a day
    # later; every pending deadline of every participant moves.
    text = (
        BUILTIN_TOML.replace('version = "leder-paa-spring/1"', f'version = "{TO}"')
        .replace('at = "D1-7"\nexpires = "D2"', 'at = "D1-10"\nexpires = "D2"')
        .replace('at = "D2-3"', 'at = "D2-4"')
    )
    folder = Path(tempfile.mkdtemp(prefix="lps-bench-"))
    (folder / "programme.toml").write_text(text, encoding="utf-8")
    return folder / "programme.toml"


def run(ctx: Context) -> None:
    pop = population(ctx)
    say(
        f"\n## Programme migration: {pop.participants:,} participants in {pop.cohorts} cohorts "
        f"to {TO} ({load()})"
    )
    for backend in ctx.backends:
        run_backend(ctx, backend, pop)


def run_backend(ctx: Context, backend: str, pop: Population) -> None:
    from workflow.clock import FixedClock
    from workflow.db import Database
    from workflow.engine import Workflow

    key = f"migrate-{pop.participants}"
    codes = [pop.code(c) for c in range(1, pop.cohorts + 1)]
    importlib.import_module("workflow.moves")
    path = _second_version()
    with instance(ctx, backend, key, lambda url: build(url, pop)) as url:
        database = Database(url)
        workflow = Workflow(database, clock=FixedClock(pop.now), actor="bench")
        workflow.install_programme(path)

        def dry() -> list[str]:
            return [workflow.plan_migration(code, TO).plan for code in codes]

        dry_s, dry_cpu, plans = cpu_timed(dry)

        def apply() -> int:
            return sum(workflow.apply_migration(plan).moved for plan in plans)

        apply_s, apply_cpu, moved = cpu_timed(apply)
        database.dispose()
        on_new = count(url, f"SELECT count(*) FROM participants WHERE definition_version = '{TO}'")
        if moved != pop.participants or on_new != pop.participants:
            raise AssertionError(f"moved {moved}, {on_new} on {TO}; expected {pop.participants}")
    with instance(ctx, backend, key, lambda url: build(url, pop)) as url:
        floor_s, floor_cpu = bulk.floor_pass(url, pop)
    n = pop.participants
    report = ctx.report
    report.add(
        NAME, backend, f"dry run, {pop.cohorts} cohorts", dry_s, "s",
        note=f"{n / dry_s:,.0f} participants/s; cpu {dry_cpu:.2f}s",
    )  # fmt: skip
    report.add(
        NAME, backend, f"apply, {pop.cohorts} plans (a transaction per participant)", apply_s,
        "s", note=f"{n / apply_s:,.0f} participants/s; cpu {apply_cpu:.2f}s",
    )  # fmt: skip
    report.add(
        NAME, backend, "floor: bulk-step plain SQL, one transaction", floor_s, "s",
        note=f"{n / floor_s:,.0f} participants/s; cpu {floor_cpu:.2f}s",
    )  # fmt: skip
    report.add(NAME, backend, "apply / floor", apply_s / floor_s, "x")
