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
@click.option(
    "--programme",
    "version",
    metavar="VERSION",
    help="An installed programme version (default: the built-in one).",
)
@click.pass_context
def diagram(ctx: click.Context, fmt: str, exits: bool, version: str | None) -> None:
    """Draw the programme's state machine (Mermaid, DOT or SVG)."""
    if version is None:
        from workflow.definition import diagram as draw

        click.echo(draw(fmt, exits=exits), nl=False)
        return
    click.echo(ctx.obj.workflow().diagram(version, fmt, exits=exits), nl=False)
