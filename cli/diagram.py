"""``lps diagram``."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True
)
@click.option("--exits", is_flag=True, help="Draw withdraw and defer arrows from every state.")
def diagram(fmt: str, exits: bool) -> None:
    """Print the programme's state machine as Mermaid or Graphviz DOT."""
    from states import diagram as drawing

    click.echo(drawing.mermaid(exits) if fmt == "mermaid" else drawing.dot(exits), nl=False)
