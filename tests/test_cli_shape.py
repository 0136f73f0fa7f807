"""The commands share one ``--json`` option, and each command's summary is said once."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from cli.main import COMMANDS

CLI = Path(__file__).resolve().parent.parent / "cli"


def test_every_json_flag_is_the_shared_option() -> None:
    declared = [
        path.name
        for path in sorted(CLI.glob("*.py"))
        if path.name != "output.py" and '"--json"' in path.read_text(encoding="utf-8")
    ]
    assert declared == [], "declare --json with cli.output.json_option()"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_listed_summary_is_the_commands_own(name: str) -> None:
    module_name, attribute, summary = COMMANDS[name]
    command = getattr(importlib.import_module(module_name), attribute)
    first = " ".join((command.help or "").split("\n\n", 1)[0].split())
    assert first == summary, (
        f"`lps {name}`: its docstring begins {first!r} but cli/main.py lists {summary!r}"
    )
