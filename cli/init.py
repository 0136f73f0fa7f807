"""``lps init``."""

from __future__ import annotations

import click

from cli.app import App


@click.command()
@click.pass_obj
def init(app: App) -> None:
    """Create or upgrade the database; safe to run again.

    The folders of a SQLite file's path are created as needed.
    """
    from workflow.db import Database
    from workflow.migrate import upgrade

    database = Database(app.url)
    revision = upgrade(database)
    click.echo(f"Database {database.display_url} is at schema revision {revision}.")
