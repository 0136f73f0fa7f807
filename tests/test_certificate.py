"""The certificate (kursusbevis): the PDF a participant receives, read back as text, and the
verification of its code, through the CLI on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re
import unicodedata
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import DAYS, Cli, enrol, make_cohort
from helpers import on
from pypdf import PdfReader

from workflow.certificate import render_certificate
from workflow.clock import FixedClock
from workflow.engine import StepRequest, Workflow
from workflow.errors import GuardFailed, InvalidInput, NotFound
from workflow.messages import certificate_code
from workflow.settings import DEFAULT_CERTIFICATE_SECRET


def code_for(participant_id: int, issued_on: date) -> str:
    return certificate_code(participant_id, issued_on, secret=DEFAULT_CERTIFICATE_SECRET)


D1, D2, D3, D4, D5 = DAYS
NAME = "Nguyễn Łukasz Şükrü"
COHORT_NAME = "Leder på spring, forår 2027"
ARABIC_INDIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
DATES_AND_THEMES = [
    "Dag 1 mandag den 1. marts 2027 Ledelse i en kommunal kontekst",
    "Dag 2 mandag den 15. marts 2027 Dig som leder",
    "Dag 3 mandag den 29. marts 2027 Ledelse i spil",
    "Dag 4 mandag den 12. april 2027 Min vej mod ledelse",
    "Dag 5 mandag den 26. april 2027 Min vej mod ledelse, fortsat",
]


@pytest.fixture(autouse=True)
def certificate_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make sure ``lps certificate`` is reachable through the lazy command map."""
    from cli.main import COMMANDS

    monkeypatch.setitem(
        COMMANDS,
        "certificate",
        ("cli.certificate", "certificate", "Write or verify a participant's certificate."),
    )


def certify(wf: Workflow, clock: FixedClock, pid: int) -> None:
    """Walk a participant to ``certified`` the short way: every skippable obligation waived."""
    on(clock, D1 - timedelta(days=14))
    wf.advance(pid, StepRequest("invite_jti"))
    for obligation in ("manager_conversation", "jti", "career_visit"):
        wf.waive(pid, obligation, "Aftalt med kursussekretariatet")
    for day in DAYS:
        on(clock, day)
        wf.advance(pid, StepRequest("register_day"))
    assert wf.advance(pid, StepRequest("deliver_speech")).participant.state == "certified"


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.fixture
def certified(wf: Workflow, clock: FixedClock) -> int:
    make_cohort(wf, "F27", name=COHORT_NAME)
    pid = enrol(wf, email="nguyen@example.dk", cohort="F27", name=NAME, municipality="Vejle")
    certify(wf, clock, pid)
    return pid


def test_certificate_pdf_holds_name_cohort_dates_themes_and_code(
    certified: int, lps: Cli, tmp_path: Path
) -> None:
    target = tmp_path / "bevis" / "nguyen.pdf"
    target.parent.mkdir()
    result = lps("certificate", str(certified), "--output", str(target))
    assert result.exit_code == 0, result.output
    assert result.output == f"Certificate written to {target}\n"

    content = target.read_bytes()
    assert content.startswith(b"%PDF-")
    assert len(PdfReader(io.BytesIO(content)).pages) == 1
    lines = pdf_text(content).splitlines()
    code = code_for(certified, D5)
    assert re.fullmatch(rf"LPS-{certified}-[0-9A-F]{{8}}", code)
    assert lines[:7] == [
        "Kursusbevis",
        "Leder på spring",
        "Det bekræftes hermed, at",
        NAME,
        "Vejle",
        "har gennemført lederafklaringsforløbet Leder på spring",
        f"Hold: {COHORT_NAME} (F27)",
    ]
    assert lines[8:13] == DATES_AND_THEMES
    assert "Udstedt mandag den 26. april 2027" in lines
    assert f"Verifikationskode: {code}" in lines


def test_certificate_defaults_to_a_file_named_after_the_participant_here(
    certified: int, lps: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = lps("certificate", "nguyen@example.dk")
    assert result.exit_code == 0, result.output
    assert result.output == f"Certificate written to kursusbevis-{certified}.pdf\n"
    assert NAME in pdf_text((tmp_path / f"kursusbevis-{certified}.pdf").read_bytes())
    # the explicit subcommand does the same
    result = lps("certificate", "pdf", str(certified), "-o", "again.pdf")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "again.pdf").read_bytes() == (
        tmp_path / f"kursusbevis-{certified}.pdf"
    ).read_bytes()


def test_uncertified_participant_is_refused(
    wf: Workflow, clock: FixedClock, lps: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_cohort(wf)
    pid = enrol(wf)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    result = lps("certificate", str(pid))
    assert result.exit_code == 1
    assert result.output == "Error: Søren Ærø is not certified (state enrolled)\n"
    assert list(here.iterdir()) == []

    on(clock, D1 - timedelta(days=14))
    wf.advance(pid, StepRequest("invite_jti"))
    for day in DAYS:
        on(clock, day)
        wf.advance(pid, StepRequest("register_day"))
    with pytest.raises(GuardFailed) as refused:
        wf.certificate(pid)
    assert (refused.value.trigger, refused.value.reasons) == (
        "certificate",
        ["Søren Ærø is not certified (state day_5)"],
    )


def test_verify_names_whom_and_when(certified: int, lps: Cli) -> None:
    code = code_for(certified, D5)
    expected = (
        f"{code} is valid: issued to {NAME} (Vejle), cohort {COHORT_NAME} (F27), on 2027-04-26\n"
    )
    result = lps("certificate", "verify", code)
    assert (result.exit_code, result.output) == (0, expected)
    # read aloud or typed by hand: case and surrounding spaces do not matter
    result = lps("certificate", "verify", f"  {code.lower()} ")
    assert (result.exit_code, result.output) == (0, expected)

    result = lps("certificate", "verify", code, "--json")
    assert result.exit_code == 0, result.output
    assert '"name": "Nguyễn Łukasz Şükrü"' in result.output
    assert '"issued_on": "2027-04-26"' in result.output


def test_verify_refuses_codes_nobody_was_issued(wf: Workflow, certified: int, lps: Cli) -> None:
    code = code_for(certified, D5)
    tampered = code[:-1] + ("0" if code[-1] != "0" else "1")
    make_cohort(wf, "E27", days=tuple(day + timedelta(days=182) for day in DAYS))
    other = enrol(wf, email="anna@example.dk", cohort="E27", name="Anna Ørsted")
    wrong = [
        tampered,
        code_for(certified, D4),  # right person, wrong issue date
        code_for(other, D5),  # a well-formed code for someone not certified
        code_for(9999, D5),  # nobody with that id
        code.replace(str(certified), str(certified).translate(ARABIC_INDIC_DIGITS), 1),
        "LPS-1",
        "hello",
    ]
    for bad in wrong:
        result = lps("certificate", "verify", bad)
        assert (result.exit_code, result.output) == (
            1,
            f"Error: no certificate with code {bad}\n",
        ), bad
    with pytest.raises(NotFound, match=f"^no certificate with code {tampered}$"):
        wf.verify_certificate(tampered)


def test_certificate_stays_available_after_completion_with_its_issue_date(
    wf: Workflow, clock: FixedClock, certified: int
) -> None:
    _, before = wf.certificate(certified)
    on(clock, D5 + timedelta(days=20))
    wf.advance(certified, StepRequest("hold_closing_conversation"))
    assert wf.advance(certified, StepRequest("complete")).participant.state == "completed"
    name, after = wf.certificate(certified)
    assert name == f"kursusbevis-{certified}.pdf"
    assert after == before
    issued = wf.verify_certificate(code_for(certified, D5))
    assert (issued.name, issued.cohort_code, issued.issued_on, issued.state) == (
        NAME,
        "F27",
        D5,
        "completed",
    )


# -- the PDF builder on plain data --------------------------------------------------------------


def test_render_prints_decomposed_names_composed() -> None:
    decomposed = unicodedata.normalize("NFD", f"{NAME} Æblø")
    assert decomposed != f"{NAME} Æblø"
    content = render_certificate(
        decomposed, "Aabenraa", "Hold", "H1", list(DAYS), D5, "LPS-1-00000000"
    )
    assert f"{NAME} Æblø" in pdf_text(content).splitlines()


def test_render_refuses_letters_the_font_cannot_draw() -> None:
    with pytest.raises(InvalidInput) as refused:
        render_certificate("Wang 王 Fang", "Odense", "Hold", "H1", list(DAYS), D5, "LPS-1-00000000")
    assert str(refused.value) == (
        "the certificate for Wang 王 Fang cannot be printed: its font has no letter for 王 (U+738B)"
    )


def test_long_names_are_made_smaller_to_fit_one_line_and_wrap_only_beyond() -> None:
    name = "Maria-Kristina Østergaard-Bjørnholm Vindeløv"
    content = render_certificate(
        name, "Ringkøbing-Skjern", "Hold", "H1", list(DAYS), D5, "LPS-1-00000000"
    )
    assert name in pdf_text(content).splitlines()

    endless = " ".join([name] * 3)
    content = render_certificate(endless, "Odense", "Hold", "H1", list(DAYS), D5, "LPS-1-0")
    lines = pdf_text(content).splitlines()
    assert endless not in lines
    assert endless in " ".join(" ".join(lines).split())


def test_the_longest_dates_stay_clear_of_the_themes() -> None:
    # The longest Danish dates: the longest weekday name with the longest month's.
    days = [
        date(2026, 9, 14),
        date(2026, 9, 30),
        date(2026, 9, 24),
        date(2026, 9, 28),
        date(2027, 9, 29),
    ]
    content = render_certificate(
        name="Søren Ærø",
        municipality="Odense",
        cohort_name=COHORT_NAME,
        cohort_code="H26",
        days=days,
        issued_on=date(2027, 10, 1),
        code="LPS-1-0000ABCD",
    )
    lines = pdf_text(content).splitlines()
    assert lines[8:13] == [
        "Dag 1 mandag den 14. september 2026 Ledelse i en kommunal kontekst",
        "Dag 2 onsdag den 30. september 2026 Dig som leder",
        "Dag 3 torsdag den 24. september 2026 Ledelse i spil",
        "Dag 4 mandag den 28. september 2026 Min vej mod ledelse",
        "Dag 5 onsdag den 29. september 2027 Min vej mod ledelse, fortsat",
    ]
    # Laid out as on the page: a clear gap between the date column and the theme's.
    laid_out = PdfReader(io.BytesIO(content)).pages[0].extract_text(extraction_mode="layout")
    for day in ("torsdag den 24. september 2026", "mandag den 14. september 2026"):
        assert re.search(re.escape(day) + r"  +\S", laid_out), laid_out
