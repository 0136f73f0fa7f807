"""Benchmark 7, the self-service pages: throughput and p50/p95/p99 latency of opening a link
(GET) and submitting its form (POST) on ``lps serve``, measured with wrk, next to
Starlette's own hello world on uvicorn on the same machine as the floor."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import httpx

from tests.benchmarks.common import Context, load, postgres_schema, say
from tests.web_load import NOW, enrolled, lps_serve, serve_env, served

NAME = "web"
SCRIPT = Path(__file__).with_name("web.lua")
THREADS = 2
CONNECTIONS = 50
SECONDS = 10
_RESULT = re.compile(r"RESULT (.*)")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wrk(url: str, lines: Path | None = None, seconds: int = SECONDS) -> dict[str, float]:
    """Run wrk against ``url`` (POSTing the lines of ``lines`` if given); its figures."""
    argv = [
        "wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "30s",
        "-s",
        str(SCRIPT),
        url,
    ]
    if lines is not None:
        argv += ["--", str(lines), str(THREADS)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    found = _RESULT.search(out)
    assert found is not None, out
    figures = {k: float(v) for k, v in (pair.split("=") for pair in found.group(1).split())}
    figures["rps"] = figures["requests"] / figures["seconds"]
    return figures


def _report(ctx: Context, backend: str, label: str, figures: dict[str, float]) -> None:
    note = (
        f"{figures['requests']:.0f} requests, {figures['non2xx']:.0f} non-2xx, "
        f"{figures['errors']:.0f} errors"
    )
    ctx.report.add(NAME, backend, f"{label}: throughput", figures["rps"], "req/s", note=note)
    for p in ("p50", "p95", "p99"):
        ctx.report.add(NAME, backend, f"{label}: {p}", figures[p] / 1000, "ms")


def run(ctx: Context) -> None:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is missing: apt-get install -y wrk")
    say(
        f"\n## Self-service pages: wrk -t{THREADS} -c{CONNECTIONS} -d{SECONDS}s, one uvicorn "
        f"process ({load()})"
    )
    port = _free_port()
    floor = [
        sys.executable,
        "-m",
        "uvicorn",
        "tests.benchmarks.hello:app",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with served(floor, serve_env("sqlite://", ""), port, ctx.workdir / "hello.log") as base:
        hello = ctx.workdir / "hello-posts.txt"
        hello.write_text("/\tname=x\n")
        _report(ctx, "-", "floor: hello world GET", wrk(base + "/"))
        _report(ctx, "-", "floor: hello world POST (form)", wrk(base + "/", hello))
    for backend in ctx.backends:
        if backend == "postgres":
            with postgres_schema() as url:
                _measure(ctx, backend, url)
        else:
            _measure(ctx, backend, f"sqlite:///{ctx.folder('web')}/lps.db")


def _measure(ctx: Context, backend: str, url: str) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    count = ctx.scale.n(6000, 300)
    people = enrolled(url, count, base, ctx.folder("web-mail"))
    with served(lps_serve(port), serve_env(url, base), port, ctx.workdir / "serve.log"):
        _report(ctx, backend, "open a link (GET)", wrk(f"{base}/l/{people[0].own}"))
        posts = ctx.workdir / f"posts-{backend}.txt"
        with httpx.Client(base_url=base) as client, posts.open("w") as out:
            for person in people[1:]:
                page = client.get(f"/l/{person.own}").text
                token = page.split('name="form_token" value="')[1].split('"')[0]
                body = urlencode(
                    {"on": NOW.date().isoformat(), "goals": "Lede møder", "form_token": token}
                )
                out.write(f"/l/{person.own}\t{body}\n")
        figures = wrk(base, posts)
        _report(ctx, backend, "submit a link's form (POST)", figures)
        if figures["requests"] > len(people) - 1:
            say(f"  ({figures['requests'] - len(people) + 1:.0f} POSTs reused a link: 409s)")
