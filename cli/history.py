"""``lps history``."""

from __future__ import annotations

import csv
import sys

import click

from cli.app import App
from cli.output import echo_json, local, table


@click.command()
@click.argument("participant")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@click.pass_obj
def history(app: App, participant: str, fmt: str) -> None:
    """PARTICIPANT's audit trail, oldest first."""
    entries = app.workflow().history(participant)
    if fmt == "json":
        echo_json([e.as_json() for e in entries])
        return
    if fmt == "csv":
        from workflow.exports import safe_cell

        writer = csv.writer(sys.stdout)
        # The database role and the channel go last, so the columns before keep their places.
        writer.writerow(
            ["seq", "at", "actor", "event", "from_state", "to_state", "note", "role", "channel"]
        )
        for e in entries:
            writer.writerow(
                [
                    e.seq,
                    e.at.isoformat(),
                    safe_cell(e.actor),
                    e.event,
                    e.from_state or "",
                    e.to_state,
                    safe_cell(e.summary),
                    safe_cell(e.role or ""),
                    e.channel or "",
                ]
            )
        return
    table(
        ["#", "at (Copenhagen)", "role", "on behalf of", "via", "event", "from", "to", "note"],
        [
            (
                e.seq,
                local(e.at),
                e.role or "-",
                e.actor,
                e.channel or "-",
                e.event,
                e.from_state or "-",
                e.to_state,
                e.summary,
            )
            for e in entries
        ],
    )
