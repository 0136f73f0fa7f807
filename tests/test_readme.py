from __future__ import annotations

from pathlib import Path

from cli.reference import END, START, reference

README = Path(__file__).resolve().parent.parent / "README.md"


def test_cli_reference_matches_help() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split(START, 1)[1].split(END, 1)[0]
    assert section.strip() == reference().strip(), (
        "README's CLI reference is stale: run `python -m cli.reference --write README.md`"
    )


def test_readme_names_every_command() -> None:
    from cli.main import COMMANDS

    text = README.read_text(encoding="utf-8")
    for name in COMMANDS:
        assert f"### `lps {name}`" in text
