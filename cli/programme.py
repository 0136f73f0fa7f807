"""``lps programme``: programme versions from definition files."""

from __future__ import annotations

from pathlib import Path

import click

from cli.app import App
from cli.output import emit, json_option, table

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def programme() -> None:
    """Check, install, list, show and compare programme versions."""


@programme.command("check")
@click.argument("file", type=_FILE)
@click.pass_obj
def check(app: App, file: Path) -> None:
    """Check definition FILE and the templates beside it; exit 1 naming every problem, by key
    path and line. Nothing is written."""
    view = app.workflow().check_programme(file)
    click.echo(f"{file}: programme {view.version} with {view.days} teaching days is valid.")


@programme.command("install")
@click.argument("file", type=_FILE)
@click.pass_obj
def install(app: App, file: Path) -> None:
    """Install definition FILE (and its templates folder) as a version that never changes."""
    done = app.workflow().install_programme(file)
    if done.new:
        click.echo(f"Installed programme {done.version}.")
    else:
        click.echo(f"Programme {done.version} is already installed from this file; nothing to do.")


@programme.command("list")
@json_option()
@click.pass_obj
def list_(app: App, as_json: bool) -> None:
    """Every version, the default for new cohorts, and how many are on each."""
    views = app.workflow().programmes()
    emit(
        as_json,
        [v.as_dict() for v in views],
        lambda: table(
            ["version", "default", "days", "cohorts", "participants", "installed"],
            [
                (
                    v.version,
                    "yes" if v.default else "",
                    v.days,
                    v.cohorts,
                    v.participants,
                    "built in" if v.built_in else v.installed_at,
                )
                for v in views
            ],
        ),
    )


@programme.command("show")
@click.argument("version", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["toml", "json", "mermaid"]),
    default="toml",
    show_default=True,
)
@click.pass_obj
def show(app: App, version: str | None, fmt: str) -> None:
    """Print VERSION (default: the one for new cohorts) as a definition file that installs as
    it is, as JSON, or as a Mermaid diagram."""
    click.echo(app.workflow().programme_text(version, fmt), nl=False)


@programme.command("diff")
@click.argument("a")
@click.argument("b")
@click.pass_obj
def diff(app: App, a: str, b: str) -> None:
    """What differs from version A to version B: days, steps, states, rules, moments,
    obligations and texts."""
    lines = app.workflow().diff_programmes(a, b)
    click.echo("\n".join(lines) if lines else f"{a} and {b} do not differ.")


@programme.command("default")
@click.argument("version")
@click.pass_obj
def default(app: App, version: str) -> None:
    """Make VERSION the programme of cohorts created from now on."""
    chosen = app.workflow().set_default_programme(version)
    click.echo(f"New cohorts follow programme {chosen}.")
