"""``lps demo``."""

from __future__ import annotations

import click

from cli.app import App, LpsUsageError
from cli.output import table


@click.command()
@click.option("--quiet", is_flag=True, help="Print only the summary.")
@click.option("--smtp", is_flag=True, help="Send the demo's mail to LPS_SMTP_URL.")
@click.pass_obj
def demo(app: App, quiet: bool, smtp: bool) -> None:
    """Walk a demo cohort through the programme, ending today.

    Creates the database if needed. Every address is at example.org, reserved for examples.
    Mail goes to .eml files under LPS_MAIL_DIR (default ./outbox); only with --smtp to the
    server in LPS_SMTP_URL. If the database already holds the demo cohort, says so, adds
    nothing, and exits 0.
    """
    from dataclasses import replace

    from workflow.demo import DemoExists, run_demo
    from workflow.settings import describe_channel

    settings = app.settings
    if smtp and not settings.smtp_url:
        raise LpsUsageError(["--smtp sends the demo's mail to LPS_SMTP_URL, which is not set"])
    channel = (settings if smtp else replace(settings, smtp_url=None)).channel()
    try:
        code = run_demo(
            app.url,
            end=app.clock().now(),
            narrate=(lambda line: None) if quiet else click.echo,
            channel=channel,
            actor=app.actor or "demo",
            settings=settings,
        )
    except DemoExists as exists:
        click.echo(str(exists))
        return
    views = app.workflow().participants(cohort=code)
    click.echo("")
    table(
        ["id", "name", "state", "outstanding"],
        [(v.id, v.name, v.state, ", ".join(v.outstanding) or "-") for v in views],
        title=f"Cohort {code} today",
    )
    click.echo("")
    unused = (
        ""
        if smtp or not settings.smtp_url
        else (" (not LPS_SMTP_URL: add --smtp to send the demo's mail there)")
    )
    click.echo(f"Messages: {describe_channel(channel)}{unused}")
    first = views[0].id if views else 1
    click.echo(f"Try: lps participant show {first}   lps history {first}   lps outbox list")
