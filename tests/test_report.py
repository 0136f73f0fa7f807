"""The cohort report: its content, the CSV a spreadsheet opens, and the HTML page as headless
Chromium renders it."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import Cli, enrol, make_cohort

from cli.main import COMMANDS
from states import diagram
from workflow.clock import FixedClock
from workflow.engine import StepRequest, Workflow
from workflow.report import Report

NAMES = [
    "Søren Ærø",
    "Nguyễn Thị Lan",
    "Łukasz <b>Nowak</b> & Co",
    '=HYPERLINK("http://evil.example","klik")',
    "Åse Øberg",
    "Şükrü Yılmaz",
]
# A4 landscape in PostScript points.
A4_LANDSCAPE = (842, 595)


@pytest.fixture(autouse=True)
def report_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """``lps report`` as cli/main.py registers it."""
    monkeypatch.setitem(
        COMMANDS, "report", ("cli.report", "report", "A cohort at a glance: HTML or CSV.")
    )


def populate(wf: Workflow, clock: FixedClock) -> list[int]:
    """Six participants at different points of the path on 20 March 2027 (day 2 was the 15th):

    1 day 2, everything on time; 2 day 2 with an absence; 3 day 1 with the JTI waived;
    4 day 1 with the JTI overdue; 5 still invited, conversation and JTI overdue; 6 withdrawn.
    """
    make_cohort(wf, "F27", name="Leder på spring, forår 2027")
    municipalities = ["Odense", "Vejle", "Aarhus", "Odense", "Kolding", "Vejle"]
    ids = [
        enrol(
            wf,
            cohort="F27",
            email=f"p{n}@example.dk",
            name=name,
            municipality=municipality,
            workplace="Jobcenter" if n % 2 else None,
        )
        for n, (name, municipality) in enumerate(zip(NAMES, municipalities, strict=True), 1)
    ]
    p1, p2, p3, p4, _, p6 = ids
    for pid in (p1, p2, p3, p4):
        wf.advance(pid, StepRequest("hold_manager_conversation", goals=("Tydelighed",)))
    clock.set(datetime(2027, 2, 15, 10, 0))
    for pid in ids:
        wf.advance(pid, StepRequest("invite_jti"))
    wf.advance(p6, StepRequest("withdraw", reason="Nyt job"))
    for pid in (p1, p2):
        wf.advance(pid, StepRequest("complete_jti"))
    clock.set(datetime(2027, 3, 1, 10, 0))
    for pid in (p1, p2, p3, p4):
        wf.advance(pid, StepRequest("register_day"))
    clock.set(datetime(2027, 3, 15, 10, 0))
    wf.advance(p1, StepRequest("register_day"))
    wf.advance(p2, StepRequest("register_day", absent=True, reason="Syg"))
    wf.waive(p3, "jti", "Fritaget efter aftale")
    clock.set(datetime(2027, 3, 20, 10, 0))
    return ids


def statuses(report: Report) -> dict[str, dict[str, str]]:
    return {row.name: {c.name: c.status for c in row.obligations} for row in report.rows}


# -- content ----------------------------------------------------------------------------------


def test_the_report_puts_every_participant_against_the_path(
    wf: Workflow, clock: FixedClock
) -> None:
    ids = populate(wf, clock)
    report = wf.report("F27")
    assert [row.id for row in report.rows] == ids
    assert [row.state for row in report.rows] == [
        "day_2",
        "day_2",
        "day_1",
        "day_1",
        "jti_invited",
        "withdrawn",
    ]
    found = statuses(report)
    assert found["Søren Ærø"] == {
        "manager_conversation": "met",
        "jti": "met",
        "career_visit": "open",
        "attendance": "open",
        "speech": "open",
    }
    assert found["Łukasz <b>Nowak</b> & Co"]["jti"] == "waived"
    assert found[NAMES[3]]["jti"] == "overdue"
    assert found["Åse Øberg"]["manager_conversation"] == "overdue"
    assert found["Åse Øberg"]["jti"] == "overdue"
    assert set(found["Şükrü Yılmaz"].values()) == {"ended"}

    first = report.rows[0].obligations[0]
    assert (first.on, first.due) == (date(2027, 1, 4), date(2027, 2, 15))
    waived = report.rows[2].obligations[1]
    assert (waived.on, waived.note) == (date(2027, 3, 15), "Fritaget efter aftale")
    assert (report.rows[1].days_attended, report.rows[1].absences) == (1, 1)

    assert report.by_state == [
        ("jti_invited", "JTI og artikler udsendt", 1),
        ("day_1", "Undervisningsdag 1", 2),
        ("day_2", "Undervisningsdag 2", 2),
        ("withdrawn", "Udmeldt", 1),
    ]
    assert report.by_obligation["jti"] == {
        "met": 2,
        "waived": 1,
        "open": 0,
        "overdue": 2,
        "ended": 1,
    }


def test_the_csv_opens_in_a_spreadsheet_with_danish_letters_and_no_formulas(
    wf: Workflow, clock: FixedClock
) -> None:
    populate(wf, clock)
    text = wf.report("F27").csv()
    data = text.encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert [row["name"] for row in rows] == [
        "Søren Ærø",
        "Nguyễn Thị Lan",
        "Łukasz <b>Nowak</b> & Co",
        "'" + NAMES[3],
        "Åse Øberg",
        "Şükrü Yılmaz",
    ]
    assert rows[0]["state_label"] == "Undervisningsdag 2"
    assert rows[0]["manager_conversation"] == "met"
    assert rows[0]["manager_conversation_date"] == "2027-01-04"
    assert rows[0]["manager_conversation_due"] == "2027-02-15"
    assert rows[2]["jti"] == "waived"
    assert rows[2]["jti_note"] == "Fritaget efter aftale"
    assert rows[3]["jti"] == "overdue"
    assert rows[5]["state"] == "withdrawn"
    assert not any(value.startswith(("=", "+", "-", "@")) for row in rows for value in row.values())


def test_the_html_escapes_names_and_needs_nothing_from_outside(
    wf: Workflow, clock: FixedClock
) -> None:
    populate(wf, clock)
    page = wf.report("F27").html()
    assert "Łukasz &lt;b&gt;Nowak&lt;/b&gt; &amp; Co" in page
    assert "<b>Nowak</b>" not in page
    assert "@page { size: A4 landscape; margin: 12mm; }" in page
    for outside in ("<link", "<script", "src=", "@import"):
        assert outside not in page
    assert re.findall(r"url\((?!#)", page) == [], "only references within the page"
    if callable(getattr(diagram, "svg", None)):
        assert re.search(r'<section class="diagram">\s*<h2>Forløbet</h2>\s*<figure><svg', page)
    else:
        assert "<pre>stateDiagram-v2" in page


# -- in headless Chromium ---------------------------------------------------------------------


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    reason = (
        "Chromium is not installed, so the report cannot be rendered (apt-get install -y chromium)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser tests")
    pytest.skip(reason)


def run_chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
        page.as_uri(),
    ]
    return subprocess.run(
        command, capture_output=True, text=True, errors="replace", timeout=180, check=False
    )


def page_errors(stderr: str) -> list[str]:
    """Console lines a person with the developer tools open would see as errors."""
    return [
        line
        for line in stderr.splitlines()
        if "Uncaught" in line or "Failed to load resource" in line
    ]


class ParticipantRows(HTMLParser):
    """The text of each cell of each row of the participants table."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.in_table = False
        self.depth = 0
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("id", "participants") in attrs:
            self.in_table = True
        elif self.in_table and tag == "tr" and any(k == "data-participant" for k, _ in attrs):
            self.rows.append([])
        elif self.in_table and tag == "td" and self.rows:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.in_table = False
        elif tag == "td" and self.cell is not None:
            self.rows[-1].append(" ".join(" ".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


@pytest.fixture
def report_page(sqlite_url: str, tmp_path: Path) -> Path:
    from workflow.db import Database
    from workflow.migrate import upgrade

    database = Database(sqlite_url)
    upgrade(database)
    clock = FixedClock(datetime(2027, 1, 4, 10, 0))
    wf = Workflow(database, clock=clock, actor="tester")
    populate(wf, clock)
    page = tmp_path / "rapport.html"
    page.write_text(wf.report("F27").html(), encoding="utf-8")
    database.dispose()
    return page


def test_chromium_shows_one_row_per_participant_without_errors(
    report_page: Path, tmp_path: Path
) -> None:
    result = run_chromium(report_page, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert page_errors(result.stderr) == []
    parser = ParticipantRows()
    parser.feed(result.stdout)
    assert len(parser.rows) == len(NAMES)
    shown = [row[1] for row in parser.rows]
    for name, cell in zip(NAMES, shown, strict=True):
        assert cell.startswith(name), (name, cell)
    assert parser.rows[0][4].startswith("Undervisningsdag 2")
    assert parser.rows[4][6] == "Overskredet frist 15.2.2027"
    assert parser.rows[2][7] == "Fritaget 15.3.2027 Fritaget efter aftale"


def test_the_error_check_sees_a_broken_page(tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text(
        '<!DOCTYPE html><p>x</p><img src="missing.png"><script>notDefined()</script>',
        encoding="utf-8",
    )
    result = run_chromium(broken, tmp_path / "profile", "--dump-dom")
    errors = page_errors(result.stderr)
    assert any("Uncaught ReferenceError: notDefined is not defined" in e for e in errors)


def test_the_report_prints_on_a4_landscape(report_page: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "rapport.pdf"
    result = run_chromium(
        report_page, tmp_path / "profile", "--no-pdf-header-footer", f"--print-to-pdf={pdf}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf.read_bytes())
    assert boxes, "no pages in the PDF"
    assert all(
        (round(float(width)), round(float(height))) == A4_LANDSCAPE for width, height in boxes
    )


def test_a_screenshot_of_the_report_is_drawn(report_page: Path, tmp_path: Path) -> None:
    png = tmp_path / "rapport.png"
    result = run_chromium(
        report_page, tmp_path / "profile", f"--screenshot={png}", "--window-size=1400,1000"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000


# -- the command ------------------------------------------------------------------------------


def test_lps_report_writes_html_and_csv(
    lps: Cli, wf: Workflow, clock: FixedClock, tmp_path: Path
) -> None:
    populate(wf, clock)
    lps.now = "2027-03-20T10:00"
    target = tmp_path / "f27.csv"
    written = lps("report", "F27", "--format", "csv", "--output", str(target))
    assert written.exit_code == 0, written.output
    assert written.output == f"Wrote the csv report of cohort F27 to {target}\n"
    lines = target.read_bytes().decode("utf-8-sig").splitlines()
    assert len(lines) == 1 + len(NAMES)

    page = lps("report", "F27")
    assert page.exit_code == 0
    html = page.stdout_bytes.decode("utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<tr data-participant=") == len(NAMES)

    unknown = lps("report", "NOPE")
    assert unknown.exit_code == 1
    assert unknown.output == "Error: no cohort with code 'NOPE'; see `lps cohort list`\n"
