"""``lps participant``: enrolment and look-ups."""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

import click

from cli.app import App
from cli.output import echo_json, echo_json_array, emit, json_option, local, table

if TYPE_CHECKING:
    from workflow.engine import ParticipantView


@click.group()
def participant() -> None:
    """Enrol, list, show, import, export and erase participants."""


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
@json_option()
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

    def text() -> None:
        click.echo(f"Enrolled #{view.id} {view.name} <{view.email}> in {view.cohort}.")
        for notice in result.notifications:
            click.echo(f"queued {notice}")

    emit(as_json, view.as_json(), text)


@participant.command("list")
@click.option("--cohort", help="Only this cohort.")
@click.option("--state", help="Only participants in this state.")
@click.option(
    "--overdue", is_flag=True, help="Only those with an overdue obligation, latest first."
)
@json_option()
@click.pass_obj
def list_(app: App, cohort: str | None, state: str | None, overdue: bool, as_json: bool) -> None:
    """Participants, with their state and outstanding obligations."""
    workflow = app.workflow()
    if as_json:
        streamed = workflow.iter_participants(cohort=cohort, state=state, overdue=overdue)
        echo_json_array(v.as_json() for v in streamed)
        return
    views = workflow.participants(cohort=cohort, state=state, overdue=overdue)
    if overdue and not views:
        where = f" in cohort {cohort}" if cohort else ""
        where += f" in state {state}" if state else ""
        click.echo(f"Nobody is late: no participant{where} has an overdue obligation.")
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
@json_option()
@click.pass_obj
def show(app: App, participant: str, as_json: bool) -> None:
    """One participant (id or email): state, obligations, next deadline, learning goals."""
    view = app.workflow().participant(participant)
    emit(as_json, view.as_json(), lambda: _print_participant(view))


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


@participant.command("import")
@click.argument("cohort")
@click.argument("file", type=click.File("rb"))
@click.option("--dry-run", is_flag=True, help="Check every row and show who would be enrolled.")
@json_option()
@click.pass_obj
def import_(app: App, cohort: str, file: BinaryIO, dry_run: bool, as_json: bool) -> None:
    """Enrol everyone in CSV FILE in COHORT: all rows, or none.

    FILE ("-" for standard input) is comma- or semicolon-separated UTF-8, as spreadsheets
    save 'CSV UTF-8'. Columns, in Danish or English: navn/name, e-mail/email,
    kommune/municipality, arbejdsplads/workplace, nærmeste leder/manager_name, leders
    e-mail/manager_email, sprog/language (da or en), jti-link/jti_link. Every bad row is
    reported by line and column, and then nothing is written.
    """
    from cli.progress import progress_bar

    source = file.read()
    given = str(getattr(file, "name", "-"))
    label = "standard input" if given in ("-", "<stdin>") else given
    workflow = app.workflow()
    with progress_bar("Importing") as advance:
        report = workflow.import_participants(
            cohort, source, dry_run=dry_run, name=label, progress=advance
        )
    if dry_run:

        def preview() -> None:
            table(
                ["line", "name", "email", "municipality", "manager", "language"],
                [
                    (r.line, r.name, r.email, r.municipality, r.manager_name, r.language)
                    for r in report.rows
                ],
            )
            click.echo(
                f"Dry run: {report.count} participant(s) would be enrolled in {report.cohort} "
                f"({report.delimiter_name}-separated); nothing was written."
            )

        emit(as_json, report.as_json, preview)
        return
    emit(
        as_json,
        report.as_json,
        lambda: click.echo(
            f"Imported {report.count} participant(s) into {report.cohort} from {label} "
            f"(ids {report.ids[0]}-{report.ids[-1]}); {report.messages} welcome mail(s) queued."
        ),
    )


@participant.command("export")
@click.argument("participant")
@click.pass_obj
def export(app: App, participant: str) -> None:
    """Everything held about PARTICIPANT, as JSON.

    PARTICIPANT is an id or email. The export holds their details, cohort, state, learning
    goals, host, audit trail, deadlines and messages.
    """
    echo_json(app.workflow().export_participant(participant))


@participant.command("erase")
@click.argument("participant")
@click.option(
    "--reason", required=True, help="Why the data is erased (recorded in the audit trail)."
)
@json_option()
@click.pass_obj
def erase(app: App, participant: str, reason: str, as_json: bool) -> None:
    """Erase PARTICIPANT's personal data after their path has ended.

    Only after completion, withdrawal or deferral. Name and email are pseudonymised and free
    text is cleared; cohort, municipality, state and dates stay for statistics, and the audit
    trail still verifies.
    """
    erasure = app.workflow().erase_participant(participant, reason)

    def text() -> None:
        click.echo(
            f"Erased participant #{erasure.participant_id} ({erasure.state}, cohort "
            f"{erasure.cohort}): now '{erasure.as_json()['name']}'; {erasure.notes_cleared} "
            f"audit note(s) and {erasure.messages_cleared} message(s) cleared."
        )
        for line in erasure.mail.lines():
            click.echo(line)

    emit(as_json, erasure.as_json(), text)
