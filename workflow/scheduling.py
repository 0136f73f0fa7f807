"""APScheduler 3.x decides when the sweep runs; the deadlines themselves are rows."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from workflow.clock import SystemClock
from workflow.errors import LpsError

if TYPE_CHECKING:
    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler

    from workflow.engine import Workflow

__all__ = [
    "run_sweep_job",
    "sweep_once",
]


log = logging.getLogger("lps.scheduler")


def sweep_once(workflow: Workflow) -> Any:
    """One sweep with a log line; errors are logged, never allowed to stop the scheduler."""
    try:
        report = workflow.remind()
    except LpsError as error:
        log.error("sweep failed: %s", error)
        return None
    log.info("sweep: %s", report.summary())
    return report


def run_sweep_job(scheduler: BaseScheduler, workflow: Workflow, every: int) -> Job:
    """One interval job, run at once on start so that nothing missed while stopped is lost,
    never overlapping itself."""
    return scheduler.add_job(
        sweep_once,
        "interval",
        args=[workflow],
        seconds=every,
        id="lps-sweep",
        next_run_time=SystemClock().now(),
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
