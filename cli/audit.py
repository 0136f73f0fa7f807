"""``lps audit``."""

from __future__ import annotations

from pathlib import Path

import click

from cli.app import App, LpsClickError


@click.group()
def audit() -> None:
    """Verify the audit trail; sign checkpoints of it."""


@audit.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also hold the chains against this checkpoint file (from `audit checkpoint --output`).",
)
@click.pass_obj
def verify(app: App, checkpoint: Path | None) -> None:
    """Check every chain and replay it to the participant's state.

    With LPS_AUDIT_KEY also every entry's seal, and every chain against the newest
    checkpoint (and --checkpoint FILE). Exit 1 on any edited, deleted or inserted entry,
    chain cut short or participant deleted."""
    from cli.progress import progress_bar

    workflow = app.workflow()
    with progress_bar("Verifying") as advance:
        report = workflow.verify_audit(checkpoint=checkpoint, progress=advance)
    if not report.ok:
        raise LpsClickError([str(problem) for problem in report.problems])
    click.echo(
        f"Audit trail intact: {report.entries} entries of {report.participants} participants "
        "verified and replayed."
    )
    if report.sealed:
        against = " and ".join(report.checkpoints) or "no checkpoint"
        click.echo(f"Every entry sealed with the audit key; chains held against {against}.")
    writers = ", ".join(
        f"{role or '(not recorded)'} on behalf of {actor} ({count})"
        for (role, actor), count in sorted(report.writers.items())
    )
    if writers:
        click.echo(f"Written by: {writers}.")
    for note in report.notes:
        click.echo(f"Note: {note}.")


@audit.command("checkpoint")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the signed checkpoint to FILE, to keep where the database cannot reach.",
)
@click.pass_obj
def checkpoint(app: App, output: Path | None) -> None:
    """Sign every chain's length and head and store it.

    Signed with LPS_AUDIT_KEY; each sweep writes one too. `audit verify` then finds a chain
    cut short or a participant deleted; a copy kept with --output finds it even when the
    database's checkpoint is gone."""
    from cli.output import local
    from workflow.files import write_file

    taken = app.workflow().checkpoint()
    if output is not None:
        try:
            write_file(output, taken.to_text().encode("utf-8"))
        except OSError as exc:
            raise LpsClickError(
                [
                    f"cannot write {output}: {exc.strerror or exc}; the checkpoint is stored "
                    "in the database all the same"
                ]
            ) from None
    where = f" and written to {output}" if output is not None else ""
    click.echo(
        f"Checkpoint of {local(taken.at)} signed{where}: {taken.entries} entries of "
        f"{taken.participants} participants."
    )
