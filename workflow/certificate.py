"""The certificate (kursusbevis): a one-page PDF, and checking a certificate's verification code.

:func:`render_certificate` works on plain data, so the engine can build the PDF inside a step
without reading the database again; :func:`certificate_pdf` and :func:`verify_code` read what
they need through the kernel's :class:`~workflow.kernel.Runtime`.
"""

from __future__ import annotations

import hmac
import importlib.util
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from pathlib import Path
from typing import Any

from notifications.dates import format_date
from states.programme import DAY_THEMES, LOCAL_TZ
from workflow.errors import GuardFailed, InvalidInput, NotFound
from workflow.kernel import Attachment, AttachmentUnavailable, Runtime
from workflow.messages import certificate_code
from workflow.queries import participant_and_cohort
from workflow.records import Step
from workflow.settings import Settings

__all__ = [
    "CODE_PATTERN",
    "PDF_TYPE",
    "IssuedCertificate",
    "Unprintable",
    "certificate_maker",
    "certificate_pdf",
    "file_name",
    "font_files",
    "render_certificate",
    "unprintable",
    "verify_code",
]


PDF_TYPE = "application/pdf"
CODE_PATTERN = re.compile(r"^LPS-([0-9]+)-([0-9A-F]{8})$", re.IGNORECASE | re.ASCII)

_INK = (33, 37, 41)
_MUTED = (96, 103, 112)
_ACCENT = (31, 95, 168)
_PAGE_WIDTH = 210.0
_MARGIN = 22.0


class Unprintable(InvalidInput):
    """A certificate refused because its texts hold letters the font cannot draw; ``letters``
    names them, e.g. ``"中 (U+4E2D), 文 (U+6587)"``."""

    def __init__(self, message: str, letters: str):
        super().__init__(message)
        self.letters = letters


@dataclass(frozen=True)
class IssuedCertificate:
    """Whom a certificate was issued to, and when: the answer to a verification code."""

    code: str
    participant_id: int
    name: str
    email: str
    municipality: str
    cohort_code: str
    cohort_name: str
    issued_on: date
    state: str

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "participant_id": self.participant_id,
            "name": self.name,
            "email": self.email,
            "municipality": self.municipality,
            "cohort": {"code": self.cohort_code, "name": self.cohort_name},
            "issued_on": self.issued_on.isoformat(),
            "state": self.state,
        }


def file_name(participant_id: int) -> str:
    """The certificate's file name, as saved by the CLI and attached to the mail."""
    return f"kursusbevis-{participant_id}.pdf"


@cache
def font_files() -> tuple[Path, Path]:
    """DejaVu Sans (regular, bold) from matplotlib's package data: it covers Danish and the
    Latin letters of Vietnamese, Polish and Turkish names, and needs no system fonts."""
    spec = importlib.util.find_spec("matplotlib")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise InvalidInput(
            "the certificate needs the DejaVu Sans font shipped with matplotlib; "
            "install it with `pip install matplotlib`"
        )
    folder = Path(locations[0]) / "mpl-data" / "fonts" / "ttf"
    regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
    for path in (regular, bold):
        if not path.is_file():
            raise InvalidInput(f"the certificate font {path.name} is missing from matplotlib")
    return regular, bold


@cache
def _drawable() -> frozenset[int]:
    from fontTools.ttLib import TTFont

    covered: frozenset[int] | None = None
    for path in font_files():
        with TTFont(str(path), lazy=True) as font:
            codes = frozenset(font.getBestCmap())
        covered = codes if covered is None else covered & codes
    return covered or frozenset()


# Latin letters up to Latin Extended-B are all in the font: most names need no font look-up.
_SURELY_DRAWABLE = re.compile(r"[\u0020-\u024f]*")


def unprintable(text: str) -> list[str]:
    """The characters of ``text`` (after NFC normalisation) that the certificate's font cannot
    draw, in order of appearance; whitespace is not counted."""
    if _SURELY_DRAWABLE.fullmatch(text):
        return []
    drawable = _drawable()
    missing = (
        char
        for char in unicodedata.normalize("NFC", text)
        if not char.isspace() and ord(char) not in drawable
    )
    return list(dict.fromkeys(missing))


def _letters(chars: list[str]) -> str:
    return ", ".join(f"{char} (U+{ord(char):04X})" for char in chars)


def render_certificate(
    name: str,
    municipality: str,
    cohort_name: str,
    cohort_code: str,
    days: list[date],
    issued_on: date,
    code: str,
    themes: tuple[tuple[str, str], ...] = DAY_THEMES,
) -> bytes:
    """The certificate as PDF bytes. The same input always gives the same bytes.

    Raises :class:`Unprintable` when a text holds a letter the font cannot draw, rather than
    issue a certificate with the letter left out."""
    from fpdf import FPDF

    if len(days) != len(themes):
        raise ValueError(f"a certificate lists {len(themes)} teaching days, got {len(days)}")
    # Names typed on some systems arrive decomposed; the font draws precomposed letters only.
    name, municipality, cohort_name, cohort_code = (
        unicodedata.normalize("NFC", text.strip())
        for text in (name, municipality, cohort_name, cohort_code)
    )
    missing = unprintable(" ".join((name, municipality, cohort_name, cohort_code, code)))
    if missing:
        letters = _letters(missing)
        raise Unprintable(
            f"the certificate for {name} cannot be printed: its font has no letter for {letters}",
            letters,
        )
    regular, bold = font_files()
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_creation_date(datetime.combine(issued_on, time(12), tzinfo=LOCAL_TZ))
    pdf.set_lang("da")
    pdf.set_title(f"Kursusbevis - {name}")
    pdf.set_subject(f"Leder på spring, {cohort_name} ({cohort_code})")
    pdf.set_author("Kursussekretariatet, Leder på spring")
    pdf.set_creator("lps")
    pdf.add_font("DejaVu", "", str(regular))
    pdf.add_font("DejaVu", "B", str(bold))
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.add_page()
    width = _PAGE_WIDTH - 2 * _MARGIN

    pdf.set_draw_color(*_ACCENT)
    pdf.set_line_width(0.8)
    pdf.rect(12, 12, _PAGE_WIDTH - 24, 297 - 24, round_corners=True, corner_radius=4)
    pdf.set_line_width(0.2)
    pdf.rect(14.5, 14.5, _PAGE_WIDTH - 29, 297 - 29, round_corners=True, corner_radius=3)

    pdf.set_y(34)
    _line(pdf, "Kursusbevis", 34, bold=True, color=_ACCENT, height=16)
    _line(pdf, "Leder på spring", 17, height=10)
    pdf.ln(10)
    _line(pdf, "Det bekræftes hermed, at", 12, color=_MUTED, height=8)
    pdf.ln(2)
    _fitted_line(pdf, name, 24, width)
    _line(pdf, municipality, 13, color=_MUTED, height=8)
    pdf.ln(6)
    _wrapped(pdf, "har gennemført lederafklaringsforløbet Leder på spring", 12, width)
    _wrapped(pdf, f"Hold: {cohort_name} ({cohort_code})", 12, width)
    pdf.ln(10)

    pdf.set_font("DejaVu", "B", 12)
    pdf.set_text_color(*_INK)
    pdf.cell(width, 8, "Forløbets fem undervisningsdage", new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(*_ACCENT)
    pdf.line(_MARGIN, pdf.get_y(), _MARGIN + width, pdf.get_y())
    pdf.ln(2)
    dates = [format_date(day, "da") for day in days]
    pdf.set_font("DejaVu", "", 10.5)
    # As wide as the longest date and a gap ("mandag den 14. september 2026" is 62 mm),
    # so that no date runs into its theme.
    date_width = max(62.0, max(pdf.get_string_width(text) for text in dates) + 6)
    for number, (shown, (theme, _)) in enumerate(zip(dates, themes, strict=True), start=1):
        pdf.set_font("DejaVu", "B", 10.5)
        pdf.set_text_color(*_INK)
        pdf.cell(16, 9, f"Dag {number}")
        pdf.set_font("DejaVu", "", 10.5)
        pdf.set_text_color(*_MUTED)
        pdf.cell(date_width, 9, shown)
        pdf.set_text_color(*_INK)
        pdf.cell(width - 16 - date_width, 9, theme, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(12)

    _line(pdf, f"Udstedt {format_date(issued_on, 'da')}", 12, height=8, align="L")
    _line(pdf, "Kursussekretariatet, Leder på spring", 12, color=_MUTED, height=8, align="L")

    pdf.set_y(247)
    pdf.set_draw_color(*_MUTED)
    pdf.line(_MARGIN, pdf.get_y(), _MARGIN + width, pdf.get_y())
    pdf.ln(4)
    pdf.set_font("DejaVu", "", 10)
    pdf.set_text_color(*_MUTED)
    pdf.cell(34, 7, "Verifikationskode:")
    pdf.set_font("DejaVu", "B", 12)
    pdf.set_text_color(*_INK)
    pdf.cell(width - 34, 7, code, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    pdf.set_text_color(*_MUTED)
    pdf.multi_cell(
        width,
        5,
        "Kursussekretariatet kan bekræfte beviset ud fra koden.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())


def _line(
    pdf: Any,
    text: str,
    size: float,
    *,
    bold: bool = False,
    color: tuple[int, int, int] = _INK,
    height: float = 8,
    align: str = "C",
) -> None:
    pdf.set_font("DejaVu", "B" if bold else "", size)
    pdf.set_text_color(*color)
    pdf.cell(0, height, text, align=align, new_x="LMARGIN", new_y="NEXT")


def _fitted_line(pdf: Any, text: str, size: float, width: float) -> None:
    """The name on one line, made smaller until it fits; wrapped if even 14 pt is too wide."""
    pdf.set_font("DejaVu", "B", size)
    while size > 14 and pdf.get_string_width(text) > width:
        size -= 1
        pdf.set_font("DejaVu", "B", size)
    pdf.set_text_color(*_INK)
    pdf.multi_cell(width, size * 0.5, text, align="C", new_x="LMARGIN", new_y="NEXT")


def _wrapped(pdf: Any, text: str, size: float, width: float) -> None:
    pdf.set_font("DejaVu", "", size)
    pdf.set_text_color(*_INK)
    pdf.multi_cell(width, 7, text, align="C", new_x="LMARGIN", new_y="NEXT")


def certificate_pdf(runtime: Runtime, ref: str | int) -> tuple[str, bytes]:
    """(file name, PDF bytes) of a participant's certificate; refused unless it was issued."""
    with runtime.db.reading() as conn:
        row, cohort = participant_and_cohort(conn, ref)
    issued_on = row.facts.certified
    if issued_on is None:
        raise GuardFailed("certificate", [f"{row.name} is not certified (state {row.state})"])
    pdf = render_certificate(
        row.name,
        row.municipality,
        cohort.name,
        cohort.code,
        list(cohort.days),
        issued_on,
        certificate_code(row.id, issued_on, secret=runtime.settings.certificate_secret),
        row.rules.day_themes,
    )
    return file_name(row.id), pdf


def verify_code(runtime: Runtime, code: str) -> IssuedCertificate:
    """Whom the certificate with ``code`` was issued to, and when; :class:`NotFound` when no
    certificate has that code."""
    text = code.strip()
    unknown = NotFound(f"no certificate with code {text}")
    match = CODE_PATTERN.match(text)
    if match is None:
        raise unknown
    participant_id = int(match.group(1))
    try:
        with runtime.db.reading() as conn:
            view, cohort = participant_and_cohort(conn, participant_id)
    except NotFound:
        raise unknown from None
    issued_on = view.facts.certified
    if issued_on is None:
        raise unknown
    expected = certificate_code(view.id, issued_on, secret=runtime.settings.certificate_secret)
    if not hmac.compare_digest(expected.upper(), text.upper()):
        raise unknown
    return IssuedCertificate(
        code=expected,
        participant_id=view.id,
        name=view.name,
        email=view.email,
        municipality=view.municipality,
        cohort_code=cohort.code,
        cohort_name=cohort.name,
        issued_on=issued_on,
        state=view.state,
    )


def certificate_maker(step: Step, settings: Settings) -> Callable[[str], Attachment | None] | None:
    """The certificate mail's attachment: the kursusbevis as PDF, once certified. It names the
    participant, so it stays on each message's row, under its row-level security."""
    issued = step.facts.certified
    if issued is None:
        return None
    try:
        pdf = render_certificate(
            step.row.name,
            step.row.municipality,
            step.cohort.name,
            step.cohort.code,
            list(step.cohort.days),
            issued,
            certificate_code(step.row.id, issued, secret=settings.certificate_secret),
            step.cohort.rules.day_themes,
        )
    except Unprintable as refused:
        raise AttachmentUnavailable(
            str(refused), what="the certificate PDF", missing=refused.letters
        ) from None
    return lambda language: Attachment(file_name(step.row.id), PDF_TYPE, pdf)
