"""``lps doctor``."""

from __future__ import annotations

from pathlib import Path

import click

from cli.app import App, LpsClickError


@click.command()
@click.option(
    "--config",
    "config_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="A file that sets lps's environment (a systemd unit, an EnvironmentFile): a "
    "password in it must not be readable by others. Repeatable.",
)
@click.pass_obj
def doctor(app: App, config_files: tuple[Path, ...]) -> None:
    """Check this deployment; one line per problem and exit 1, or one line and exit 0.

    Checks the schema is current; on PostgreSQL that row-level security is forced on every
    table holding participant data and that lps is not connected as a superuser, the schema
    owner or a role that bypasses row-level security; that the certificate secret and the
    audit key are set; that no password is readable by others in a --config file; that the
    mail folder can be written; and that the scheduler swept within 30 minutes."""
    from workflow.doctor import diagnose

    found = diagnose(app.settings, app.clock(), config_files=config_files)
    if not found.ok:
        raise LpsClickError(found.problems)
    click.echo(f"All is well: {'; '.join(found.checked)}.")
