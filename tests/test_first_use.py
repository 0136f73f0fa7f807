"""What a new administrator sees first, said once and plainly: the exact output of the
commands they try."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from conftest import Cli, enrol, make_cohort

from cli.main import cli
from workflow.clock import FixedClock
from workflow.engine import StepRequest, Workflow


def test_triggers_of_a_participant_whose_path_has_ended_say_so_once(wf: Workflow, lps: Cli) -> None:
    make_cohort(wf)
    pid = enrol(wf)
    wf.advance(pid, StepRequest("withdraw", reason="Nyt job"))
    shown = lps("triggers", str(pid))
    assert shown.exit_code == 0, shown.output
    assert shown.output == (
        f"No trigger is possible for Søren Ærø (#{pid}): the participant is withdrawn "
        "(withdrawn); the path has ended.\n"
    )


def test_overdue_list_with_nobody_late_says_so(wf: Workflow, lps: Cli) -> None:
    make_cohort(wf)
    enrol(wf)
    shown = lps("participant", "list", "--overdue")
    assert shown.exit_code == 0, shown.output
    assert shown.output == "Nobody is late: no participant has an overdue obligation.\n"
    in_cohort = lps("participant", "list", "--overdue", "--cohort", "H1")
    assert in_cohort.output == (
        "Nobody is late: no participant in cohort H1 has an overdue obligation.\n"
    )


def test_history_shows_the_rule_and_recipients_of_a_notification(
    wf: Workflow, clock: FixedClock, lps: Cli
) -> None:
    make_cohort(wf)
    pid = enrol(wf)
    lps.now = "2027-02-26T09:05"  # the Friday before day 1: its reminder goes out
    assert lps("remind").exit_code == 0, lps("remind").output
    shown = lps("history", str(pid))
    assert shown.exit_code == 0, shown.output
    notes = [x.split(None, 8)[8] for x in shown.output.splitlines() if " notify " in x]
    assert notes == [
        "manager_conversation_reminder to participant, manager",
        "manager_conversation_escalation to manager, admin",
        "jti_reminder to participant",
        "day_reminder #1 to participant",
    ]
    csv_rows = lps("history", str(pid), "--format", "csv").output.splitlines()
    assert csv_rows[-1].endswith(
        ",scheduler,notify,jti_invited,jti_invited,day_reminder #1 to participant"
    )


def test_the_demo_names_every_person_by_name(tmp_path: Path) -> None:
    env = {
        "LPS_NOW": "2027-01-04T12:00",
        "LPS_MAIL_DIR": str(tmp_path / "outbox"),
        "LPS_SMTP_URL": None,
        "LPS_MAIL_FROM": None,
        "LPS_DATABASE_URL": None,
    }
    db = f"sqlite:///{tmp_path / 'lps.db'}"
    result = CliRunner().invoke(cli, ["--db", db, "demo"], env=env)
    assert result.exit_code == 0, (result.output, result.exception)
    lines = result.stdout.splitlines()
    slugs = ("soren.aero", "mai.nguyen", "lukasz.sukru", "anne.hojgaard", "ole.aberg", "fatima")
    assert [x for x in lines if "@" in x or any(slug in x for slug in slugs)] == []
    assert "2026-09-23: Mai Nguyễn: attendance waived (Dagen indhentet ved individuel samtale)" in (
        lines
    )
    assert [x for x in lines if ": scheduler: " in x] == [
        "2026-08-24: scheduler: jti_invitation for Søren Ærø",
        "2026-08-24: scheduler: jti_invitation for Mai Nguyễn",
        "2026-08-24: scheduler: jti_invitation for Łukasz Şükrü",
        "2026-08-24: scheduler: jti_invitation for Anne Højgaard",
        "2026-08-24: scheduler: jti_invitation for Fatima Østergaard",
        "2027-01-01: scheduler: auto_complete for Mai Nguyễn",
        "2027-01-01: scheduler: auto_complete for Anne Højgaard",
    ]
