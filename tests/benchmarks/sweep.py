"""Benchmark 2, the sweep: ``Workflow.remind`` with an ``.eml`` channel.

- Nothing due, at 1,000 and at 100,000 active participants: the cost must not grow with the
  number of participants (under 100 ms of work). Floor: the bare indexed "what is due?" query
  through the driver. Measured twice: as the fixture comes (nobody overdue, so no digest this
  week), and with this week's admin digests already sent.
- 10,000 day-1 reminders due among the 100,000, rendered, queued and delivered to ``.eml``
  files (under 3 s). Floor: the same 10,000 messages, already built, written by the channel.
"""

from __future__ import annotations

import os
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.benchmarks.common import (
    Context,
    count,
    cpu_timed,
    instance,
    load,
    lps_command,
    lps_env,
    mail_folder,
    memory_disk,
    profiled,
    run_process,
    say,
    settle,
    timed,
)
from tests.benchmarks.fixtures import Bulk, Population, build, jti_invited, local, make_due

NAME = "sweep"
# A Friday: day 1 is Monday 1 March, so its reminder (D1-1, a Sunday) moved to Friday 09:00.
NOW_LOCAL = datetime(2027, 2, 26, 10, 0)
BASE = 1_000
NOTHING_DUE_TARGET = 0.100
DUE_TARGET = 3.0
REPEATS = 21


def population(participants: int) -> Population:
    return jti_invited(participants, max(1, participants // 25), local(NOW_LOCAL))


def fixture_key(participants: int) -> str:
    return f"sweep-{participants}"


def fixture(participants: int) -> Any:
    pop = population(participants)

    def make(url: str) -> None:
        build(url, pop)

    return make


def run(ctx: Context) -> None:
    big = ctx.scale.n(100_000)
    due = ctx.scale.n(10_000)
    say(
        f"\n## Sweep: nothing due at {BASE:,} and {big:,} participants; {due:,} messages due "
        f"({load()})"
    )
    for backend in ctx.backends:
        base = nothing_due(ctx, backend, BASE)
        large = nothing_due(ctx, backend, big)
        report = ctx.report
        for label, figures in (("as built", 0), ("digest already sent", 1)):
            small_s, large_s = base[figures], large[figures]
            report.add(NAME, backend, f"nothing due, {BASE:,} participants ({label})", small_s, "s")
            report.add(
                NAME,
                backend,
                f"nothing due, {big:,} participants ({label})",
                large_s,
                "s",
                target=f"< {NOTHING_DUE_TARGET:g} s",
                met=large_s < NOTHING_DUE_TARGET,
            )
            report.add(
                NAME,
                backend,
                f"nothing due: {big:,} / {BASE:,} ({label})",
                large_s / small_s,
                "x",
                target="flat (~1x)",
                met=large_s / small_s < 2.0,
            )
        report.add(
            NAME,
            backend,
            f"first sweep of the week (digest check), {big:,} participants",
            large[4],
            "s",
            note=f"at {BASE:,}: {base[4]:.3f}s",
        )
        report.add(NAME, backend, f"floor: due query alone, {big:,} participants", large[2], "s")
        report.add(NAME, backend, "nothing due / floor (as built)", large[0] / large[2], "x")
        report.add(NAME, backend, f"CLI once: lps remind, {big:,} participants", large[3], "s")
        due_run(ctx, backend, big, due)


def _sweeper(url: str, mail: Path) -> tuple[Any, Any]:
    from notifications.delivery import EmlChannel
    from workflow.clock import FixedClock
    from workflow.db import Database
    from workflow.engine import Workflow

    database = Database(url)
    database.check_schema()
    workflow = Workflow(database, clock=FixedClock(local(NOW_LOCAL)), actor="bench")
    return workflow, EmlChannel(mail)


def nothing_due(
    ctx: Context, backend: str, participants: int
) -> tuple[float, float, float, float, float]:
    """(median as built, median with digests sent, floor query, CLI wall, first sweep) in
    seconds."""
    with instance(ctx, backend, fixture_key(participants), fixture(participants)) as url:
        mail = ctx.folder("mail")
        workflow, channel = _sweeper(url, mail)

        def sweep_once() -> Any:
            return workflow.remind(channel=channel)

        first, result = timed(sweep_once)
        if result.decisions or result.delivered:
            raise AssertionError(f"expected nothing due, got: {result.summary()}")
        as_built = statistics.median(timed(sweep_once)[0] for _ in range(REPEATS))
        say(
            f"  {backend} {participants:,}: first sweep {first:.3f}s, then median {as_built:.3f}s;"
            f" digests queued: {result.digests}"
        )
        if ctx.profile and participants != BASE:
            with profiled(ctx, f"sweep, nothing due, {participants:,} ({backend})"):
                sweep_once()
        floor = statistics.median(_due_query(url) for _ in range(REPEATS))
        cli_s, done = run_process(
            [*lps_command(), "--actor", "bench", "remind"],
            lps_env(url, NOW_LOCAL.isoformat(timespec="minutes"), mail),
        )
        say(f"  lps remind: {done.stdout.strip()}")
        _digests_sent(url, workflow)
        after = statistics.median(timed(sweep_once)[0] for _ in range(REPEATS))
        if ctx.profile and participants != BASE:
            with profiled(ctx, f"sweep, nothing due, digest sent, {participants:,} ({backend})"):
                sweep_once()
        workflow.db.dispose()
    return as_built, after, floor, cli_s, first


def _due_query(url: str) -> float:
    """The one indexed question a flat sweep has to ask, through the driver."""
    from workflow.db import Database

    database = Database(url)
    raw = database.engine.raw_connection()
    mark = "?" if database.is_sqlite else "%s"
    moment: Any = local(NOW_LOCAL).replace(tzinfo=None)
    if database.is_sqlite:
        moment = moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    sql = (
        "SELECT * FROM deadlines WHERE status = 'pending' AND due_at <= "
        f"{mark} ORDER BY due_at, id LIMIT 500"
    )

    def query() -> int:
        cursor = raw.cursor()
        cursor.execute(sql, (moment,))
        rows = len(cursor.fetchall())
        cursor.close()
        return rows

    query()
    seconds, rows = timed(query)
    raw.close()
    database.dispose()
    assert rows == 0
    return seconds


def _digests_sent(url: str, workflow: Any) -> None:
    """This week's digest checked and sent for every administrator, as the first sweep after
    Monday 08:00 leaves it: the steady state of a scheduler that runs every few minutes."""
    from states.rules import digest_moment
    from workflow.sweep import EVERY_ADMIN

    monday, moment = digest_moment(workflow.now())
    with Bulk(url) as bulk:
        admins = [f"kursus{i}@kommune.dk" for i in range(10)]
        sent = bulk.moment(moment)
        bulk.insert(
            "outbox",
            (
                "key",
                "rule",
                "occurrence",
                "recipient_role",
                "recipient",
                "sender",
                "subject",
                "body_text",
                "body_html",
                "status",
                "attempts",
                "next_attempt_at",
                "created_at",
                "sent_at",
            ),
            [
                (
                    f"digest:{admin}:{monday.isoformat()}",
                    "admin_digest",
                    monday.isoformat(),
                    "admin",
                    admin,
                    "kursus@lps.invalid",
                    "Ugens overblik",
                    "-",
                    "-",
                    "sent",
                    1,
                    sent,
                    sent,
                    sent,
                )
                for admin in admins
            ],
            skip_existing=True,
        )
        bulk.insert(
            "digest_checks",
            ("admin_email", "week_of", "checked_at", "sent"),
            [(admin, bulk.day(monday), sent, True) for admin in [*admins, EVERY_ADMIN]],
            skip_existing=True,
        )


class TimedChannel:
    """The real ``.eml`` channel, with the time spent inside it added up."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.name = inner.name
        self.replaces_on_resend = inner.replaces_on_resend
        self.seconds = 0.0
        self.system = 0.0
        self.sent = 0

    def send(self, message: Any) -> None:
        system = os.times().system
        seconds, _ = timed(lambda: self.inner.send(message))
        self.system += os.times().system - system
        self.seconds += seconds
        self.sent += 1

    def flush(self) -> None:
        system = os.times().system
        seconds, _ = timed(self.inner.flush)
        self.system += os.times().system - system
        self.seconds += seconds

    def close(self) -> None:
        self.inner.close()


def due_run(ctx: Context, backend: str, participants: int, due: int) -> None:
    for on_memory in [False, True] if memory_disk() else [False]:
        _due_once(ctx, backend, participants, due, on_memory)


def _due_once(ctx: Context, backend: str, participants: int, due: int, on_memory: bool) -> None:
    where = ".eml on tmpfs" if on_memory else ".eml on disk"
    with (
        instance(ctx, backend, fixture_key(participants), fixture(participants)) as url,
        mail_folder(ctx, on_memory) as mail,
    ):
        make_due(url, "day_reminder", 1, due)
        workflow, channel = _sweeper(url, mail)
        _digests_sent(url, workflow)
        timed_channel = TimedChannel(channel)
        settle()
        seconds, cpu, result = cpu_timed(lambda: workflow.remind(channel=timed_channel))
        files = len(list(mail.glob("*.eml")))
        sent = count(
            url, "SELECT count(*) FROM outbox WHERE status = 'sent' AND rule != 'admin_digest'"
        )
        if result.count("queued") != due or files != due or sent != due:
            raise AssertionError(
                f"expected {due} messages: {result.summary()}; {files} files, {sent} sent"
            )
        # Into a fresh folder, not the emptied one: for some ten seconds after thousands of
        # files are deleted, ext4 looks past each recently deleted inode before it makes a
        # new file, which costs 0.4 ms of kernel time a file instead of 0.02 ms.
        with mail_folder(ctx, on_memory) as again:
            floor_s, floor_system = _channel_floor(workflow, again)
        workflow.db.dispose()
    report = ctx.report
    limit = DUE_TARGET * due / 10_000
    report.add(
        NAME,
        backend,
        f"{due:,} due: rendered, queued, delivered ({where})",
        seconds,
        "s",
        target=f"< {limit:g} s",
        met=seconds < limit,
        note=f"cpu {cpu:.1f}s in this process",
    )
    report.add(NAME, backend, f"{due:,} due: messages per second ({where})", due / seconds, "msg/s")
    report.add(
        NAME,
        backend,
        f"{due:,} due: of which in EmlChannel.send ({where})",
        timed_channel.seconds,
        "s",
        note=f"{timed_channel.system:.2f}s of it in the kernel",
    )
    report.add(
        NAME,
        backend,
        f"{due:,} due: all but EmlChannel.send ({where})",
        seconds - timed_channel.seconds,
        "s",
    )
    report.add(
        NAME,
        backend,
        f"floor: {due:,} built messages to EmlChannel ({where})",
        floor_s,
        "s",
        note=f"{floor_system:.2f}s of it in the kernel",
    )
    report.add(NAME, backend, f"{due:,} due / floor ({where})", seconds / floor_s, "x")
    if ctx.profile:
        with (
            instance(ctx, backend, fixture_key(participants), fixture(participants)) as url,
            mail_folder(ctx, on_memory) as mail,
        ):
            make_due(url, "day_reminder", 1, due)
            workflow, channel = _sweeper(url, mail)
            _digests_sent(url, workflow)
            with profiled(ctx, f"sweep, {due:,} due, {where} ({backend})"):
                workflow.remind(channel=channel)
            workflow.db.dispose()


def _channel_floor(workflow: Any, mail: Path) -> tuple[float, float]:
    """Write the messages the sweep sent once more, built beforehand, with a fresh channel;
    (wall seconds, of which in the kernel)."""
    from sqlalchemy import select

    from notifications.delivery import EmlChannel, OutgoingMail, compose
    from workflow.records import OUTBOX

    with workflow.db.reading() as conn:
        rows = conn.execute(select(OUTBOX).where(OUTBOX.c.status == "sent")).all()
    messages = [
        compose(
            OutgoingMail(
                key=row.key,
                rule=row.rule,
                sender=row.sender,
                recipient=row.recipient,
                subject=row.subject,
                text=row.body_text,
                html=row.body_html,
            ),
            date=workflow.now(),
        )
        for row in rows
        if row.rule != "admin_digest"
    ]
    channel = EmlChannel(mail)

    def write() -> None:
        for message in messages:
            channel.send(message)
        channel.close()

    settle()
    system = os.times().system
    seconds, _ = timed(write)
    return seconds, os.times().system - system
