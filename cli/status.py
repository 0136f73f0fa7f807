"""``lps status`` and ``lps health``: how the scheduler is doing, for a person and for a
monitoring system."""

from __future__ import annotations

from datetime import timedelta

import click

from cli.app import App
from cli.output import echo_json, json_option, local, table


@click.command()
@click.option(
    "--sweeps",
    "limit",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="How many of the last sweeps to show.",
)
@json_option()
@click.pass_obj
def status(app: App, limit: int, as_json: bool) -> None:
    """The last sweeps, the outbox and deadlines waiting.

    Shows the last sweeps, the outbox's backlog and failures, and the oldest due deadline
    that no sweep has handled yet.
    """
    report = app.workflow().status(limit)
    if as_json:
        echo_json(report.as_dict())
        return
    if report.sweeps:
        table(
            [
                "started",
                "seconds",
                "due",
                "queued",
                "fired",
                "delivered",
                "retrying",
                "failed",
                "error",
            ],
            [
                (
                    local(s.started_at),
                    f"{s.seconds:.2f}",
                    s.due,
                    s.queued,
                    s.fired,
                    s.delivered,
                    s.retrying,
                    s.failed,
                    s.error or "",
                )
                for s in report.sweeps
            ],
            title="Last sweeps (newest first)",
        )
    else:
        click.echo("No sweep recorded yet: run `lps remind` or `lps scheduler run`.")
    oldest = f", the oldest since {local(report.oldest_queued)}" if report.oldest_queued else ""
    click.echo(
        f"Outbox: {report.queued} queued ({report.queued_due} due now){oldest}; "
        f"{report.failed} failed."
    )
    waiting = report.oldest_due
    if waiting is None:
        click.echo("Deadlines: none is due and waiting for a sweep.")
    else:
        click.echo(
            f"Deadlines: {report.deadlines_due} due wait for a sweep, the oldest "
            f"{waiting.rule} #{waiting.occurrence} for #{waiting.participant_id} "
            f"{waiting.email}, due {local(waiting.due_at)}."
        )


@click.command()
@click.option(
    "--warn-after",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Minutes since the last sweep after which it is a warning.",
)
@click.option(
    "--critical-after",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help="Minutes since the last sweep after which it is critical.",
)
@click.option(
    "--warn-failed",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Failed messages from which on it is a warning.",
)
@click.option(
    "--critical-failed",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Failed messages from which on it is critical.",
)
@click.option(
    "--smtp-timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the SMTP server (when LPS_SMTP_URL is set).",
)
@click.pass_context
def health(
    ctx: click.Context,
    warn_after: int,
    critical_after: int,
    warn_failed: int,
    critical_failed: int,
    smtp_timeout: float,
) -> None:
    """Check the scheduler for a monitoring system (exit 0, 1 or 2).

    Check the database, the last sweep's age, failed messages and the SMTP server; one
    line, and exit 0 (ok), 1 (warning) or 2 (critical), as monitoring plugins do.
    """
    from workflow.errors import LpsError
    from workflow.operations import Thresholds, database_unreachable

    app: App = ctx.obj
    if critical_after < warn_after:
        raise click.BadParameter(
            "must not be less than --warn-after", param_hint="--critical-after"
        )
    if critical_failed < warn_failed:
        raise click.BadParameter(
            "must not be less than --warn-failed", param_hint="--critical-failed"
        )
    thresholds = Thresholds(
        sweep_age_warning=timedelta(minutes=warn_after),
        sweep_age_critical=timedelta(minutes=critical_after),
        failed_warning=warn_failed,
        failed_critical=critical_failed,
        smtp_timeout=smtp_timeout,
    )
    try:
        checked = app.workflow().health(thresholds)
    except LpsError as error:
        checked = database_unreachable(str(error))
    click.echo(checked.line())
    ctx.exit(checked.level)
