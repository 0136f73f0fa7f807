"""``lps approvals``, ``lps approve`` and ``lps reject``."""

from __future__ import annotations

import click

from cli.app import App
from cli.output import emit, json_option, local, table
from workflow.selfservice import ApprovalView


@click.group()
def approvals() -> None:
    """Confirmations made through links, waiting for approval."""


@approvals.command("list")
@click.option("--cohort", help="Only the confirmations of this cohort.")
@json_option()
@click.pass_obj
def list_(app: App, cohort: str | None, as_json: bool) -> None:
    """The waiting confirmations, oldest first: approve or reject each by its id."""
    views = app.workflow().approvals(cohort)
    emit(
        as_json,
        [
            {
                "id": v.id,
                "participant": v.participant,
                "cohort": v.cohort,
                "step": v.step,
                "submitted_by": v.submitted_by,
                "submitted_at": v.submitted_at.isoformat(),
                "request": v.request,
            }
            for v in views
        ],
        lambda: _listing(views),
    )


def _listing(views: list[ApprovalView]) -> None:
    if not views:
        click.echo("No confirmations are waiting for approval.")
        return
    table(
        ["id", "participant", "cohort", "step", "submitted by", "at (Copenhagen)"],
        [
            (v.id, v.participant, v.cohort, v.step, v.submitted_by, local(v.submitted_at))
            for v in views
        ],
    )


@click.command()
@click.argument("approval_id", metavar="ID", type=int)
@click.pass_obj
def approve(app: App, approval_id: int) -> None:
    """Record a waiting confirmation (see approvals)."""
    view = app.workflow().approve(approval_id)
    click.echo(f"Approved {approval_id}: {view.step} of #{view.participant} recorded.")


@click.command()
@click.argument("approval_id", metavar="ID", type=int)
@click.option("--reason", required=True, help="Why; the person is told it by mail.")
@click.pass_obj
def reject(app: App, approval_id: int, reason: str) -> None:
    """Turn a waiting confirmation down; its person is told."""
    view = app.workflow().reject(approval_id, reason)
    click.echo(f"Rejected {approval_id}: {view.step} of #{view.participant}; they are told why.")
