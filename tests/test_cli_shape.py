"""The commands share one ``--json`` option, and each command's summary is said once."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from cli.main import COMMANDS, cli

CLI = Path(__file__).resolve().parent.parent / "cli"


def test_every_json_flag_is_the_shared_option() -> None:
    declared = [
        path.name
        for path in sorted(CLI.glob("*.py"))
        if path.name != "output.py" and '"--json"' in path.read_text(encoding="utf-8")
    ]
    assert declared == [], "declare --json with cli.output.json_option()"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_commands_short_help_is_the_line_lps_help_lists(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    assert command.get_short_help_str(limit=200) == COMMANDS[name][2]
