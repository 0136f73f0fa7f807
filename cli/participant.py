"""``lps participant``: enrolment and look-ups."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from cli.app import App
from cli.output import echo_json, local, table

if TYPE_CHECKING:
    from workflow.engine import ParticipantView


@click.group()
def participant() -> None:
    """Enrol, list, show, import and export participants."""


@participant.command("add")
@click.argument("cohort")
@click.option("--name", required=True, help="The participant's full name.")
@click.option("--email", required=True, help="Unique within the cohort.")
@click.option("--municipality", required=True, help="The participant's municipality (kommune).")
@click.option("--workplace", help="The participant's workplace.")
@click.option("--manager-name", required=True, help="The nearest manager's name.")
@click.option("--manager-email", required=True, help="The nearest manager's email address.")
@click.option(
    "--language",
    type=click.Choice(["da", "en"]),
    default="da",
    show_default=True,
    help="Language of the participant's messages.",
)
@click.option(
    "--jti-link", help="The participant's own JTI link, when the provider issues one per person."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def add(
    app: App,
    cohort: str,
    name: str,
    email: str,
    municipality: str,
    workplace: str | None,
    manager_name: str,
    manager_email: str,
    language: str,
    jti_link: str | None,
    as_json: bool,
) -> None:
    """Enrol a participant in COHORT; the welcome mail is queued for them and their manager."""
    result = app.workflow().enrol(
        cohort,
        name=name,
        email=email,
        municipality=municipality,
        workplace=workplace,
        manager_name=manager_name,
        manager_email=manager_email,
        language=language,
        jti_link=jti_link,
    )
    view = result.participant
    if as_json:
        echo_json(view.as_json())
        return
    click.echo(f"Enrolled #{view.id} {view.name} <{view.email}> in {view.cohort}.")
    for notice in result.notifications:
        click.echo(f"queued {notice}")


@participant.command("list")
@click.option("--cohort", help="Only this cohort.")
@click.option("--state", help="Only participants in this state.")
@click.option(
    "--overdue", is_flag=True, help="Only those with an overdue obligation, latest first."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def list_(app: App, cohort: str | None, state: str | None, overdue: bool, as_json: bool) -> None:
    """Participants, with their state and outstanding obligations."""
    views = app.workflow().participants(cohort=cohort, state=state, overdue=overdue)
    if as_json:
        echo_json([v.as_json() for v in views])
        return
    if overdue:
        table(
            ["id", "name", "email", "cohort", "state", "overdue (due)"],
            [
                (
                    v.id,
                    v.name,
                    v.email,
                    v.cohort,
                    v.state,
                    ", ".join(f"{o.name} ({o.due.isoformat()})" for o in v.overdue),
                )
                for v in views
            ],
        )
        return
    table(
        ["id", "name", "email", "cohort", "state", "outstanding"],
        [(v.id, v.name, v.email, v.cohort, v.state, ", ".join(v.outstanding)) for v in views],
    )


@participant.command("show")
@click.argument("participant")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def show(app: App, participant: str, as_json: bool) -> None:
    """One participant (id or email): state, obligations, next deadline, learning goals."""
    view = app.workflow().participant(participant)
    if as_json:
        echo_json(view.as_json())
        return
    _print_participant(view)


def _print_participant(view: ParticipantView) -> None:
    click.echo(f"#{view.id} {view.name} <{view.email}>")
    click.echo(f"  Cohort:        {view.cohort}")
    place = view.municipality + (f", {view.workplace}" if view.workplace else "")
    click.echo(f"  Municipality:  {place}")
    click.echo(f"  Manager:       {view.manager_name} <{view.manager_email}>")
    host = view.facts.host
    if host:
        click.echo(
            f"  Host:          {host.name} <{host.email}> ({host.role}, {host.municipality})"
        )
    click.echo(f"  State:         {view.state} ({view.state_label})")
    click.echo("  Obligations:")
    for o in view.obligations:
        mark = "  OVERDUE" if o.overdue else ""
        why = f"  ({o.waiver_reason})" if o.status == "waived" and o.waiver_reason else ""
        click.echo(f"    {o.name:<22} {o.status:<7} due {o.due.isoformat()}{mark}{why}")
    if view.next_due:
        rule, at = view.next_due
        click.echo(f"  Next due:      {rule} at {local(at)} (Copenhagen)")
    if view.facts.goals:
        click.echo("  Learning goals:")
        for goal in view.facts.goals:
            click.echo(f"    - {goal}")
