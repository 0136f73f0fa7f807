"""The README's CLI reference, generated from the commands' own help so the two cannot drift.

``python -m cli.reference`` prints it; ``python -m cli.reference --write README.md`` updates
the section between the markers in place.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cli.main import cli
from workflow.files import write_file

START = "<!-- cli-reference:start -->"
END = "<!-- cli-reference:end -->"


def _walk(command: click.Command, path: list[str], ctx: click.Context) -> list[tuple[str, str]]:
    sections = [(" ".join(path), command.get_help(ctx))]
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            child = command.get_command(ctx, name)
            if child is not None:
                sub_ctx = click.Context(
                    child, info_name=name, parent=ctx, max_content_width=100, terminal_width=100
                )
                sections += _walk(child, [*path, name], sub_ctx)
    return sections


def reference() -> str:
    """Markdown with the help text of every command."""
    root = click.Context(
        cli,
        info_name="lps",
        max_content_width=100,
        terminal_width=100,
        help_option_names=cli.context_settings["help_option_names"],
    )
    parts = []
    for title, text in _walk(cli, ["lps"], root)[1:]:
        parts.append(f"### `{title}`\n\n```\n{text.rstrip()}\n```\n")
    return "\n".join(parts)


def rewrite(readme: str) -> str:
    before, _, rest = readme.partition(START)
    _, _, after = rest.partition(END)
    return f"{before}{START}\n{reference()}{END}{after}"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        target = Path(sys.argv[2])
        write_file(target, rewrite(target.read_text(encoding="utf-8")).encode("utf-8"))
    else:
        print(reference())
