"""The pictures in the README are regenerated from the code; these tests keep them current."""

from __future__ import annotations

from pathlib import Path

from notifications.delivery import EmlChannel
from states.diagram import svg
from workflow.clock import parse_moment
from workflow.demo import run_demo
from workflow.engine import Workflow

DOCS = Path(__file__).resolve().parent.parent / "docs"
DEMO_END = "2027-06-30T12:00"


def test_programme_picture_is_current() -> None:
    assert (DOCS / "programme.svg").read_text(encoding="utf-8") == svg(), (
        "docs/programme.svg is stale: run `lps diagram --format svg > docs/programme.svg`"
    )


def test_report_example_is_current(tmp_path: Path) -> None:

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    end = parse_moment(DEMO_END)
    code = run_demo(
        url, end=end, narrate=lambda line: None, channel=EmlChannel(tmp_path / "outbox")
    )
    from workflow.clock import FixedClock

    workflow = Workflow.open(url, clock=FixedClock(end), actor="demo")
    html = workflow.report(code).html()
    assert (DOCS / "report.html").read_text(encoding="utf-8") == html, (
        "docs/report.html is stale: in an empty folder run `LPS_NOW=2027-06-30T12:00 lps demo` "
        "then `LPS_NOW=2027-06-30T12:00 lps report DEMO-1 --output docs/report.html`"
    )
