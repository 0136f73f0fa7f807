"""Personal links: what opening one shows, what submitting one records, and when they die."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from conftest import DAYS, enrol, make_cohort
from engine_helpers import INVITE_DAY, LATER_DAYS, go, refused
from helpers import on, outbox, read_eml
from selfservice_helpers import LINK, link_of, linked, self_service_cohort, token_in

from notifications.delivery import EmlChannel
from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import StepRequest, Workflow
from workflow.errors import InvalidInput
from workflow.links import SENT_TOKEN
from workflow.selfservice import AlreadyRecorded, FormInvalid, LinkClosed

D1 = DAYS[0]


@pytest.fixture
def sw(database: Database, clock: FixedClock, tmp_path: Path) -> Workflow:
    return linked(database, clock, tmp_path)


def test_the_welcome_carries_a_link_per_person_and_only_its_hash_is_stored(sw: Workflow) -> None:
    self_service_cohort(sw)
    pid = enrol(sw)
    mine, managers = link_of(sw, "welcome"), link_of(sw, "welcome", "manager")
    assert mine != managers and len(mine) >= 32
    with sw.db.reading() as conn:
        stored = " ".join(
            str(v) for row in conn.exec_driver_sql("SELECT * FROM links") for v in row
        )
    assert mine not in stored and managers not in stored
    page = sw.open_link(mine)
    assert (page.status, page.purpose, page.role, page.participant) == (
        "open",
        "manager_conversation",
        "participant",
        "Søren Ærø",
    )
    assert sw.participant(pid).state == "enrolled"


def test_a_cohort_without_self_service_sends_no_links(sw: Workflow) -> None:
    self_service_cohort(sw, "off")
    enrol(sw)
    assert "/l/" not in outbox(sw)[0].body_text


def test_self_service_needs_a_base_url(wf: Workflow) -> None:
    with pytest.raises(InvalidInput, match="LPS_BASE_URL"):
        self_service_cohort(wf)


def test_a_submission_records_as_advance_would_with_the_person_and_channel(sw: Workflow) -> None:
    self_service_cohort(sw)
    pid = enrol(sw)
    token = link_of(sw, "welcome")
    opened = [sw.open_link(token) for _ in range(3)]
    assert sw.participant(pid).version == 1 and opened[0] == opened[2]
    done = sw.submit_link(token, {"on": "2027-01-04", "goals": "Lede møder\n\nTage beslutninger"})
    assert done.outcome == "recorded"
    view = sw.participant(pid)
    assert view.state == "manager_conversation_held"
    assert view.facts.goals == ("Lede møder", "Tage beslutninger")
    entry = sw.history(pid)[-1]
    assert (entry.event, entry.actor, entry.channel) == (
        "hold_manager_conversation",
        f"participant:{pid} via link",
        "link",
    )
    assert sw.history(pid)[0].channel == "cli"
    assert done.page.status == "used" and done.page.recorded_by == f"participant:{pid} via link"
    manager = link_of(sw, "welcome", "manager")
    with pytest.raises(AlreadyRecorded) as again:
        sw.submit_link(manager, {"on": "2027-01-04", "goals": "Andet"})
    assert again.value.page.recorded["goals"] == ["Lede møder", "Tage beslutninger"]
    assert sw.verify_audit().ok


def test_the_managers_link_records_as_the_manager(sw: Workflow) -> None:
    self_service_cohort(sw)
    pid = enrol(sw)
    sw.submit_link(link_of(sw, "welcome", "manager"), {"on": "2027-01-04", "goals": "Mål"})
    assert sw.history(pid)[-1].actor == "manager:mette@example.dk via link"


def test_a_refusal_gives_the_guards_reasons_and_records_nothing(sw: Workflow) -> None:
    self_service_cohort(sw)
    pid = enrol(sw)
    token = link_of(sw, "welcome")
    with pytest.raises(FormInvalid) as unreadable:
        sw.submit_link(token, {"on": "3. januar", "goals": " "})
    assert unreadable.value.errors == {"on": "date", "goals": "missing"}
    refusal = refused(lambda: sw.submit_link(token, {"on": "2027-02-01", "goals": "Mål"}))
    assert refusal.reasons == ["the date 2027-02-01 is in the future (today is 2027-01-04)"]
    assert sw.participant(pid).version == 1
    assert sw.open_link(token).status == "open"


def test_links_die_with_the_path_and_when_they_expire(sw: Workflow, clock: FixedClock) -> None:
    self_service_cohort(sw)
    pid = enrol(sw)
    token = link_of(sw, "welcome")
    enrol(sw, "anna@example.dk", name="Anna")
    go(sw, pid, "withdraw", reason="Nyt job")
    with pytest.raises(LinkClosed) as closed:
        sw.open_link(token)
    with pytest.raises(LinkClosed) as unknown:
        sw.open_link("x" * 32)
    assert str(closed.value) == str(unknown.value)
    assert sw.open_link(link_of(sw, "welcome")).participant == "Anna"
    # The manager conversation is due D1-14; the link lives 28 days after that day.
    on(clock, D1 - timedelta(days=14) + timedelta(days=28))
    assert sw.open_link(link_of(sw, "welcome")).status == "open"
    on(clock, D1 - timedelta(days=14) + timedelta(days=29))
    with pytest.raises(LinkClosed):
        sw.open_link(link_of(sw, "welcome"))


def test_a_step_recorded_by_the_cli_closes_the_link_and_shows_who(sw: Workflow) -> None:
    self_service_cohort(sw)
    pid = enrol(sw)
    token = link_of(sw, "welcome")
    go(sw, pid, "hold_manager_conversation", goals=("Mål",))
    page = sw.open_link(token)
    assert (page.status, page.recorded_by, page.recorded["goals"]) == ("used", "tester", ["Mål"])


def test_approve_mode_waits_stops_reminders_and_tells_a_rejection(
    sw: Workflow, clock: FixedClock, tmp_path: Path
) -> None:
    self_service_cohort(sw, "approve")
    pid = enrol(sw)
    token = link_of(sw, "welcome")
    done = sw.submit_link(token, {"on": "2027-01-04", "goals": "Mål"})
    assert done.outcome == "pending" and done.page.status == "submitted"
    assert sw.participant(pid).state == "enrolled"
    [waiting] = sw.approvals()
    assert (waiting.participant, waiting.step, waiting.submitted_by) == (
        pid,
        "manager_conversation",
        f"participant:{pid} via link",
    )
    on(clock, D1 - timedelta(days=21))
    report = sw.remind(channel=EmlChannel(tmp_path / "sent"))
    [reminder] = [d for d in report.decisions if d.rule == "manager_conversation_reminder"]
    assert reminder.outcome == "skipped" and "waiting for approval" in reminder.detail
    sw.reject(waiting.id, "Datoen passer ikke med kalenderen")
    [told] = [r for r in outbox(sw) if r.rule == "confirmation_rejected"]
    assert told.recipient_role == "participant"
    assert "Begrundelse: Datoen passer ikke med kalenderen" in told.body_text
    assert sw.open_link(token).status == "open"
    sw.submit_link(token, {"on": "2027-01-20", "goals": "Mål"})
    [again] = sw.approvals(cohort="H1")
    sw.approve(again.id)
    assert sw.participant(pid).state == "manager_conversation_held"
    entry = sw.history(pid)[-1]
    assert (entry.actor, entry.channel) == (f"participant:{pid} via link", "link")
    assert sw.approvals() == [] and sw.verify_audit().ok


def test_the_jti_invitation_carries_the_link_that_answers_it(
    sw: Workflow, clock: FixedClock, tmp_path: Path
) -> None:
    self_service_cohort(sw)
    pid = enrol(sw)
    go(sw, pid, "hold_manager_conversation", goals=("Mål",))
    on(clock, INVITE_DAY)
    sw.remind(channel=EmlChannel(tmp_path / "sent"))
    [sent] = [r for r in outbox(sw) if r.rule == "jti_invitation"]
    # The copy kept of a sent mail holds no working link; the mail the person got does.
    assert LINK.findall(sent.body_text + sent.body_html) == []
    assert f"/l/{SENT_TOKEN}" in sent.body_text and f"/l/{SENT_TOKEN}" in sent.body_html
    [received] = (tmp_path / "sent").glob("jti_invitation-*.eml")
    body = read_eml(received).get_body(preferencelist=("plain",))
    assert body is not None
    token = token_in(body.get_content())
    assert sw.open_link(token).purpose == "jti"
    sw.submit_link(token, {"on": INVITE_DAY.isoformat()})
    assert sw.participant(pid).state == "jti_completed"
    assert sw.history(pid)[-2].channel == "scheduler"


def test_a_deferral_closes_the_links_and_the_later_cohort_mails_new_ones(sw: Workflow) -> None:
    self_service_cohort(sw)
    make_cohort(sw, "H2", LATER_DAYS, self_service="record")
    pid = enrol(sw)
    token = link_of(sw, "welcome")
    moved = sw.advance(pid, StepRequest("defer", to="H2", reason="Barsel"))
    assert moved.participant.state == "deferred"
    with pytest.raises(LinkClosed):
        sw.open_link(token)
    later = link_of(sw, "welcome")
    assert later != token and sw.open_link(later).status == "open"


def test_erasure_closes_the_links_and_forgets_what_was_submitted(sw: Workflow) -> None:
    self_service_cohort(sw, "approve")
    pid = enrol(sw)
    token = link_of(sw, "welcome")
    sw.submit_link(token, {"on": "2027-01-04", "goals": "Mine egne ord"})
    go(sw, pid, "withdraw", reason="Nyt job")
    assert sw.approvals() == []
    sw.erase_participant(
        pid, "Anmodning om sletning", channel=EmlChannel(Path(sw.settings.mail_dir))
    )
    with pytest.raises(LinkClosed):
        sw.open_link(token)
    with sw.db.reading() as conn:
        kept = " ".join(
            str(v) for row in conn.exec_driver_sql("SELECT * FROM approvals") for v in row
        )
    assert "Mine egne ord" not in kept
