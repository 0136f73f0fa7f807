"""Benchmark 5, start-up: ``lps --help`` against ``python -c "import click"``, medians of
interleaved runs."""

from __future__ import annotations

import sys

from tests.benchmarks.common import (
    Context,
    import_profile,
    interleaved_medians,
    load,
    lps_command,
    lps_env,
    say,
)

NAME = "startup"
RATIO_TARGET = 1.3


def run(ctx: Context) -> None:
    say(f"\n## Start-up: lps --help, median of {ctx.runs} runs ({load()})")
    env = lps_env()
    commands = {
        "floor": ([sys.executable, "-c", "import click"], env),
        "help": ([*lps_command(), "--help"], env),
        "advance-help": ([*lps_command(), "advance", "--help"], env),
    }
    medians = interleaved_medians(commands, ctx.runs)
    report = ctx.report
    floor = medians["floor"]
    report.add(
        NAME, "-", 'floor: python -c "import click"', floor.wall, "s", note=f"cpu {floor.cpu:.3f}s"
    )
    for name, label, target in (
        ("help", "lps --help", RATIO_TARGET),
        ("advance-help", "lps advance --help", None),
    ):
        timing = medians[name]
        report.add(NAME, "-", label, timing.wall, "s", note=f"cpu {timing.cpu:.3f}s")
        ratio = timing.wall / floor.wall
        report.add(
            NAME,
            "-",
            f"{label} / floor",
            ratio,
            "x",
            target=f"<= {target:g}x" if target else "",
            met=ratio <= target if target else None,
            note=f"cpu ratio {timing.cpu / floor.cpu:.2f}x",
        )
    if ctx.profile:
        say("\n--- imports of lps --help ---")
        say(import_profile(*commands["help"]))
        say("\n--- imports of the floor ---")
        say(import_profile(*commands["floor"]))
