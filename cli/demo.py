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
    from workflow.clock import clock_from_env
    from workflow.demo import run_demo
    from workflow.engine import Workflow, default_channel

    channel = default_channel()
    end = clock_from_env().now()
    code = run_demo(
        app.url,
        end=end,
        narrate=(lambda line: None) if quiet else click.echo,
        actor=app.actor or "demo",
    )
    workflow = Workflow.open(app.url, actor=app.actor)
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
