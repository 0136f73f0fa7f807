"""``lps report``: a cohort at a glance."""

from __future__ import annotations

from pathlib import Path

import click

from cli.app import App
from cli.output import write_output
from cli.params import OUTPUT_FILE


@click.command()
@click.argument("code")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "csv"]),
    default="html",
    show_default=True,
    help="html: one self-contained page that prints on A4; csv: semicolon-separated UTF-8 "
    "for spreadsheets.",
)
@click.option(
    "--output",
    type=OUTPUT_FILE,
    help="Write the report here instead of to standard output.",
)
@click.pass_obj
def report(app: App, code: str, fmt: str, output: Path | None) -> None:
    """A cohort at a glance: every participant against the path."""
    result = app.workflow().report(code)
    text = result.html() if fmt == "html" else result.csv()
    data = text.encode("utf-8")
    if output is None:
        click.echo(data, nl=False)
        return
    write_output(output, data)
    click.echo(f"Wrote the {fmt} report of cohort {result.cohort.code} to {output}")
