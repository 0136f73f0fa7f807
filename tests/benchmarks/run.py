"""Run the benchmarks of ``lps`` and print every figure next to its target.

    python -m tests.benchmarks.run [--only NAME] [--postgres] [--scale small|full]
    python tests/benchmarks/run.py ...

Benchmarks: bulk (bulk step), sweep, import, lookups, startup, memory, web, migrate. Each runs
on SQLite; bulk, sweep, lookups, web and migrate also on PostgreSQL with ``--postgres`` (a
schema of its own, dropped afterwards). ``--scale small`` divides the sizes by ten for a quick
check.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCHMARKS = {
    "bulk": "tests.benchmarks.bulk",
    "sweep": "tests.benchmarks.sweep",
    "import": "tests.benchmarks.importing",
    "lookups": "tests.benchmarks.lookups",
    "startup": "tests.benchmarks.startup",
    "memory": "tests.benchmarks.memory",
    "web": "tests.benchmarks.web",
    "migrate": "tests.benchmarks.migration",
}
POSTGRES_CAPABLE = {"bulk", "sweep", "lookups", "web", "migrate"}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also run bulk, sweep, lookups and migrate on PostgreSQL (LPS_TEST_POSTGRES_URL, "
        "default "
        "postgresql://postgres@127.0.0.1:5432/test)",
    )
    parser.add_argument(
        "--no-sqlite",
        action="store_true",
        help="with --postgres: run bulk, sweep and lookups on PostgreSQL only",
    )
    parser.add_argument("--scale", choices=("small", "full"), default="full")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile the engine's part of each benchmark (cProfile, -X importtime)",
    )
    parser.add_argument(
        "--runs", type=int, default=10, help="runs per subprocess timing (median; default 10)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure as JSON")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temporary one)")
    return parser.parse_args(argv)


def machine() -> dict[str, Any]:
    memory = ""
    try:
        with open("/proc/meminfo") as handle:
            memory = handle.readline().split(":", 1)[1].strip()
    except OSError:
        pass
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")),
                cpu,
            )
    except OSError:
        pass
    import subprocess

    root = Path(__file__).resolve().parents[2]
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
    ).stdout.strip()
    return {
        "commit": head or "unknown",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
    }


def main(argv: list[str] | None = None) -> int:
    from tests.benchmarks.common import (
        BYTECODE,
        SCALES,
        Context,
        Report,
        postgres_unavailable,
        say,
    )

    args = parse(argv)
    names = args.only or list(BENCHMARKS)
    backends: tuple[str, ...] = ("sqlite",)
    if args.postgres:
        reason = postgres_unavailable()
        if reason:
            say(f"--postgres: {reason}")
            return 2
        backends = ("postgres",) if args.no_sqlite else ("sqlite", "postgres")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="lps-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    BYTECODE["dir"] = workdir / "pycache"
    meta = {"scale": args.scale, "backends": backends, **machine()}
    say("lps benchmarks: " + ", ".join(f"{k}={v}" for k, v in meta.items()))
    report = Report()
    started = time.perf_counter()
    failed: list[str] = []
    templates: dict[str, Path] = {}
    try:
        for name in names:
            ctx = Context(
                scale=SCALES[args.scale],
                backends=backends if name in POSTGRES_CAPABLE else ("sqlite",),
                workdir=workdir,
                report=report,
                profile=args.profile,
                runs=args.runs,
                templates=templates,
            )
            module = importlib.import_module(BENCHMARKS[name])
            try:
                module.run(ctx)
            except Exception as exc:  # one broken benchmark must not hide the others' figures
                import traceback

                traceback.print_exc()
                failed.append(f"{name}: {type(exc).__name__}: {exc}")
    finally:
        for template in templates.values():
            template.unlink(missing_ok=True)
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    say("\n# Summary" + report.summary())
    say(f"\n{len(report.figures)} figures in {time.perf_counter() - started:.0f}s")
    if failed:
        say("Failed: " + "; ".join(failed))
    if args.json:
        report.dump(args.json, meta)
    return 1 if failed else 0


if __name__ == "__main__":
    if not __package__:
        # Run as a file: import from the repository, not from this folder.
        sys.path[0] = str(Path(__file__).resolve().parents[2])
    sys.exit(main())
