"""Parameter types shared by the commands."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import click

_DANISH = re.compile(r"^(\d{1,2})[.\-/](\d{1,2})[.\-/](\d{4})$")


def parse_date(text: str) -> date:
    """ISO ``2027-03-01``, or as Danes write it: ``1.3.2027`` or ``01-03-2027``."""
    text = text.strip()
    match = _DANISH.match(text)
    if match:
        day, month, year = (int(part) for part in match.groups())
        return date(year, month, day)
    return date.fromisoformat(text)


class DateType(click.ParamType):
    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return parse_date(str(value))
        except ValueError:
            self.fail(f"'{value}' is not a date; use YYYY-MM-DD, e.g. 2027-03-01", param, ctx)


class DateListType(click.ParamType):
    name = "D1,D2,D3,D4,D5"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> list[date]:
        if isinstance(value, list):
            return value
        parts = [part.strip() for part in str(value).split(",") if part.strip()]
        dates = []
        for part in parts:
            try:
                dates.append(parse_date(part))
            except ValueError:
                self.fail(f"'{part}' is not a date; use YYYY-MM-DD, e.g. 2027-03-01", param, ctx)
        if len(dates) != 5:
            self.fail(f"give five dates separated by commas; got {len(dates)}", param, ctx)
        return dates


class OutputFileType(click.Path):
    """A file to write (``--output FILE``): not empty, not an existing folder."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("the file name is empty; give one, e.g. --output FILE", param, ctx)
        return super().convert(value, param, ctx)


DATE = DateType()
DATE_LIST = DateListType()
OUTPUT_FILE = OutputFileType()
