"""Benchmark 4, look-ups: ``lps participant show P`` and ``lps history P`` as subprocesses on a
database of 100,000 participants and 4 million audit entries (40 per participant; the hash
values are dummies, the look-ups never check them).

Floor: ``python -c "import click, sqlalchemy.orm"`` as a subprocess, the least any database
command written with these libraries can cost. Medians of interleaved runs.
"""

from __future__ import annotations

import statistics
from datetime import date, datetime, timedelta
from typing import Any

from tests.benchmarks.common import (
    Context,
    count,
    import_profile,
    instance,
    interleaved_medians,
    load,
    lps_command,
    lps_env,
    profiled,
    say,
    timed,
)
from tests.benchmarks.fixtures import ACTOR, Entry, Population, build, local

NAME = "lookups"
NOW_LOCAL = datetime(2027, 5, 10, 10, 0)
CERTIFIED_ON = date(2027, 4, 26)
ENTRIES = 40
RATIO_TARGET = 1.5

CERTIFIED_FACTS: dict[str, Any] = {
    "manager_conversation": "2027-02-10",
    "goals": ["Tydelighed i beslutninger", "Autoritet"],
    "jti_invited": "2027-02-15",
    "jti_completed": "2027-02-24",
    "days": {
        str(n): {"on": d, "attended": True}
        for n, d in enumerate(
            ("2027-03-01", "2027-03-15", "2027-03-29", "2027-04-12", "2027-04-26"), start=1
        )
    },
    "host": {
        "name": "Hanne Vært",
        "email": "hanne@kommune.dk",
        "role": "leader",
        "municipality": "Odense",
    },
    "career_visit": "2027-04-05",
    "speech": "2027-04-26",
    "certified": "2027-04-26",
}

_PATH: tuple[tuple[str, str | None, str, dict[str, Any]], ...] = (
    ("enrol", None, "enrolled", {"notified": ["welcome"]}),
    ("hold_manager_conversation", "enrolled", "manager_conversation_held", {}),
    ("invite_jti", "manager_conversation_held", "jti_invited", {"notified": ["jti_invitation"]}),
    ("complete_jti", "jti_invited", "jti_completed", {}),
    ("register_day", "jti_completed", "day_1", {"day": 1, "attended": True}),
    ("set_host", "day_1", "day_1", {"role": "leader"}),
    ("register_day", "day_1", "day_2", {"day": 2, "attended": True}),
    ("register_day", "day_2", "day_3", {"day": 3, "attended": True}),
    ("hold_career_visit", "day_3", "career_visit_held", {"on": "2027-04-05"}),
    ("register_day", "career_visit_held", "day_4", {"day": 4, "attended": True}),
    ("register_day", "day_4", "day_5", {"day": 5, "attended": True}),
    ("deliver_speech", "day_5", "speech_delivered", {}),
    (
        "certify",
        "speech_delivered",
        "certified",
        {"automatic": True, "notified": ["certificate"]},
    ),
)
_REMINDERS = (
    "manager_conversation_reminder",
    "jti_reminder",
    "day_reminder",
    "jti_escalation",
    "host_letter",
    "homework_reminder",
    "career_visit_reminder",
    "speech_reminder",
)


def trail() -> tuple[Entry, ...]:
    """The path to a certificate, with the reminders sent along the way: 40 entries."""
    start = local(datetime(2027, 1, 4, 10, 0))
    span = local(NOW_LOCAL) - timedelta(days=14) - start
    shapes: list[tuple[str, str | None, str, dict[str, Any]]] = []
    extra = ENTRIES - len(_PATH)
    for index, step in enumerate(_PATH):
        shapes.append(step)
        per_step = extra // (len(_PATH) - 1) + (1 if index < extra % (len(_PATH) - 1) else 0)
        if index == len(_PATH) - 1:
            per_step = ENTRIES - len(shapes)
        for k in range(per_step):
            rule = _REMINDERS[(index + k) % len(_REMINDERS)]
            state = step[2]
            shapes.append(
                (
                    "notify",
                    state,
                    state,
                    {"rule": rule, "occurrence": k, "recipients": ["participant"]},
                )
            )
    assert len(shapes) == ENTRIES, len(shapes)
    return tuple(
        Entry(event, source, dest, start + span * i / ENTRIES, data, ACTOR)
        for i, (event, source, dest, data) in enumerate(shapes)
    )


def population(ctx: Context) -> Population:
    return Population(
        participants=ctx.scale.n(100_000),
        cohorts=ctx.scale.n(4_000),
        state="certified",
        facts=CERTIFIED_FACTS,
        trail=trail(),
        now=local(NOW_LOCAL),
        real_hashes=False,
        certified_on=CERTIFIED_ON,
    )


def run(ctx: Context) -> None:
    pop = population(ctx)
    say(
        f"\n## Look-ups on {pop.participants:,} participants and "
        f"{pop.participants * ENTRIES:,} audit entries ({load()})"
    )
    for backend in ctx.backends:
        run_backend(ctx, backend, pop)


def run_backend(ctx: Context, backend: str, pop: Population) -> None:
    def fixture(url: str) -> None:
        build(url, pop)

    target = pop.participants // 2
    email = f"deltager{target}@kommune.dk"
    with instance(ctx, backend, f"lookups-{pop.participants}", fixture) as url:
        entries = count(url, "SELECT count(*) FROM audit_entries")
        say(f"  {backend}: {entries:,} audit entries")
        env = lps_env(url, NOW_LOCAL.isoformat(timespec="minutes"))
        lps = lps_command()
        commands = {
            "floor": ([_python(), "-c", "import click, sqlalchemy.orm"], lps_env()),
            "show": ([*lps, "participant", "show", str(target)], env),
            "show-email": ([*lps, "participant", "show", email], env),
            "history": ([*lps, "history", str(target)], env),
        }
        medians = interleaved_medians(commands, ctx.runs)
        engine = _in_process(url, target, pop)
        if ctx.profile:
            for name in ("show", "history"):
                argv, cmd_env = commands[name]
                say(f"\n--- imports of lps {name} ({backend}) ---")
                say(import_profile(argv, cmd_env))
            say(f"\n--- imports of the floor ({backend}) ---")
            say(import_profile(*commands["floor"]))
            with profiled(ctx, f"in-process participant + history ({backend})", top=15):
                _in_process(url, target, pop)
    report = ctx.report
    floor = medians["floor"]
    report.add(
        NAME,
        backend,
        'floor: python -c "import click, sqlalchemy.orm"',
        floor.wall,
        "s",
        note=f"cpu {floor.cpu:.3f}s",
    )
    for name, label in (
        ("show", f"lps participant show {target}"),
        ("show-email", "lps participant show EMAIL"),
        ("history", f"lps history {target} ({ENTRIES} entries)"),
    ):
        timing = medians[name]
        report.add(NAME, backend, label, timing.wall, "s", note=f"cpu {timing.cpu:.3f}s")
        ratio = timing.wall / floor.wall
        report.add(
            NAME,
            backend,
            f"{label} / floor",
            ratio,
            "x",
            target=f"<= {RATIO_TARGET:g}x",
            met=ratio <= RATIO_TARGET,
            note=f"cpu ratio {timing.cpu / floor.cpu:.2f}x",
        )
    report.add(NAME, backend, "in process: Workflow.participant(id)", engine[0], "s")
    report.add(NAME, backend, "in process: Workflow.history(id)", engine[1], "s")


def _python() -> str:
    import sys

    return sys.executable


def _in_process(url: str, target: int, pop: Population) -> tuple[float, float]:
    """The database part alone: medians of the engine calls on a warm connection."""
    from workflow.clock import FixedClock
    from workflow.db import Database
    from workflow.engine import Workflow

    database = Database(url)
    workflow = Workflow(database, clock=FixedClock(pop.now), actor="bench")
    workflow.participant(target)
    show = statistics.median(timed(lambda: workflow.participant(target))[0] for _ in range(10))
    history = statistics.median(timed(lambda: workflow.history(target))[0] for _ in range(10))
    entries = workflow.history(target)
    database.dispose()
    if len(entries) != ENTRIES:
        raise AssertionError(f"history has {len(entries)} entries, expected {ENTRIES}")
    return show, history
