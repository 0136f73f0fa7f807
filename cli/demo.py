"""``lps demo``."""

from __future__ import annotations

import click

from cli.app import App
from cli.output import table


@click.command()
@click.option("--quiet", is_flag=True, help="Print only the summary.")
@click.pass_obj
def demo(app: App, quiet: bool) -> None:
    """Create a demo cohort and walk it through the programme, ending today.

    Creates the database if needed. Mail goes to LPS_SMTP_URL when set, otherwise to .eml
    files under LPS_MAIL_DIR (default ./outbox).
    """
    from notifications.delivery import describe_channel
    from workflow.demo import run_demo

    settings = app.settings
    channel = settings.channel()
    code = run_demo(
        app.url,
        end=settings.clock().now(),
        narrate=(lambda line: None) if quiet else click.echo,
        actor=app.actor or "demo",
        settings=settings,
    )
    workflow = app.workflow()
    views = workflow.participants(cohort=code)
    click.echo("")
    table(
        ["id", "name", "state", "outstanding"],
        [(v.id, v.name, v.state, ", ".join(v.outstanding) or "-") for v in views],
        title=f"Cohort {code} today",
    )
    click.echo("")
    click.echo(f"Messages: {describe_channel(channel)}")
    first = views[0].id if views else 1
    click.echo(f"Try: lps participant show {first}   lps history {first}   lps outbox list")
