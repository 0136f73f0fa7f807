"""``lps purge``: erase, by retention date, everyone whose path has ended."""

from __future__ import annotations

from datetime import date

import click

from cli.app import App
from cli.output import emit, json_option, table
from cli.params import DATE


@click.command()
@click.option(
    "--completed-before",
    "before",
    type=DATE,
    required=True,
    help="Erase those whose path ended (completed, withdrawn, deferred) before this date.",
)
@click.option("--reason", help="For the audit trail (default: the retention date).")
@click.option("--dry-run", is_flag=True, help="List who would be erased; write nothing.")
@json_option()
@click.pass_obj
def purge(app: App, before: date, reason: str | None, dry_run: bool, as_json: bool) -> None:
    """Pseudonymise participants whose path ended before a date.

    Each is erased as by `lps participant erase`: personal fields pseudonymised, free text
    cleared, the audit trail still verifiable. A calendar file that no message carries any
    more is deleted.
    """
    from cli.progress import progress_bar

    workflow = app.workflow()
    if dry_run:
        preview = workflow.purge(before, dry_run=True)

        def preview_text() -> None:
            table(
                ["id", "cohort", "state", "ended"],
                [
                    (c.participant_id, c.cohort, c.state, c.ended_on.isoformat())
                    for c in preview.candidates
                ],
            )
            click.echo(
                f"Dry run: {len(preview.candidates)} participant(s) whose path ended before "
                f"{before.isoformat()} would be erased; nothing was written."
            )

        emit(as_json, preview.as_json(), preview_text)
        return
    with progress_bar("Erasing") as advance:
        report = workflow.purge(before, reason=reason, progress=advance)

    def text() -> None:
        click.echo(
            f"Erased {len(report.erased)} participant(s) whose path ended before "
            f"{before.isoformat()}."
        )
        for line in report.mail.lines():
            click.echo(line)

    emit(as_json, report.as_json(), text)
