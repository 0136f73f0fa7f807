"""The pages behind the personal links, as a person and as a mail scanner meet them: mail
received over SMTP, the link taken from it, headless Chromium filling in the form."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import DAYS, Cli, enrol, make_cohort
from engine_helpers import INVITE_DAY, go
from helpers import ok, on
from smtp_server import SmtpSink, free_port
from web_helpers import browser, link_in_mail, serving, text_of, web_engine

from web.app import RateLimit
from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import Workflow

__all__ = ["browser"]

ROOT = Path(__file__).resolve().parent.parent
SOREN, METTE = "soren@example.dk", "mette@example.dk"


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def site(
    database: Database, clock: FixedClock, tmp_path: Path, sink: SmtpSink, port: int
) -> Iterator[tuple[Workflow, str]]:
    wf = web_engine(database, clock, tmp_path, sink.url, port)
    with serving(wf, port) as base:
        yield wf, base


def delivered(wf: Workflow) -> None:
    wf.remind(channel=wf.channel())


def trail_length(wf: Workflow, pid: int) -> int:
    return len(wf.history(pid))


def test_a_participant_records_the_conversation_from_the_welcome_mail(
    site: tuple[Workflow, str], sink: SmtpSink, browser: Any, clock: FixedClock
) -> None:
    wf, base = site
    make_cohort(wf, self_service="record")
    pid = enrol(wf)
    delivered(wf)
    page = browser.new_page()
    response = page.goto(base + link_in_mail(sink.messages, SOREN))
    assert response.status == 200
    assert page.get_attribute("html", "lang") == "da"
    assert "hvilke læringsmål Søren Ærø satte" in page.inner_text("main")
    page.get_by_label("Dato").fill("2027-01-04")
    page.get_by_label("Læringsmål").fill("Lede møder\nTage svære beslutninger")
    page.get_by_role("button", name="Send").click()
    shown = page.inner_text("main")
    assert "Det er registreret." in shown
    assert "Registreret mandag den 4. januar 2027 kl. 10.00 af deltageren (link)." in shown
    view = wf.participant(pid)
    assert view.state == "manager_conversation_held"
    assert view.facts.goals == ("Lede møder", "Tage svære beslutninger")
    entry = wf.history(pid)[-1]
    assert (entry.event, entry.actor, entry.channel) == (
        "hold_manager_conversation",
        f"participant:{pid} via link",
        "link",
    )
    # The next mail that asks for something carries the next link.
    on(clock, INVITE_DAY)
    delivered(wf)
    invitation = link_in_mail(sink.messages, SOREN, "JTI")
    page.goto(base + invitation)
    page.get_by_label("Dato").fill(INVITE_DAY.isoformat())
    page.get_by_role("button", name="Send").click()
    assert "Det er registreret." in page.inner_text("main")
    assert wf.participant(pid).state == "jti_completed"
    assert wf.verify_audit().ok
    page.close()


def test_an_english_participant_gets_english_pages_and_refusals_beside_the_field(
    site: tuple[Workflow, str], sink: SmtpSink, browser: Any
) -> None:
    wf, base = site
    make_cohort(wf, self_service="record")
    pid = enrol(wf, language="en")
    delivered(wf)
    page = browser.new_page()
    page.goto(base + link_in_mail(sink.messages, SOREN))
    assert page.get_attribute("html", "lang") == "en"
    page.get_by_label("Date").fill("2027-02-01")
    page.get_by_role("button", name="Send").click()
    assert page.inner_text("#goals-error") == "Fill in this field."
    assert page.get_attribute("#goals", "aria-invalid") == "true"
    page.get_by_label("Learning goals").fill("Lead meetings")
    page.get_by_role("button", name="Send").click()
    assert page.inner_text("#on-error") == (
        "The date 2027-02-01 is in the future (today is 2027-01-04)."
    )
    assert page.get_attribute("#on", "aria-describedby") == "on-hint on-error"
    assert page.input_value("#goals") == "Lead meetings"
    assert wf.participant(pid).state == "enrolled" and trail_length(wf, pid) == 1
    page.close()


def test_a_scanners_get_and_head_record_nothing_and_only_the_pages_form_records(
    site: tuple[Workflow, str], sink: SmtpSink
) -> None:
    wf, base = site
    make_cohort(wf, self_service="record")
    pid = enrol(wf)
    other = enrol(wf, "anna@example.dk", name="Anna")
    delivered(wf)
    path = link_in_mail(sink.messages, SOREN)
    before = (wf.participant(pid).version, trail_length(wf, pid))
    with httpx.Client(base_url=base) as client:
        for _ in range(5):
            got = client.get(path)
            assert got.status_code == 200 and client.head(path).status_code == 200
        assert got.headers["referrer-policy"] == "no-referrer"
        assert got.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in got.headers["content-security-policy"]
        assert "default-src 'none'" in got.headers["content-security-policy"]
        assert (wf.participant(pid).version, trail_length(wf, pid)) == before
        form = {"on": "2027-01-04", "goals": "Mål"}
        assert client.post(path, data=form).status_code == 403
        annas = client.get(link_in_mail(sink.messages, "anna@example.dk")).text
        foreign = annas.split('name="form_token" value="')[1].split('"')[0]
        assert client.post(path, data={**form, "form_token": foreign}).status_code == 403
        assert (wf.participant(pid).version, trail_length(wf, pid)) == before
        mine = got.text.split('name="form_token" value="')[1].split('"')[0]
        assert client.post(path, data={**form, "form_token": mine}).status_code == 200
        again = client.post(path, data={**form, "form_token": mine})
        assert again.status_code == 409 and "Det er registreret." in again.text
        assert trail_length(wf, pid) == before[1] + 1
    assert wf.participant(other).state == "enrolled"


def test_unknown_expired_and_withdrawn_links_get_one_answer_without_data(
    site: tuple[Workflow, str], sink: SmtpSink, clock: FixedClock
) -> None:
    wf, base = site
    make_cohort(wf, self_service="record")
    pid = enrol(wf)
    enrol(wf, "anna@example.dk", name="Anna")
    delivered(wf)
    soren, anna = link_in_mail(sink.messages, SOREN), link_in_mail(sink.messages, "anna@example.dk")
    with httpx.Client(base_url=base) as client:
        unknown = client.get("/l/" + "A" * 32)
        assert unknown.status_code == 404 and "Søren" not in unknown.text
        token = client.get(soren).text.split('name="form_token" value="')[1].split('"')[0]
        go(wf, pid, "withdraw", reason="Nyt job")
        withdrawn = client.get(soren)
        posted = client.post(soren, data={"on": "2027-01-04", "goals": "x", "form_token": token})
        on(clock, DAYS[0] - timedelta(days=14) + timedelta(days=29))
        expired = client.get(anna)
    assert [r.status_code for r in (withdrawn, posted, expired)] == [404, 404, 404]
    assert withdrawn.text == posted.text == expired.text == unknown.text
    assert wf.participant(pid).state == "withdrawn"


def test_approve_mode_end_to_end(
    site: tuple[Workflow, str], sink: SmtpSink, browser: Any, db_url: str, tmp_path: Path
) -> None:
    wf, base = site
    make_cohort(wf, self_service="approve")
    pid = enrol(wf)
    delivered(wf)
    page = browser.new_page()
    link = base + link_in_mail(sink.messages, METTE)
    page.goto(link)
    page.get_by_label("Dato").fill("2027-01-04")
    page.get_by_label("Læringsmål").fill("Mål")
    page.get_by_role("button", name="Send").click()
    assert "Kursussekretariatet godkender det, du har sendt." in page.inner_text("main")
    assert wf.participant(pid).state == "enrolled"
    lps = Cli(db_url, env={"LPS_MAIL_DIR": str(tmp_path / "mail"), "LPS_SMTP_URL": sink.url})
    [waiting] = json.loads(ok(lps, "approvals", "list", "--json").stdout)
    assert (waiting["participant"], waiting["step"], waiting["submitted_by"]) == (
        pid,
        "manager_conversation",
        "manager:mette@example.dk via link",
    )
    assert ok(lps, "reject", str(waiting["id"]), "--reason", "Forkert dato").stdout == (
        f"Rejected {waiting['id']}: manager_conversation of #{pid}; they are told why.\n"
    )
    delivered(wf)
    [told] = [m for m in sink.messages if "ikke godkendt" in str(m["Subject"])]
    assert str(told["To"]).endswith(METTE + ">") and "Begrundelse: Forkert dato" in text_of(told)
    page.goto(link)
    page.get_by_label("Dato").fill("2027-01-04")
    page.get_by_label("Læringsmål").fill("Mål")
    page.get_by_role("button", name="Send").click()
    [again] = json.loads(ok(lps, "approvals", "list", "--json").stdout)
    ok(lps, "approve", str(again["id"]))
    assert wf.participant(pid).state == "manager_conversation_held"
    history = ok(lps, "history", str(pid), "--format", "json").stdout
    assert '"channel": "link"' in history and "manager:mette@example.dk via link" in history
    assert ok(lps, "approvals", "list").stdout == "No confirmations are waiting for approval.\n"
    page.goto(link)
    assert "Det er registreret." in page.inner_text("main")
    page.close()


def test_a_client_is_slowed_down_and_the_log_never_holds_a_token(
    database: Database,
    clock: FixedClock,
    tmp_path: Path,
    sink: SmtpSink,
    port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wf = web_engine(database, clock, tmp_path, sink.url, port)
    make_cohort(wf, self_service="record")
    enrol(wf)
    delivered(wf)
    path = link_in_mail(sink.messages, SOREN)
    caplog.set_level(logging.INFO, logger="lps.web")
    with (
        serving(wf, port, RateLimit(burst=3, per_second=0.001)) as base,
        httpx.Client(base_url=base) as client,
    ):
        statuses = [client.get(path).status_code for _ in range(5)]
        slowed = client.get(path)
    assert statuses == [200, 200, 200, 429, 429]
    assert slowed.headers["retry-after"] == "10" and "Søren" not in slowed.text
    assert "content-security-policy" in slowed.headers
    logged = caplog.text
    assert "GET link 200" in logged and "GET link 429" in logged
    assert path.removeprefix("/l/") not in logged and SOREN not in logged
