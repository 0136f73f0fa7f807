"""``lps outbox``: what was, and will be, sent."""

from __future__ import annotations

import click

from cli.app import App
from cli.output import emit, json_option, local, table


@click.group()
def outbox() -> None:
    """List, show and retry outgoing messages."""


@outbox.command("list")
@click.option("--status", type=click.Choice(["pending", "sent", "failed", "dropped"]))
@click.option("--limit", type=int, default=200, show_default=True)
@json_option()
@click.pass_obj
def list_(app: App, status: str | None, limit: int, as_json: bool) -> None:
    """Messages, newest first."""
    views = app.workflow().outbox(status, limit)
    emit(
        as_json,
        [v.as_json() for v in views],
        lambda: table(
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
        ),
    )


@outbox.command("show")
@click.argument("message_id", type=int)
@click.option("--raw", is_flag=True, help="The RFC 5322 bytes, as in an .eml file.")
@click.pass_obj
def show(app: App, message_id: int, raw: bool) -> None:
    """Message MESSAGE_ID as it was sent: its headers and text (or, if not sent yet, as it
    would be sent now)."""
    view = app.workflow().message(message_id)
    if raw:
        click.echo(view.data, nl=False)
        return
    if view.sent_at is not None:
        click.echo(f"Message {view.id}: sent {local(view.sent_at)}")
    elif view.status == "pending":
        click.echo(f"Message {view.id}: pending, not sent yet; shown as it would be sent now")
    else:
        click.echo(f"Message {view.id}: {view.status}, not sent: {view.last_error or '-'}")
    click.echo()
    for name, value in view.headers:
        click.echo(f"{name}: {value}")
    for filename, content_type in view.attachments:
        click.echo(f"Attachment: {filename} ({content_type})")
    click.echo()
    click.echo(view.text, nl=False)


@outbox.command("retry")
@click.argument("message_id", type=int, required=False)
@click.option("--all-failed", is_flag=True, help="Every failed message.")
@click.option("--rule", metavar="RULE", help="The failed messages of RULE, e.g. welcome.")
@click.pass_obj
def retry(app: App, message_id: int | None, all_failed: bool, rule: str | None) -> None:
    """Queue failed or dropped message MESSAGE_ID again, or all failed ones (of a rule)."""
    if message_id is not None and (all_failed or rule is not None):
        raise click.UsageError("give either MESSAGE_ID or --all-failed / --rule RULE, not both")
    if message_id is None and not all_failed and rule is None:
        raise click.UsageError(
            "say which messages to retry: MESSAGE_ID, --all-failed or --rule RULE"
        )
    if message_id is None:
        counts = app.workflow().retry_failed(rule)
        by_rule = ", ".join(f"{name}: {count}" for name, count in counts.items())
        click.echo(
            f"{sum(counts.values())} failed message(s) ({by_rule}) will be sent on the next sweep."
        )
        return
    view = app.workflow().retry_message(message_id)
    click.echo(
        f"Message {view.id} ({view.rule} to {view.recipient}) will be sent on the next sweep."
    )
