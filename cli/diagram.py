"""``lps diagram``."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot", "svg"]),
    default="mermaid",
    show_default=True,
)
@click.option("--exits", is_flag=True, help="Draw withdraw and defer arrows from every state.")
def diagram(fmt: str, exits: bool) -> None:
    """Draw the programme's state machine (Mermaid, DOT or SVG)."""
    from workflow.definition import diagram as draw

    click.echo(draw(fmt, exits=exits), nl=False)
