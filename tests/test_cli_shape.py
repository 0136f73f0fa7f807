"""The commands share one ``--json`` option."""

from __future__ import annotations

from pathlib import Path

CLI = Path(__file__).resolve().parent.parent / "cli"


def test_every_json_flag_is_the_shared_option() -> None:
    declared = [
        path.name
        for path in sorted(CLI.glob("*.py"))
        if path.name != "output.py" and '"--json"' in path.read_text(encoding="utf-8")
    ]
    assert declared == [], "declare --json with cli.output.json_option()"

