"""APScheduler 3.x decides when the sweep runs; the deadlines themselves are rows."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from workflow.clock import SystemClock
from workflow.errors import LpsError

if TYPE_CHECKING:
    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler

    from workflow.engine import Workflow
    from workflow.operations import Supervisor
    from workflow.sweep import SweepReport

__all__ = [
    "run_sweep_job",
    "sweep_once",
]


log = logging.getLogger("lps.scheduler")


def sweep_once(workflow: Workflow, supervisor: Supervisor | None = None) -> Any:
    """One sweep with a log line; errors are logged, never allowed to stop the scheduler.
    ``supervisor`` then updates the metrics and tells systemd."""
    timer = time.perf_counter()
    try:
        report = workflow.remind()
    except LpsError as error:
        log.error("sweep failed: %s", error, extra={"fields": {"event": "sweep_failed"}})
        if supervisor is not None:
            supervisor.after_sweep(workflow.runtime, None, str(error), time.perf_counter() - timer)
        return None
    log_sweep(log, report)
    if supervisor is not None:
        supervisor.after_sweep(workflow.runtime, report, None, report.seconds)
    return report


def log_sweep(logger: logging.Logger, report: SweepReport) -> None:
    """The sweep's line: its summary, and its counts as fields for a structured log."""
    fields = {
        "event": "sweep",
        "due": len(report.decisions),
        "queued": report.count("queued"),
        "fired": report.count("fired"),
        "skipped": report.count("skipped"),
        "dropped": report.count("dropped"),
        "digests": report.digests,
        "delivered": report.delivered,
        "retrying": report.retrying,
        "failed": report.failed,
        "seconds": round(report.seconds, 3),
        "delivery_stopped": report.delivery_stopped,
    }
    logger.info("sweep: %s", report.summary(), extra={"fields": fields})


def run_sweep_job(
    scheduler: BaseScheduler, workflow: Workflow, every: int, supervisor: Supervisor | None = None
) -> Job:
    """One interval job, run at once on start so that nothing missed while stopped is lost,
    never overlapping itself."""
    return scheduler.add_job(
        sweep_once,
        "interval",
        args=[workflow] if supervisor is None else [workflow, supervisor],
        seconds=every,
        id="lps-sweep",
        next_run_time=SystemClock().now(),
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
