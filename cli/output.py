"""Printing: rich tables in a terminal, plain aligned text when piped, JSON on request."""

from __future__ import annotations

import errno
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click


def is_terminal() -> bool:
    return sys.stdout.isatty()


_F = TypeVar("_F", bound=Callable[..., Any])


def json_option(help: str = "Machine-readable output.") -> Callable[[_F], _F]:
    """The ``--json`` flag of every command that prints a result; it passes ``as_json``."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def emit(as_json: bool, data: Any, text: str | Callable[[], object]) -> None:
    """Print a command's result: ``data`` as JSON with ``--json`` (or what a function given as
    ``data`` returns, made only then), else ``text`` (a line, or a function that prints the
    lines)."""
    if as_json:
        echo_json(data() if callable(data) else data)
    elif callable(text):
        text()
    else:
        click.echo(text)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=_default))


def echo_json_array(items: Iterable[Any]) -> None:
    """Print the items as one JSON array, exactly as :func:`echo_json` prints their list, but
    each item as it comes, so that the whole array is never held."""
    first = "[\n  "
    before = first
    pieces: list[str] = []
    size = 0
    for item in items:
        text = json.dumps(item, ensure_ascii=False, indent=2, default=_default)
        # Inside a list every line of an item is indented one level more; a newline in a
        # JSON document is always layout, as strings hold theirs escaped.
        pieces.append(before + text.replace("\n", "\n  "))
        before = ",\n  "
        size += len(text)
        if size >= _FLUSH_CHARS:
            click.echo("".join(pieces), nl=False)
            pieces.clear()
            size = 0
    pieces.append("[]" if before is first else "\n]")
    click.echo("".join(pieces))


_FLUSH_CHARS = 1 << 16


def write_output(target: Path, data: bytes) -> None:
    """Write ``data`` to the file ``target`` whole, or leave what is there and fail with one
    line naming the file and the reason (a missing folder, a full disk)."""
    from workflow.files import write_file

    try:
        write_file(target, data)
    except OSError as exc:
        raise click.ClickException(f"cannot write {target}: {_why(target, exc)}") from None


def _why(target: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOENT and not target.parent.is_dir():
        return f"the folder {target.parent} does not exist"
    if exc.errno == errno.EISDIR:
        return "it is a folder; give a file name"
    reason = exc.strerror or str(exc)
    if target.is_file():
        return f"{reason}; the file there was left as it was"
    return reason


def _default(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None
) -> None:
    """A table: boxed with rich in a terminal, plain columns otherwise."""
    cells = [["" if value is None else str(value) for value in row] for row in rows]
    if is_terminal():
        from rich.console import Console
        from rich.table import Table

        rich_table = Table(*headers, title=title, header_style="bold")
        for row in cells:
            rich_table.add_row(*row)
        Console().print(rich_table)
        return
    if title:
        click.echo(title)
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def local(moment: datetime) -> str:
    """A moment as Copenhagen wall-clock time."""
    from workflow.clock import LOCAL_TZ

    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
