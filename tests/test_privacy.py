"""Personal data: export everything held about a person, erase it when their path has ended,
and purge by retention date, with the audit trail still verifying."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import DAYS, Cli, enrol, make_cohort
from helpers import at
from sqlalchemy import MetaData, select

from notifications.delivery import EmlChannel
from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import StepRequest, Workflow
from workflow.errors import GuardFailed, NotFound
from workflow.models import metadata
from workflow.records import OUTBOX
from workflow.verify import verify_audit

D1, D2, D3, D4, D5 = DAYS

SOREN = {
    "name": "Søren Ærø",
    "email": "soren.aero@odense.dk",
    "municipality": "Odense",
    "workplace": "Borgerservice Vest",
    "manager_name": "Mette Kjær-Lund",
    "manager_email": "mette.kjaer@odense.dk",
    "jti_link": "https://jti.example/p/soren-4711",
}
GOALS = ("Tydelighed i mødeledelse", "Mod til at sige fra")
HOST = {"name": "Hanne Værtsen", "email": "hanne.vaert@odense.dk"}
ABSENCE = "Syg med feber"
WAIVER = "Indhentet ved individuel samtale"
AGREEMENTS = "Praktik aftalt i Ældreplejen"
WITHDRAWAL = "Nyt job i Aalborg Kommune"

# Everything personal the database holds about Søren, in any table.
SOREN_STRINGS = (
    SOREN["name"],
    SOREN["email"],
    SOREN["workplace"],
    SOREN["manager_name"],
    SOREN["manager_email"],
    SOREN["jti_link"],
    HOST["name"],
    HOST["email"],
    *GOALS,
    ABSENCE,
    WAIVER,
    AGREEMENTS,
)


@pytest.fixture(autouse=True)
def mail_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Erasure reaches the configured mail folder: the test's own, never one in the cwd."""
    monkeypatch.setenv("LPS_MAIL_DIR", str(tmp_path / "mail"))
    monkeypatch.delenv("LPS_SMTP_URL", raising=False)
    return tmp_path / "mail"


@dataclass
class Journey:
    """A cohort in which Søren completes the programme, Birthe withdraws after showing up in
    the administrators' digest, and Carl is still on his way."""

    wf: Workflow
    clock: FixedClock
    mail: EmlChannel
    soren: int
    birthe: int
    carl: int

    def step(self, when: datetime, ref: int, trigger: str, **kw: Any) -> None:
        self.clock.set(when)
        self.wf.advance(ref, StepRequest(trigger, **kw))

    def sweep(self, when: datetime) -> None:
        self.clock.set(when)
        self.wf.remind(channel=self.mail)


@pytest.fixture
def journey(wf: Workflow, clock: FixedClock, tmp_path: Path) -> Journey:
    make_cohort(wf)
    soren = enrol(wf, **SOREN)
    birthe = enrol(
        wf,
        name="Birthe Ågård",
        email="birthe.aagaard@odense.dk",
        manager_name="Ole Østergaard",
        manager_email="ole@odense.dk",
    )
    carl = enrol(wf, name="Carl Nielsen", email="carl@odense.dk", manager_name="Kaj Lund")
    j = Journey(wf, clock, EmlChannel(tmp_path / "mail"), soren, birthe, carl)
    j.step(at(date(2027, 1, 20)), soren, "hold_manager_conversation", goals=GOALS)
    j.sweep(at(date(2027, 2, 15), 9, 5))  # D1-14: invite_jti fires for everyone
    j.step(at(date(2027, 2, 20)), soren, "complete_jti")
    j.sweep(at(date(2027, 2, 22), 9, 5))  # Monday: the digest names Birthe and Carl as late
    j.step(at(date(2027, 2, 22), 11), birthe, "withdraw", reason=WITHDRAWAL)
    j.step(at(D1), soren, "register_day")
    clock.set(at(date(2027, 3, 5)))
    wf.set_host(soren, role="leader", municipality="Odense", **HOST)
    j.sweep(at(date(2027, 3, 8), 9, 5))  # the letter to the host
    j.step(at(D2), soren, "register_day", absent=True, reason=ABSENCE)
    clock.set(at(D2, 15))
    wf.waive(soren, "attendance", WAIVER)
    j.step(at(D3), soren, "register_day")
    j.step(at(date(2027, 4, 1)), soren, "hold_career_visit")
    j.step(at(D4), soren, "register_day")
    j.step(at(D5), soren, "register_day")
    j.step(at(D5, 15), soren, "deliver_speech")
    j.sweep(at(D5, 16))
    j.step(
        at(date(2027, 5, 20)),
        soren,
        "hold_closing_conversation",
        note=AGREEMENTS,
        internship=True,
    )
    j.step(at(date(2027, 5, 20), 10, 5), soren, "complete")
    j.sweep(at(date(2027, 5, 20), 11))
    assert wf.participant(soren).state == "completed"
    return j


def database_text(database: Database) -> Iterator[tuple[str, str, str]]:
    """(table, column, text) for every text, JSON and binary value in every table."""
    metadata = MetaData()
    metadata.reflect(database.engine)
    with database.reading() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for column, value in row._mapping.items():
                    if isinstance(value, str):
                        text = value
                    elif isinstance(value, dict | list):
                        text = json.dumps(value, ensure_ascii=False)
                    elif isinstance(value, bytes | memoryview):
                        text = bytes(value).decode("utf-8", "replace")
                    else:
                        continue
                    yield table.name, column, text


def found_in_database(database: Database, strings: tuple[str, ...]) -> set[str]:
    wanted = {s.casefold(): s for s in strings}
    return {
        f"{table}.{column}: {original}"
        for table, column, text in database_text(database)
        for needle, original in wanted.items()
        if needle in text.casefold()
    }


def own_messages(database: Database, participant_id: int) -> list[Any]:
    with database.reading() as conn:
        return conn.execute(
            select(OUTBOX).where(OUTBOX.c.participant_id == participant_id).order_by(OUTBOX.c.id)
        ).all()


# -- export ---------------------------------------------------------------------------------------


def test_export_holds_details_goals_host_audit_deadlines_and_messages(journey: Journey) -> None:
    data = journey.wf.export_participant(SOREN["email"])
    json.dumps(data)  # ready to print as JSON as it is

    person = data["participant"]
    assert person["id"] == journey.soren
    assert (person["name"], person["email"], person["workplace"]) == (
        "Søren Ærø",
        "soren.aero@odense.dk",
        "Borgerservice Vest",
    )
    assert person["manager"] == {"name": "Mette Kjær-Lund", "email": "mette.kjaer@odense.dk"}
    assert (person["cohort"], person["cohort_name"]) == ("H1", "Hold H1")
    assert person["jti_link"] == SOREN["jti_link"]
    assert person["state"] == "completed"
    assert person["learning_goals"] == list(GOALS)
    assert person["host"] == {
        "name": "Hanne Værtsen",
        "email": "hanne.vaert@odense.dk",
        "role": "leader",
        "municipality": "Odense",
    }
    assert person["facts"]["days"]["2"] == {
        "on": "2027-03-15",
        "attended": False,
        "reason": ABSENCE,
    }
    assert person["facts"]["agreements"] == AGREEMENTS
    assert person["erased_at"] is None

    events = [entry["event"] for entry in data["audit"]]
    assert events[0] == "enrol"
    assert events[-1] == "complete"
    for event in ("hold_manager_conversation", "complete_jti", "set_host", "waive", "certify"):
        assert event in events
    notes = [entry["note"] for entry in data["audit"] if entry["note"]]
    assert ABSENCE in notes and WAIVER in notes and AGREEMENTS in notes

    assert {"rule": "welcome", "to": "participant", "status": "sent"}.items() <= next(
        m for m in data["messages"] if m["rule"] == "welcome" and m["to"] == "participant"
    ).items()
    rules = {m["rule"] for m in data["messages"]}
    assert {"welcome", "jti_invitation", "host_letter", "absence_notice", "certificate"} <= rules
    assert all(m["subject"] and m["created_at"] for m in data["messages"])
    assert {d["rule"] for d in data["deadlines"]} >= {"jti_invitation", "day_reminder"}


def test_jti_answers_are_never_stored_only_the_dates(journey: Journey) -> None:
    columns = {
        f"{table.name}.{column.name}"
        for table in metadata.sorted_tables
        for column in table.columns
    }
    assert not [c for c in columns if "answer" in c or "score" in c or "jti_type" in c]
    assert sorted(c for c in columns if "jti" in c) == ["cohorts.jti_link", "participants.jti_link"]

    facts = journey.wf.export_participant(journey.soren)["participant"]["facts"]
    jti = {key: value for key, value in facts.items() if "jti" in key}
    assert jti == {"jti_invited": "2027-02-15", "jti_completed": "2027-02-20"}
    entry = next(e for e in journey.wf.history(journey.soren) if e.event == "complete_jti")
    assert entry.data == {} and entry.note is None


# -- erase ----------------------------------------------------------------------------------------


def test_erase_refuses_a_participant_whose_path_has_not_ended(journey: Journey) -> None:
    before = journey.wf.history(journey.carl)
    with pytest.raises(GuardFailed) as caught:
        journey.wf.erase_participant(journey.carl, "Anmodning fra deltageren")
    assert caught.value.lines() == [
        f"participant #{journey.carl} is jti_invited (JTI og artikler udsendt); personal data "
        "can be erased only after the path has ended: completed, withdrawn or deferred"
    ]
    assert journey.wf.history(journey.carl) == before
    assert journey.wf.participant(journey.carl).name == "Carl Nielsen"


def test_erase_needs_a_reason(journey: Journey) -> None:
    with pytest.raises(GuardFailed) as caught:
        journey.wf.erase_participant(journey.soren, "  ")
    assert caught.value.lines() == ["a reason is required"]


def test_after_erasure_nothing_personal_is_left_and_the_audit_still_verifies(
    journey: Journey,
) -> None:
    wf, database = journey.wf, journey.wf.db
    assert len(found_in_database(database, SOREN_STRINGS)) > len(SOREN_STRINGS)
    history_before = wf.history(journey.soren)
    carl_mail_before = [m.body_text for m in own_messages(database, journey.carl)]

    journey.clock.set(at(date(2027, 6, 1)))
    erasure = wf.erase_participant(journey.soren, "Anmodning fra deltageren, sag 2027-118")

    assert found_in_database(database, SOREN_STRINGS) == set()
    report = verify_audit(database)
    assert report.ok, [str(p) for p in report.problems]

    view = wf.participant(journey.soren)
    assert (view.name, view.email) == (
        f"Slettet deltager #{journey.soren}",
        f"erased-{journey.soren}@invalid",
    )
    assert (view.cohort, view.municipality, view.state) == ("H1", "Odense", "completed")
    assert view.workplace is None and view.manager_name == "" and view.facts.goals == ()
    assert view.facts.host is None and view.facts.agreements is None
    assert view.facts.certified == D5 and view.facts.internship is True
    assert view.facts.days[2].attended is False and view.facts.days[2].reason is None
    assert view.facts.waivers["attendance"].reason == ""
    assert erasure.notes_cleared == sum(1 for e in history_before if e.note)

    history = wf.history(journey.soren)
    assert [(e.event, e.from_state, e.to_state) for e in history[:-1]] == [
        (e.event, e.from_state, e.to_state) for e in history_before
    ]
    assert all(e.note is None for e in history[:-1])
    assert (history[-1].event, history[-1].to_state, history[-1].note) == (
        "erase",
        "completed",
        "Anmodning fra deltageren, sag 2027-118",
    )
    assert all(
        m.body_text == "" and m.body_html == "" for m in own_messages(database, journey.soren)
    )
    assert {m.status for m in own_messages(database, journey.soren)} == {"sent"}
    # Other participants keep everything.
    assert [m.body_text for m in own_messages(database, journey.carl)] == carl_mail_before
    assert wf.participant(journey.carl).name == "Carl Nielsen"
    with pytest.raises(NotFound):
        wf.participant(SOREN["email"])


def test_erasing_twice_is_refused(journey: Journey) -> None:
    journey.clock.set(at(date(2027, 6, 1)))
    journey.wf.erase_participant(journey.soren, "Anmodning")
    journey.clock.set(at(date(2027, 6, 2)))
    with pytest.raises(GuardFailed) as caught:
        journey.wf.erase_participant(journey.soren, "Anmodning igen")
    assert caught.value.lines() == [
        f"participant #{journey.soren} was already erased on 2027-06-01"
    ]


def test_the_digest_that_named_a_withdrawn_participant_names_the_pseudonym(
    journey: Journey,
) -> None:
    database = journey.wf.db
    with database.reading() as conn:
        (digest,) = conn.execute(
            select(OUTBOX.c.body_text, OUTBOX.c.body_html).where(
                OUTBOX.c.rule == "admin_digest", OUTBOX.c.occurrence == "2027-02-22"
            )
        ).all()
    assert "Birthe Ågård <birthe.aagaard@odense.dk>" in digest.body_text
    journey.wf.erase_participant(journey.birthe, "Udmeldt; ingen grund til at gemme data")
    with database.reading() as conn:
        (digest,) = conn.execute(
            select(OUTBOX.c.body_text, OUTBOX.c.body_html).where(
                OUTBOX.c.rule == "admin_digest", OUTBOX.c.occurrence == "2027-02-22"
            )
        ).all()
    pseudonym = f"Slettet deltager #{journey.birthe} <erased-{journey.birthe}@invalid>"
    assert pseudonym in digest.body_text
    assert "Carl Nielsen <carl@odense.dk>" in digest.body_text
    assert found_in_database(database, ("Birthe Ågård", "birthe.aagaard", WITHDRAWAL)) == set()
    assert verify_audit(database).ok


def test_a_message_not_yet_delivered_is_dropped_not_sent_empty(
    wf: Workflow, clock: FixedClock, tmp_path: Path
) -> None:
    make_cohort(wf)
    pid = enrol(wf, name="Dorte Å", email="dorte@odense.dk")
    wf.advance(pid, StepRequest("withdraw", reason="Flytter"))
    assert {m.status for m in own_messages(wf.db, pid)} == {"pending", "dropped"}
    wf.erase_participant(pid, "Anmodning")
    messages = own_messages(wf.db, pid)
    assert {m.status for m in messages} == {"dropped"}
    withdrawal = [m for m in messages if m.rule == "withdrawal_notice"]
    assert withdrawal and all(
        m.last_error == "participant erased before delivery" for m in withdrawal
    )
    mail = tmp_path / "mail"
    wf.remind(channel=EmlChannel(mail))
    assert not mail.exists() or list(mail.iterdir()) == []


def test_a_deferred_participant_can_be_erased_while_their_later_enrolment_goes_on(
    wf: Workflow,
) -> None:
    make_cohort(wf)
    make_cohort(wf, "H2", days=tuple(day.replace(year=2028) for day in DAYS))
    pid = enrol(wf, **SOREN)
    wf.advance(pid, StepRequest("hold_manager_conversation", goals=GOALS))
    wf.advance(pid, StepRequest("defer", to="H2", reason="Barsel"))
    later = wf.participant(SOREN["email"])
    assert later.cohort == "H2" and later.id != pid

    wf.erase_participant(pid, "Data fra første hold slettes")
    assert wf.participant(pid).name == f"Slettet deltager #{pid}"
    still = wf.participant(later.id)
    assert (still.name, still.email, still.facts.goals) == (SOREN["name"], SOREN["email"], GOALS)
    assert verify_audit(wf.db).ok


# -- purge ----------------------------------------------------------------------------------------


def test_purge_dry_run_lists_and_the_real_run_erases_by_end_date(journey: Journey) -> None:
    wf = journey.wf
    candidates = wf.purge_candidates(date(2027, 3, 1))
    assert [(c.participant_id, c.state, c.ended_on) for c in candidates] == [
        (journey.birthe, "withdrawn", date(2027, 2, 22))
    ]
    preview = wf.purge(date(2027, 6, 1), dry_run=True)
    assert [c.participant_id for c in preview.candidates] == [journey.soren, journey.birthe]
    assert preview.erased == []
    assert wf.participant(journey.soren).name == "Søren Ærø"

    first = wf.purge(date(2027, 3, 1))
    assert first.erased == [journey.birthe]
    assert wf.participant(journey.birthe).name == f"Slettet deltager #{journey.birthe}"
    assert wf.participant(journey.soren).name == "Søren Ærø"
    assert wf.history(journey.birthe)[-1].note == "retention: path ended before 2027-03-01"

    second = wf.purge(date(2027, 6, 1))
    assert second.erased == [journey.soren]
    assert wf.purge(date(2027, 6, 1)).candidates == []
    assert wf.participant(journey.carl).name == "Carl Nielsen"
    assert found_in_database(wf.db, SOREN_STRINGS) == set()
    assert verify_audit(wf.db).ok


# -- the commands ---------------------------------------------------------------------------------


@pytest.fixture
def cli(lps: Cli, journey: Journey, monkeypatch: pytest.MonkeyPatch) -> Cli:
    from cli.main import COMMANDS

    monkeypatch.setitem(
        COMMANDS,
        "purge",
        (
            "cli.purge",
            "purge",
            "Pseudonymise participants whose path ended before a date (retention).",
        ),
    )
    lps.now = "2027-06-01T10:00"
    return lps


def test_cli_export_prints_json(cli: Cli, journey: Journey) -> None:
    result = cli("participant", "export", SOREN["email"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["participant"]["learning_goals"] == list(GOALS)
    assert data["audit"][0]["event"] == "enrol"
    assert cli("participant", "export", "nobody@odense.dk").exit_code == 1


def test_cli_erase_refuses_active_and_erases_completed(cli: Cli, journey: Journey) -> None:
    refused = cli("participant", "erase", str(journey.carl), "--reason", "Anmodning")
    assert refused.exit_code == 1
    assert refused.output == (
        f"Error: participant #{journey.carl} is jti_invited (JTI og artikler udsendt); personal "
        "data can be erased only after the path has ended: completed, withdrawn or deferred\n"
    )
    assert cli("participant", "erase", str(journey.soren)).exit_code == 2

    done = cli("participant", "erase", SOREN["email"], "--reason", "Anmodning")
    assert done.exit_code == 0, done.output
    assert done.output.startswith(
        f"Erased participant #{journey.soren} (completed, cohort H1): now "
        f"'Slettet deltager #{journey.soren}';"
    )
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.output
    shown = cli("participant", "show", str(journey.soren))
    assert "Søren" not in shown.output and f"Slettet deltager #{journey.soren}" in shown.output


def test_cli_purge_dry_run_then_real(cli: Cli, journey: Journey) -> None:
    dry = cli("purge", "--completed-before", "2027-06-01", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.endswith(
        "Dry run: 2 participant(s) whose path ended before 2027-06-01 would be erased; "
        "nothing was written.\n"
    )
    assert journey.wf.participant(journey.soren).name == "Søren Ærø"

    real = cli("purge", "--completed-before", "2027-06-01")
    assert real.exit_code == 0, real.output
    first, removed = real.output.splitlines()
    assert first == "Erased 2 participant(s) whose path ended before 2027-06-01."
    assert removed.startswith("Removed ") and removed.endswith("of other people's that named them.")
    again = cli("purge", "--completed-before", "2027-06-01")
    assert again.output == "Erased 0 participant(s) whose path ended before 2027-06-01.\n"
    assert cli("audit", "verify").exit_code == 0
    assert found_in_database(journey.wf.db, SOREN_STRINGS) == set()


def test_cli_purge_usage_errors_exit_2(cli: Cli) -> None:
    assert cli("purge").exit_code == 2
    bad = cli("purge", "--completed-before", "juni")
    assert bad.exit_code == 2
    assert "'juni' is not a date" in bad.output
