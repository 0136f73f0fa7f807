"""What every benchmark shares: where it runs (SQLite files, PostgreSQL schemas), how it
times things, how it reports a figure next to its target, and how it profiles a miss."""

from __future__ import annotations

import contextlib
import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_URL = os.environ.get("LPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgres")


# -- scale, figures and the report -------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """``full`` is the issue's sizes; ``small`` divides them by ten for a quick check."""

    name: str
    factor: float

    def n(self, full: int, minimum: int = 1) -> int:
        return max(minimum, round(full * self.factor))


SCALES = {"full": Scale("full", 1.0), "small": Scale("small", 0.1)}


@dataclass
class Figure:
    benchmark: str
    backend: str
    label: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None
    note: str = ""

    def line(self) -> str:
        value = f"{self.value:,.0f}" if abs(self.value) >= 100 else f"{self.value:.4g}"
        verdict = ""
        if self.met is not None:
            verdict = "  met" if self.met else "  MISSED"
        target = f"  (target {self.target})" if self.target else ""
        note = f"  [{self.note}]" if self.note else ""
        return (
            f"{self.backend:<8} {self.label:<52} {value:>14} {self.unit:<10}{target}{verdict}{note}"
        )


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)

    def add(
        self,
        benchmark: str,
        backend: str,
        label: str,
        value: float,
        unit: str,
        *,
        target: str = "",
        met: bool | None = None,
        note: str = "",
    ) -> Figure:
        figure = Figure(benchmark, backend, label, value, unit, target, met, note)
        self.figures.append(figure)
        say(figure.line())
        return figure

    def summary(self) -> str:
        lines = []
        current = None
        for figure in self.figures:
            if figure.benchmark != current:
                current = figure.benchmark
                lines.append(f"\n== {current}")
            lines.append(figure.line())
        return "\n".join(lines)

    def dump(self, path: Path, meta: dict[str, Any]) -> None:
        path.write_text(
            json.dumps({"meta": meta, "figures": [asdict(f) for f in self.figures]}, indent=2)
        )


def say(text: str = "") -> None:
    print(text, flush=True)


@dataclass
class Context:
    """What a benchmark is given: the scale, the backends, a scratch folder and the report."""

    scale: Scale
    backends: tuple[str, ...]
    workdir: Path
    report: Report
    profile: bool = False
    runs: int = 10
    templates: dict[str, Path] = field(default_factory=dict)

    def folder(self, name: str, root: Path | None = None) -> Path:
        path = (root or self.workdir) / f"{name}-{uuid.uuid4().hex[:6]}"
        path.mkdir(parents=True)
        return path


MEMORY_DISK = Path("/dev/shm")


@contextlib.contextmanager
def mail_folder(ctx: Context, on_memory: bool) -> Iterator[Path]:
    """Where ``.eml`` files go: the scratch folder on disk, or a folder on a memory-backed file
    system (where fsync costs nothing), removed afterwards."""
    if not on_memory:
        yield ctx.folder("mail")
        return
    path = ctx.folder("lps-bench-mail", MEMORY_DISK)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def memory_disk() -> bool:
    return MEMORY_DISK.is_dir() and os.access(MEMORY_DISK, os.W_OK)


# -- timing -------------------------------------------------------------------------------------


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def lps_command() -> list[str]:
    """The installed ``lps`` console script next to this interpreter, or an equivalent."""
    script = Path(sys.executable).parent / "lps"
    if script.exists():
        return [str(script)]
    return [
        sys.executable,
        "-c",
        "import sys; from cli.main import main; sys.argv[0]='lps'; main()",
    ]


# Where the subprocesses keep their bytecode. An inherited PYTHONDONTWRITEBYTECODE would have
# every run compile the project's modules from source (site-packages ship compiled), which no
# installed lps does; a cache of our own keeps the tree clean and the runs honest.
BYTECODE: dict[str, Path] = {}


def lps_env(
    url: str | None = None, now: str | None = None, mail: Path | None = None
) -> dict[str, str]:
    """The environment for a measured subprocess (``lps`` or its floor): no LPS_ settings but
    the given ones, and bytecode written to and read from the benchmark's own cache."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LPS_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    if "dir" in BYTECODE:
        env["PYTHONPYCACHEPREFIX"] = str(BYTECODE["dir"])
    if url is not None:
        env["LPS_DATABASE_URL"] = url
    if now is not None:
        env["LPS_NOW"] = now
    if mail is not None:
        env["LPS_MAIL_DIR"] = str(mail)
    return env


def run_process(
    argv: Sequence[str], env: dict[str, str] | None = None, *, check: bool = True
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run a command to completion; returns (wall seconds, result)."""
    started = time.perf_counter()
    done = subprocess.run(
        list(argv), env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if check and done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {done.returncode}:\n"
            f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return seconds, done


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Timing:
    """Median wall-clock and CPU (user + system) seconds of a command."""

    wall: float
    cpu: float


def interleaved_medians(
    commands: Mapping[str, tuple[list[str], dict[str, str] | None]], runs: int
) -> dict[str, Timing]:
    """Median wall and CPU time of each command, run in turns so that a disturbance hits all
    alike; one warm-up run each first (file cache, .pyc). CPU time is the steadier figure
    when other work shares the machine."""
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for argv, env in commands.values():
        run_process(argv, env)
    for _ in range(runs):
        for name, (argv, env) in commands.items():
            before = children_cpu()
            seconds, _ = run_process(argv, env)
            walls[name].append(seconds)
            cpus[name].append(children_cpu() - before)
    return {name: Timing(median(walls[name]), median(cpus[name])) for name in commands}


def cpu_timed(action: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, this process's CPU seconds, result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} on {os.cpu_count()} cores"


# -- profiles -------------------------------------------------------------------------------------


@contextlib.contextmanager
def profiled(ctx: Context, label: str, top: int = 25) -> Iterator[None]:
    """Profile the block with cProfile; print the top entries by cumulative time and keep the
    full listing under the scratch folder."""
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out).sort_stats("cumulative")
        stats.print_stats(top)
        by_self = io.StringIO()
        pstats.Stats(profile, stream=by_self).sort_stats("tottime").print_stats(15)
        say(f"\n--- profile: {label} (top {top} by cumulative time) ---")
        say(_trim(out.getvalue()))
        say(f"--- profile: {label} (top 15 by own time) ---")
        say(_trim(by_self.getvalue()))


def _trim(listing: str) -> str:
    lines = listing.splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join(line.replace(str(ROOT) + "/", "") for line in lines[start:] if line.strip())


DETAILED = {"workflow", "states", "notifications", "cli", "sqlalchemy", "transitions", "jinja2"}


def import_profile(argv: Sequence[str], env: dict[str, str] | None, top: int = 20) -> str:
    """The heaviest packages a command imports, from ``-X importtime``: each package's
    cumulative import time (nested packages are counted within their importer too)."""
    command = list(argv)
    if command[0] != sys.executable:
        command = [sys.executable, *command]
    command[1:1] = ["-X", "importtime"]
    _, done = run_process(command, env, check=False)
    packages: dict[str, int] = {}
    total = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, raw = line.removeprefix("import time:").split("|")
        name = raw.strip()
        if len(raw) - len(raw.lstrip()) == 1:
            total += int(cumulative)
        root = name.split(".")[0]
        if ("." not in name and not name.startswith("_")) or (
            root in DETAILED and name.count(".") <= 2
        ):
            packages[name] = max(packages.get(name, 0), int(cumulative))
    shown = sorted(packages.items(), key=lambda item: -item[1])[:top]
    body = "\n".join(f"  {us / 1000:8.1f} ms  {name}" for name, us in shown)
    return f"  all imports: {total / 1000:.1f} ms\n{body}"


# -- databases ------------------------------------------------------------------------------------


def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used, or ``None``."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means there is no server to measure
        text = str(exc).strip()
        return (
            f"PostgreSQL not reachable at {POSTGRES_URL}: {text.splitlines()[0] if text else exc}"
        )
    return None


def migrate(url: str) -> None:
    from workflow.db import Database
    from workflow.migrate import upgrade

    database = Database(url)
    try:
        upgrade(database)
    finally:
        database.dispose()


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A new, empty PostgreSQL schema with the lps tables; dropped afterwards."""
    import psycopg

    schema = f"lps_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextlib.contextmanager
def instance(ctx: Context, backend: str, key: str, build: Callable[[str], None]) -> Iterator[str]:
    """A database holding fixture ``key``, for one measurement that may change it.

    On SQLite the fixture is built once into a template file and each instance is a copy;
    on PostgreSQL each instance is built into its own schema, dropped afterwards.
    """
    if backend == "postgres":
        with postgres_schema() as url:
            seconds, _ = timed(lambda: build(url))
            say(f"  (built {key} on postgres in {seconds:.1f}s)")
            yield url
        return
    template = ctx.templates.get(key)
    if template is None:
        template = ctx.workdir / f"template-{key}.db"
        url = f"sqlite:///{template}"
        migrate(url)
        seconds, _ = timed(lambda: build(url))
        checkpoint(template)
        size = template.stat().st_size / 1e6
        say(f"  (built {key} on sqlite in {seconds:.1f}s, {size:.0f} MB)")
        ctx.templates[key] = template
    copy = ctx.workdir / f"{key}-{uuid.uuid4().hex[:6]}.db"
    shutil.copyfile(template, copy)
    settle()
    try:
        yield f"sqlite:///{copy}"
    finally:
        _remove_sqlite(copy)


def settle() -> None:
    """Write back what the set-up left unwritten (a fixture copied, the last one deleted), so
    that the disk's catching up with it is not timed as the next measurement's: a benchmark
    that syncs (a sweep's .eml files, a checkpoint of the WAL) would otherwise wait for the
    hundreds of megabytes of the copy."""
    os.sync()


def checkpoint(path: Path) -> None:
    """Fold the WAL into the database file so that a plain file copy is complete."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def count(url: str, sql: str, params: Sequence[Any] = ()) -> int:
    """One number from the database, through the driver (no engine code involved)."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(url))
        try:
            return int(conn.execute(sql, tuple(params)).fetchone()[0])
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(url) as pg:
        row = pg.execute(sql.replace("?", "%s"), tuple(params)).fetchone()
        assert row is not None
        return int(row[0])


def verdict(value: float, limit: float, *, below: bool = True) -> bool:
    return value <= limit if below else value >= limit
