"""``lps scheduler run``: the sweep on an interval, in the foreground."""

from __future__ import annotations

import logging
import signal
from types import FrameType

import click

from cli.app import App


@click.group()
def scheduler() -> None:
    """Run the sweep on a schedule in the foreground."""


@scheduler.command("run")
@click.option(
    "--every",
    type=click.IntRange(min=1),
    default=60,
    show_default=True,
    help="Seconds between sweeps.",
)
@click.pass_obj
def run(app: App, every: int) -> None:
    """Sweep now, then every --every seconds, until SIGINT or SIGTERM."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from workflow.scheduling import run_sweep_job

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    workflow = app.workflow()
    blocking = BlockingScheduler(timezone="Europe/Copenhagen")
    job = run_sweep_job(blocking, workflow, every)

    def stop(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("lps.scheduler").info("stopping on signal %s", signum)
        blocking.shutdown(wait=False)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    logging.getLogger("lps.scheduler").info(
        "sweeping %s every %ss (job %s)", workflow.db.display_url, every, job.id
    )
    blocking.start()
