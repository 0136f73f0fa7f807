"""The root of lps's one exception tree.

It lives in the bottom layer, which every other package may import, so that the engine's
refusals, delivery failures and malformed mail are all :class:`LpsError`\\ s that a face
catches in one place.
"""

from __future__ import annotations

__all__ = ["LpsError", "Refusal"]


class Refusal(str):
    """A reason for a refusal that a person can mend by giving something along with the
    step: ``asks`` names it (``goal``, ``reason``, ``to``, ``early``, ``absent``, ``cohort``),
    so that each face can say how it is given there (the CLI adds its option)."""

    asks: str | None

    def __new__(cls, text: str, asks: str | None = None) -> Refusal:
        made = super().__new__(cls, text)
        made.asks = asks
        return made


class LpsError(Exception):
    """Base of every error lps reports to its callers."""

    def lines(self) -> list[str]:
        """The error as one or more lines for a person to read."""
        return [str(self)]
