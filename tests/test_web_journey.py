"""One participant's whole path through the links of their mails, their manager's and their
host's, each page checked by axe-core for WCAG 2.1 AA in headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import DAYS, enrol, make_cohort
from engine_helpers import INVITE_DAY, go
from helpers import on
from selfservice_helpers import token_in
from smtp_server import SmtpSink, free_port
from web_helpers import browser, serving, text_of, web_engine

from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import Workflow

__all__ = ["browser"]

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "self-service.png"
D1, D2, D3, D4, D5 = DAYS
SOREN, METTE, HANNE = "soren@example.dk", "mette@example.dk", "hanne@odense.dk"


def accessibility_problems(page: Any) -> list[str]:
    """axe-core's serious and critical violations of WCAG 2.1 A and AA on the page."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(
        page,
        options={
            "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}
        },
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def site(
    sqlite_url: str, clock: FixedClock, tmp_path: Path, sink: SmtpSink
) -> Iterator[tuple[Workflow, str]]:
    from workflow.migrate import upgrade

    database = Database(sqlite_url)
    upgrade(database)
    port = free_port()
    wf = web_engine(database, clock, tmp_path, sink.url, port)
    with serving(wf, port) as base:
        yield wf, base
    database.dispose()


def test_every_page_of_the_path_records_and_passes_axe(
    site: tuple[Workflow, str], sink: SmtpSink, browser: Any, clock: FixedClock
) -> None:
    wf, base = site
    make_cohort(wf, self_service="record")
    pid = enrol(wf)
    page = browser.new_page(viewport={"width": 720, "height": 640}, locale="da-DK")
    seen: dict[str, list[str]] = {}

    def mail(to: str, index: int = 0) -> str:
        wf.remind(channel=wf.channel())
        latest = [m for m in sink.messages if to in str(m["To"])][-1]
        return f"{base}/l/{token_in(text_of(latest), index)}"

    def check(name: str) -> None:
        seen[name] = accessibility_problems(page)

    # The manager records the conversation; a mistake first, shown beside its field.
    page.goto(mail(METTE))
    check("form")
    page.get_by_label("Læringsmål").fill("Lede møder med tydelige beslutninger\nGive feedback")
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    page.get_by_label("Læringsmål").fill("")
    page.get_by_label("Læringsmål").fill("Lede møder")
    page.get_by_role("button", name="Send").click()
    assert page.inner_text("#on-error") == "Udfyld feltet."
    assert page.input_value("#goals") == "Lede møder"
    check("form with errors")
    page.get_by_label("Dato").fill("2027-01-04")
    page.get_by_role("button", name="Send").click()
    check("recorded")
    assert wf.history(pid)[-1].actor == "manager:mette@example.dk via link"

    # The overview of the manager's participants.
    enrol(wf, "anna@example.dk", name="Anna Berg")
    page.goto(mail(METTE, 1))
    rows = page.inner_text("table")
    assert "Anna Berg" in rows and "Søren Ærø" in rows and "JTI-spørgeskemaet" in rows
    check("overview")

    on(clock, INVITE_DAY)
    wf.remind(channel=wf.channel())
    go(wf, pid, "complete_jti")
    for day in (D1, D2, D3):
        on(clock, day)
        go(wf, pid, "register_day")

    # At day 3 no host is registered: the participant names one.
    on(clock, D3 + timedelta(days=1))
    page.goto(mail(SOREN))
    assert page.get_attribute("html", "lang") == "da"
    check("host form")
    page.get_by_label("Værtens navn").fill("Hanne Vært")
    page.get_by_label("Værtens e-mail").fill(HANNE)
    page.get_by_label("Erfaren leder").check()
    page.get_by_label("Værtens kommune").fill("Odense")
    page.get_by_role("button", name="Send").click()
    assert "Det er registreret." in page.inner_text("main")
    assert wf.participant(pid).facts.host is not None

    # The host's letter asks the host to confirm the visit.
    page.goto(mail(HANNE))
    page.get_by_label("Dato").fill((D3 + timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Send").click()
    assert wf.participant(pid).facts.career_visit == D3 + timedelta(days=1)
    assert wf.history(pid)[-1].actor == f"host:{HANNE} via link"

    for day in (D4, D5):
        on(clock, day)
        go(wf, pid, "register_day")
    go(wf, pid, "deliver_speech")
    assert wf.participant(pid).state == "certified"

    # The certificate invites to the closing conversation.
    on(clock, D5 + timedelta(days=10))
    page.goto(mail(SOREN))
    check("closing form")
    page.get_by_label("Vi holdt samtalen").check()
    page.get_by_label("Dato").fill((D5 + timedelta(days=9)).isoformat())
    page.get_by_label("Aftaler").fill("Praktik i ældreplejen")
    page.get_by_label("Der er aftalt et lederpraktikforløb (praktikaftale)").check()
    page.get_by_role("button", name="Send").click()
    view = wf.participant(pid)
    assert view.state == "closing_conversation_held" and view.facts.internship is True
    check("closing recorded")

    page.goto(f"{base}/l/{'A' * 32}")
    check("closed")
    assert seen == {name: [] for name in seen}
    assert wf.verify_audit().ok
    page.close()


def test_the_readme_shows_the_page_a_test_keeps_current() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/self-service.png)" in readme
    assert SCREENSHOT.stat().st_size > 10_000
