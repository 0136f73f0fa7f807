"""Parameter types shared by the commands."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import click


def _convert(text: str, param: click.Parameter | None, ctx: click.Context | None) -> date:
    from workflow.clock import SUPPORTED_YEARS, in_supported_range, parse_date, shown

    try:
        day = parse_date(text)
    except ValueError:
        raise click.BadParameter(
            f"{shown(text)} is not a date; use YYYY-MM-DD, e.g. 2027-03-01", ctx, param
        ) from None
    if not in_supported_range(day):
        raise click.BadParameter(
            f"{shown(text)} is outside the supported years {SUPPORTED_YEARS}", ctx, param
        )
    return day


class DateType(click.ParamType):
    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        return _convert(str(value), param, ctx)


class DateListType(click.ParamType):
    name = "D1,D2,D3,D4,D5"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> list[date]:
        if isinstance(value, list):
            return value
        parts = [part.strip() for part in str(value).split(",") if part.strip()]
        dates = [_convert(part, param, ctx) for part in parts]
        if not 3 <= len(dates) <= 8:
            self.fail(
                f"give 3 to 8 teaching days (five in the built-in programme), separated by "
                f"commas; got {len(dates)}",
                param,
                ctx,
            )
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


allow_holiday_option = click.option(
    "--allow-holiday",
    is_flag=True,
    help="Accept a teaching day on a public holiday or closure day.",
)
