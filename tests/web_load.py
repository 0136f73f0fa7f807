"""Many people submitting their links at once, against ``lps serve`` in its own process:
what the concurrency test and the web benchmark share."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import Workflow
from workflow.migrate import upgrade
from workflow.models import OUTBOX
from workflow.settings import Settings

REPO = Path(__file__).resolve().parents[1]
DAYS = [date(2027, 3, 1) + timedelta(days=14 * i) for i in range(5)]
NOW = datetime(2027, 1, 4, 10, 0)
_TOKEN = re.compile(r"/l/([A-Za-z0-9_-]+)")
_FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


@dataclass(frozen=True)
class Enrolled:
    """A participant with the tokens of their own and their manager's welcome link."""

    participant: int
    own: str
    managers: str


def enrolled(url: str, count: int, base: str, workdir: Path) -> list[Enrolled]:
    """A cohort in ``record`` mode with ``count`` participants imported, each welcome mail
    carrying its links to ``base``."""
    database = Database(url)
    upgrade(database)
    settings = Settings(mail_dir=workdir / "mail", base_url=base)
    wf = Workflow(database, clock=FixedClock(NOW), actor="load", settings=settings)
    wf.create_cohort(
        "L1",
        name="Load",
        days=DAYS,
        admin_email="kursus@kommune.dk",
        self_service="record",
        allow_holiday=True,
    )
    rows = ["navn,e-mail,kommune,nærmeste leder,leders e-mail"]
    rows += [f"P {i},p{i}@example.dk,Odense,M {i},m{i}@example.dk" for i in range(count)]
    wf.import_participants("L1", "\n".join(rows).encode())
    links: dict[int, dict[str, str]] = {}
    with database.reading() as conn:
        for row in conn.execute(
            select(OUTBOX.c.participant_id, OUTBOX.c.recipient_role, OUTBOX.c.body_text).where(
                OUTBOX.c.rule == "welcome"
            )
        ):
            found = _TOKEN.search(row.body_text)
            assert found is not None
            links.setdefault(row.participant_id, {})[row.recipient_role] = found.group(1)
    database.dispose()
    return [Enrolled(pid, both["participant"], both["manager"]) for pid, both in links.items()]


def serve_env(url: str, base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LPS_")}
    env.update(
        LPS_DATABASE_URL=url,
        LPS_NOW=NOW.isoformat(),
        LPS_BASE_URL=base,
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
    )
    return env


@contextmanager
def served(argv: Sequence[str], env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    """Run a server process (``lps serve`` or a floor) until the block ends; yields its URL."""
    with log.open("wb") as out:
        proc = subprocess.Popen(list(argv), env=env, cwd=REPO, stdout=out, stderr=out)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the server stopped: {log.read_text()[-2000:]}")
                try:
                    httpx.get(base + "/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def lps_serve(port: int) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from cli.main import main; main()",
        "serve",
        "--port",
        str(port),
        "--rate",
        "0",
    ]


@dataclass
class Outcome:
    """What the clients saw: each response's status, and each submission's latency."""

    statuses: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0


async def _submit(
    client: httpx.AsyncClient, token: str, limit: asyncio.Semaphore, seen: Outcome
) -> None:
    async with limit:
        started = time.perf_counter()
        page = await client.get(f"/l/{token}")
        seen.statuses.append(page.status_code)
        found = _FORM_TOKEN.search(page.text)
        if found is not None:
            form = {
                "on": NOW.date().isoformat(),
                "goals": "Lede møder",
                "form_token": found.group(1),
            }
            posted = await client.post(f"/l/{token}", data=form)
            seen.statuses.append(posted.status_code)
        seen.latencies.append(time.perf_counter() - started)


def submit_all(base: str, tokens: Sequence[str], clients: int) -> Outcome:
    """Open and submit every link, ``clients`` at a time, each on its own connection."""
    seen = Outcome()

    async def main() -> None:
        limit = asyncio.Semaphore(clients)
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=300) as client:
            await asyncio.gather(*(_submit(client, t, limit, seen) for t in tokens))

    started = time.perf_counter()
    asyncio.run(main())
    seen.seconds = time.perf_counter() - started
    return seen
