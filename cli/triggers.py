"""``lps triggers``."""

from __future__ import annotations

import click

from cli.app import App, with_option
from cli.output import echo_json, json_option


@click.command()
@click.argument("participant")
@json_option()
@click.pass_obj
def triggers(app: App, participant: str, as_json: bool) -> None:
    """Which triggers are possible now, and what stands in the way."""
    overview = app.workflow().trigger_overview(participant)
    views = overview.triggers
    if as_json:
        echo_json(
            [
                {
                    "trigger": v.trigger,
                    "possible": v.possible,
                    "reasons": [with_option(reason) for reason in v.reasons],
                    "obligations": v.obligations,
                }
                for v in views
            ]
        )
        return
    if overview.ended is not None:
        click.echo(
            f"No trigger is possible for {overview.name} (#{overview.participant_id}): "
            f"{overview.ended}."
        )
        return
    for view in views:
        if view.possible:
            click.echo(f"  possible  {view.trigger}")
            continue
        click.echo(f"  blocked   {view.trigger}")
        for reason in view.reasons:
            click.echo(f"              - {with_option(reason)}")
        if view.obligations:
            click.echo(f"              obligations: {', '.join(view.obligations)}")
