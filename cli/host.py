"""``lps host``: the host of the career visit."""

from __future__ import annotations

import click

from cli.app import App


@click.group()
def host() -> None:
    """Register the host of a participant's career visit."""


@host.command("set")
@click.argument("participant")
@click.option("--name", required=True, help="The host's name.")
@click.option("--email", required=True, help="The host's email address.")
@click.option(
    "--role", required=True, type=click.Choice(["leader", "hr"]), help="Experienced leader or HR."
)
@click.option("--municipality", required=True, help="Must be the participant's own municipality.")
@click.pass_obj
def set_(app: App, participant: str, name: str, email: str, role: str, municipality: str) -> None:
    """Register the host for PARTICIPANT (id or email)."""
    view = app.workflow().set_host(
        participant, name=name, email=email, role=role, municipality=municipality
    )
    click.echo(f"#{view.id} {view.name}: host {name} ({role}, {municipality}) registered.")
