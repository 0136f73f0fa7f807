"""``lps scheduler run``: the sweep on an interval, in the foreground."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType

import click

from cli.app import App, LpsClickError
from cli.logs import log_format_option, logging_to_stderr


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
@click.option(
    "--metrics-port",
    type=click.IntRange(min=0, max=65535),
    default=None,
    help="Serve Prometheus metrics over HTTP on this port (0: any free port), at /metrics.",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="The address the metrics are served on.",
)
@click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the metrics to this file after each sweep (for the node exporter's "
    "textfile collector).",
)
@log_format_option
@click.pass_obj
def run(
    app: App,
    every: int,
    metrics_port: int | None,
    metrics_host: str,
    metrics_file: Path | None,
    log_format: str,
) -> None:
    """Sweep now, then every --every seconds, until SIGINT or SIGTERM.

    Under systemd (Type=notify) it reports READY=1 after the first sweep, WATCHDOG=1 after
    each, and the last sweep as its STATUS."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from workflow.scheduling import run_sweep_job

    if metrics_file is not None and not metrics_file.parent.is_dir():
        raise LpsClickError(
            [f"--metrics-file: directory {metrics_file.parent} does not exist; create it first"]
        )
    with logging_to_stderr(log_format):
        log = logging.getLogger("lps.scheduler")
        workflow = app.workflow()
        supervisor = workflow.supervisor(
            metrics=metrics_port is not None, metrics_file=metrics_file
        )
        if metrics_port is not None:
            try:
                port = supervisor.serve_metrics(metrics_host, metrics_port)
            except OSError as exc:
                raise LpsClickError(
                    [f"cannot serve metrics on {metrics_host}:{metrics_port}: {exc.strerror}"]
                ) from None
            log.info(
                "metrics on http://%s:%s/metrics",
                metrics_host,
                port,
                extra={"fields": {"event": "metrics", "port": port}},
            )
        blocking = BlockingScheduler(timezone="Europe/Copenhagen")
        job = run_sweep_job(blocking, workflow, every, supervisor)

        def stop(signum: int, frame: FrameType | None) -> None:
            log.info("stopping on signal %s", signum)
            blocking.shutdown(wait=False)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        log.info("sweeping %s every %ss (job %s)", workflow.db.display_url, every, job.id)
        try:
            blocking.start()
        finally:
            supervisor.stopping()
