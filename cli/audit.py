"""``lps audit``."""

from __future__ import annotations

import click

from cli.app import App, LpsClickError


@click.group()
def audit() -> None:
    """Verify the hash-chained audit trail."""


@audit.command("verify")
@click.pass_obj
def verify(app: App) -> None:
    """Check every participant's chain and replay it to their current state; exit 1 on any
    edited, deleted or inserted entry."""
    from cli.progress import progress_bar

    workflow = app.workflow()
    with progress_bar("Verifying") as advance:
        report = workflow.verify_audit(progress=advance)
    if not report.ok:
        raise LpsClickError([str(problem) for problem in report.problems])
    click.echo(
        f"Audit trail intact: {report.entries} entries of {report.participants} participants "
        "verified and replayed."
    )
