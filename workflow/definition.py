"""The programme's definition as faces show it: its state labels, the themes of its teaching
days, and its diagram. Faces read these here rather than from :mod:`states`, so the arrows
stay cli -> workflow -> states."""

from __future__ import annotations

from datetime import date, datetime

from states.programme import DAY_THEMES, STATE_BY_NAME

__all__ = ["DIAGRAM_FORMATS", "date_text", "day_themes", "diagram", "moment_text", "state_label"]

DIAGRAM_FORMATS = ("mermaid", "dot", "svg")


def state_label(state: str, language: str = "da") -> str:
    """A state's label in Danish (``da``) or English (``en``)."""
    found = STATE_BY_NAME[state]
    return found.label_da if language == "da" else found.label_en


def date_text(day: date, language: str = "da") -> str:
    """A date as the mails write it: "mandag den 5. april 2027" or "Monday 5 April 2027"."""
    from notifications.dates import format_date

    return format_date(day, language)


def moment_text(moment: datetime, language: str = "da") -> str:
    """A moment in Copenhagen time as the mails write it ("... kl. 9.00")."""
    from notifications.dates import format_datetime

    return format_datetime(moment, language)


def day_themes(language: str = "da") -> tuple[str, ...]:
    """The theme of each teaching day, in order."""
    return tuple(da if language == "da" else en for da, en in DAY_THEMES)


def diagram(fmt: str = "mermaid", *, exits: bool = False) -> str:
    """The programme's state machine as Mermaid, Graphviz DOT or an SVG picture."""
    from states import diagram as drawing

    drawers = {"mermaid": drawing.mermaid, "dot": drawing.dot, "svg": drawing.svg}
    return str(drawers[fmt](exits))
