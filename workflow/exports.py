"""Writing data out for spreadsheets and people."""

from __future__ import annotations

__all__ = [
    "safe_cell",
]


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """A cell a spreadsheet will show as text, never run as a formula."""
    if value and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
