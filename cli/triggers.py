"""``lps triggers``."""

from __future__ import annotations

import click

from cli.app import App
from cli.output import echo_json, json_option


@click.command()
@click.argument("participant")
@json_option()
@click.pass_obj
def triggers(app: App, participant: str, as_json: bool) -> None:
    """Every trigger for PARTICIPANT: possible now, or the rules and obligations in the way."""
    views = app.workflow().triggers(participant)
    if as_json:
        echo_json(
            [
                {
                    "trigger": v.trigger,
                    "possible": v.possible,
                    "reasons": v.reasons,
                    "obligations": v.obligations,
                }
                for v in views
            ]
        )
        return
    for view in views:
        if view.possible:
            click.echo(f"  possible  {view.trigger}")
            continue
        click.echo(f"  blocked   {view.trigger}")
        for reason in view.reasons:
            click.echo(f"              - {reason}")
        if view.obligations:
            click.echo(f"              obligations: {', '.join(view.obligations)}")
