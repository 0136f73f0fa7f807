"""``lps groups``: network groups (netværksgrupper)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from cli.app import App
from cli.output import emit, json_option, table

if TYPE_CHECKING:
    from workflow.groups import Grouping


@click.group()
def groups() -> None:
    """Form and show a cohort's network groups."""


@groups.command("form")
@click.argument("code")
@click.option(
    "--size",
    type=click.IntRange(4, 6),
    default=5,
    show_default=True,
    help="Target group size; groups have 4-6 members wherever the cohort allows.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Tie-breaking seed: the same seed gives the same groups.",
)
@click.option("--save", is_flag=True, help="Save the groups and send each member the announcement.")
@json_option()
@click.pass_obj
def form(app: App, code: str, size: int, seed: int, save: bool, as_json: bool) -> None:
    """Form diverse groups for cohort CODE; a preview unless --save.

    Groups mix municipalities first, then workplaces, among the active participants.
    Participants who already have a group keep it; only those without one are placed.
    """
    grouping = app.workflow().form_groups(code, size=size, seed=seed, save=save)

    def text() -> None:
        _print(grouping)
        placed = len(grouping.placed)
        if not placed:
            click.echo("Everyone active already has a group; nothing to place.")
        elif grouping.saved:
            click.echo(
                f"Saved: {placed} participant(s) placed; "
                f"{grouping.announcements} announcement(s) queued."
            )
        else:
            click.echo(
                f"Preview: {placed} participant(s) to place (seed {seed}). "
                "Run again with --save to save the groups and send the announcements."
            )

    emit(as_json, grouping.as_json(), text)


@groups.command("show")
@click.argument("code")
@json_option()
@click.pass_obj
def show(app: App, code: str, as_json: bool) -> None:
    """The saved network groups of cohort CODE, and who has none."""
    grouping = app.workflow().groups(code)

    def text() -> None:
        if not grouping.groups:
            click.echo(
                f"Cohort {grouping.cohort} has no network groups yet; see `lps groups form`."
            )
        else:
            _print(grouping)
        if grouping.unplaced:
            names = ", ".join(f"{m.name} (#{m.id})" for m in grouping.unplaced)
            click.echo(f"Without a group: {names}")

    emit(as_json, grouping.as_json(), text)


def _print(grouping: Grouping) -> None:
    rows = []
    for group in grouping.groups:
        for member in group.members:
            rows.append(
                (
                    group.number,
                    member.id,
                    member.name,
                    member.municipality,
                    member.workplace or "",
                    "new" if member.new else "",
                )
            )
    table(["group", "id", "name", "municipality", "workplace", ""], rows)
    municipality, workplace = grouping.shared
    sizes = ", ".join(f"{g.number}: {g.size}" for g in grouping.groups)
    click.echo(f"Cohort {grouping.cohort}: {len(grouping.groups)} group(s) (sizes {sizes}).")
    click.echo(
        f"Pairs in a group from the same municipality: {municipality}; "
        f"from the same workplace: {workplace}."
    )
    for warning in grouping.warnings:
        click.echo(f"Warning: {warning}")
