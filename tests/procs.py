"""The real ``lps`` command in separate processes: started together behind a barrier, run in
the background, killed, and traced to the TCP connections they hold."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[1]
LPS_CODE = "from cli.main import main; main()"

# A child imports everything a step needs, says it is ready, and waits for the starting
# signal, so that the processes of a race hit the database within the same millisecond
# rather than one interpreter start-up apart.
RACER_CODE = """
import os, time
import cli.main, cli.advance, workflow.engine, workflow.machine
open(os.environ["LPS_TEST_READY"], "w").close()
go = os.environ["LPS_TEST_GO"]
while not os.path.exists(go):
    time.sleep(0.0005)
cli.main.main()
"""


def lps_command(*args: str) -> list[str]:
    """The argument vector that runs ``lps ARGS`` with this interpreter."""
    return [sys.executable, "-c", LPS_CODE, *args]


def lps_env(url: str, now: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any ``LPS_`` setting, plus the database, the clock
    and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LPS_")}
    env.update(
        LPS_DATABASE_URL=url,
        LPS_NOW=now,
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
        PYTHONIOENCODING="utf-8",
    )
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class Finished:
    """A finished ``lps`` process."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def run_lps(
    *args: str,
    url: str,
    now: str,
    cwd: Path,
    extra: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> Finished:
    """Run ``lps ARGS`` to the end in a new process."""
    done = subprocess.run(
        lps_command(*args),
        env=lps_env(url, now, extra),
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )
    return Finished(tuple(args), done.returncode, done.stdout, done.stderr)


def race(
    commands: Sequence[Sequence[str]],
    *,
    url: str,
    now: str,
    workdir: Path,
    extra: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> list[Finished]:
    """Start one process per command, let them all go at once, and wait for all of them.

    The results are in the order of ``commands``.
    """
    run_id = uuid.uuid4().hex[:8]
    go = workdir / f"go-{run_id}"
    ready = [workdir / f"ready-{run_id}-{i}" for i in range(len(commands))]
    procs: list[subprocess.Popen[str]] = []
    try:
        for flag, args in zip(ready, commands, strict=True):
            env = lps_env(url, now, extra)
            env.update(LPS_TEST_READY=str(flag), LPS_TEST_GO=str(go))
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", RACER_CODE, *args],
                    env=env,
                    cwd=workdir,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    encoding="utf-8",
                )
            )
        wait_until(
            lambda: (
                all(flag.exists() for flag in ready) or any(p.poll() is not None for p in procs)
            ),
            timeout=timeout,
            what="every racer to be ready",
        )
        go.touch()
        results = []
        for args, proc in zip(commands, procs, strict=True):
            out, err = proc.communicate(timeout=timeout)
            results.append(Finished(tuple(args), proc.returncode, out, err))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def start_lps(
    *args: str,
    url: str,
    now: str,
    cwd: Path,
    stdout: IO[bytes],
    stderr: IO[bytes],
    extra: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``lps ARGS`` in the background, its output going to the given files."""
    return subprocess.Popen(
        lps_command(*args),
        env=lps_env(url, now, extra),
        cwd=cwd,
        stdout=stdout,
        stderr=stderr,
    )


def wait_until(
    condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.02
) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds saying ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def _socket_inodes(local_port: int, remote_port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if int(local.rsplit(":", 1)[1], 16) == local_port and (
                int(remote.rsplit(":", 1)[1], 16) == remote_port
            ):
                inodes.add(inode)
    return inodes


def owner_of_connection(local_port: int, remote_port: int, pids: Iterable[int]) -> int | None:
    """Which of ``pids`` holds the TCP connection from ``local_port`` to ``remote_port`` now
    (Linux only; ``None`` when none of them does)."""
    targets = {f"socket:[{inode}]" for inode in _socket_inodes(local_port, remote_port)}
    if not targets:
        return None
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            descriptors = list(fd_dir.iterdir())
        except OSError:
            continue
        for fd in descriptors:
            try:
                if os.readlink(fd) in targets:
                    return pid
            except OSError:
                continue
    return None
