"""The root of lps's one exception tree.

It lives in the bottom layer, which every other package may import, so that the engine's
refusals, delivery failures and malformed mail are all :class:`LpsError`\\ s that a face
catches in one place.
"""

from __future__ import annotations

__all__ = ["LpsError"]


class LpsError(Exception):
    """Base of every error lps reports to its callers."""

    def lines(self) -> list[str]:
        """The error as one or more lines for a person to read."""
        return [str(self)]
