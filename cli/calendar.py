"""``lps calendar``: iCalendar files for calendar programs."""

from __future__ import annotations

from pathlib import Path

import click

from cli.app import App
from cli.output import write_output
from cli.params import OUTPUT_FILE


@click.command()
@click.argument("code")
@click.option(
    "--participant",
    metavar="P",
    help="Add this participant's (id or email) deadlines and recorded conversations.",
)
@click.option(
    "--output",
    type=OUTPUT_FILE,
    help="Write the .ics file here instead of to standard output.",
)
@click.pass_obj
def calendar(app: App, code: str, participant: str | None, output: Path | None) -> None:
    """Cohort CODE's teaching days as an iCalendar (.ics) file.

    Event UIDs stay the same between exports; after `lps cohort reschedule` the SEQUENCE
    goes up, so calendars that import the file again move the day.
    """
    data = app.workflow().calendar(code, participant)
    if output is None:
        click.echo(data, nl=False)
        return
    write_output(output, data)
    events = data.count(b"BEGIN:VEVENT")
    click.echo(f"Wrote {events} events to {output}")
