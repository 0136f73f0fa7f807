"""``lps outbox``: what was, and will be, sent."""

from __future__ import annotations

import click

from cli.app import App
from cli.output import echo_json, local, table


@click.group()
def outbox() -> None:
    """List and retry outgoing messages."""


@outbox.command("list")
@click.option("--status", type=click.Choice(["pending", "sent", "failed", "dropped"]))
@click.option("--limit", type=int, default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def list_(app: App, status: str | None, limit: int, as_json: bool) -> None:
    """Messages, newest first."""
    views = app.workflow().outbox(status, limit)
    if as_json:
        echo_json([v.as_json() for v in views])
        return
    table(
        ["id", "rule", "recipient", "status", "tries", "when", "error"],
        [
            (
                v.id,
                v.rule,
                v.recipient,
                v.status,
                v.attempts,
                local(v.sent_at or v.next_attempt_at),
                v.last_error or "",
            )
            for v in views
        ],
    )


@outbox.command("retry")
@click.argument("message_id", type=int)
@click.pass_obj
def retry(app: App, message_id: int) -> None:
    """Queue failed or dropped message MESSAGE_ID again."""
    view = app.workflow().retry_message(message_id)
    click.echo(
        f"Message {view.id} ({view.rule} to {view.recipient}) will be sent on the next sweep."
    )
