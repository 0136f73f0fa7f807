"""``lps access``: database roles and what they may do (PostgreSQL)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from cli.app import App
from cli.output import emit, json_option, table

if TYPE_CHECKING:
    from workflow.access import Grant

ACCESS_CHOICES = click.Choice(["admin", "municipality", "auditor", "scheduler", "serve"])


@click.group()
def access() -> None:
    """Grant, revoke and list what database roles may do (PostgreSQL)."""


def _line(grant: Grant) -> str:
    where = f" for {', '.join(grant.municipalities)}" if grant.municipalities else ""
    return f"{grant.role}: {grant.access}{where}"


@access.command("grant")
@click.argument("access_name", metavar="ACCESS", type=ACCESS_CHOICES)
@click.argument("user")
@click.option(
    "--municipality",
    "municipalities",
    multiple=True,
    metavar="NAME",
    help="A municipality whose participants USER may see and act on (repeat for more).",
)
@click.pass_obj
def grant(app: App, access_name: str, user: str, municipalities: tuple[str, ...]) -> None:
    """Give database role USER ACCESS, creating it WITH LOGIN if missing.

    Set its password with PostgreSQL's own tools (psql's \\password). The database enforces
    the access: row-level security shows a municipality administrator only the participants
    of their municipalities, whatever they connect with."""
    granted = app.workflow().grant_access(access_name, user, municipalities)
    click.echo(f"Granted: {_line(granted)}.")


@access.command("revoke")
@click.argument("access_name", metavar="ACCESS", type=ACCESS_CHOICES)
@click.argument("user")
@click.pass_obj
def revoke(app: App, access_name: str, user: str) -> None:
    """Take ACCESS from database role USER (the role itself stays)."""
    revoked = app.workflow().revoke_access(access_name, user)
    click.echo(f"Revoked: {_line(revoked)}.")


@access.command("list")
@json_option()
@click.pass_obj
def list_(app: App, as_json: bool) -> None:
    """Every database role's access."""
    grants = app.workflow().access_list()
    emit(
        as_json,
        [g.as_json() for g in grants],
        lambda: table(
            ["role", "access", "municipalities"],
            [(g.role, g.access, ", ".join(g.municipalities) or "all") for g in grants],
        ),
    )
