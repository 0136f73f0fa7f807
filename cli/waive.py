"""``lps waive``."""

from __future__ import annotations

import click

from cli.app import App


@click.command()
@click.argument("participant")
@click.argument("obligation")
@click.option(
    "--reason", required=True, help="Why the obligation is waived (recorded in the audit trail)."
)
@click.pass_obj
def waive(app: App, participant: str, obligation: str, reason: str) -> None:
    """Waive a participant's obligation, with a reason."""
    result = app.workflow().waive(participant, obligation, reason)
    view = result.participant
    for entry in result.entries:
        if entry.event == "waive":
            click.echo(f"#{view.id} {view.name}: {entry.data['obligation']} waived ({entry.note}).")
        else:
            click.echo(
                f"#{view.id} {view.name}: {entry.event}: {entry.from_state} → {entry.to_state}"
            )
    for notice in result.notifications:
        click.echo(f"queued {notice}")
