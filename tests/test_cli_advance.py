from __future__ import annotations

# ``lps advance``, ``lps triggers`` and ``lps waive``, on SQLite and PostgreSQL.
import json

import pytest
from cli_helpers import LATER_ARG, add, add_cohort, errors, history, show
from conftest import Cli
from helpers import fails, ok

# -- advance -----------------------------------------------------------------------------------


def test_advance_with_kebab_case_triggers_along_the_path(lps: Cli) -> None:
    add_cohort(lps)
    add(lps)
    result = ok(lps, "advance", "1", "hold-manager-conversation", "--goal", "Lede møder")
    assert result.stdout == (
        "#1 Søren Ærø: hold_manager_conversation: enrolled → manager_conversation_held\n"
        "Outstanding: jti, career_visit, attendance, speech\n"
    )
    lps.now = "2027-02-15T09:00"
    result = ok(lps, "advance", "soren@example.dk", "Invite-JTI")
    assert result.stdout == (
        "#1 Søren Ærø: invite_jti: manager_conversation_held → jti_invited\n"
        "queued jti_invitation → participant\n"
        "Outstanding: jti, career_visit, attendance, speech\n"
    )
    lps.now = "2027-03-01T10:00"
    ok(lps, "advance", "1", "register-day")
    result = ok(lps, "advance", "1", "complete-jti", "--on", "2027-02-20")
    assert result.stdout == (
        "#1 Søren Ærø: complete_jti: recorded in day_1\n"
        "Outstanding: career_visit, attendance, speech\n"
    )
    ok(
        lps,
        "host",
        "set",
        "1",
        "--name",
        "Hanne",
        "--email",
        "hanne@example.dk",
        "--role",
        "leader",
        "--municipality",
        "Odense",
    )
    ok(lps, "advance", "1", "hold-career-visit", "--on", "1.3.2027")
    lps.now = "2027-03-15T10:00"
    ok(lps, "advance", "1", "register-day")
    lps.now = "2027-03-29T10:00"
    result = ok(lps, "advance", "1", "register-day")
    assert result.stdout == (
        "#1 Søren Ærø: register_day: day_2 → day_3\n"
        "#1 Søren Ærø: hold_career_visit: day_3 → career_visit_held  "
        "(passed through automatically: career visit recorded on 2027-03-01)\n"
        "Outstanding: attendance, speech\n"
    )
    lps.now = "2027-04-12T10:00"
    ok(lps, "advance", "1", "register-day")
    lps.now = "2027-04-26T10:00"
    ok(lps, "advance", "1", "register-day")
    result = ok(lps, "advance", "1", "deliver-speech")
    assert result.stdout == (
        "#1 Søren Ærø: deliver_speech: day_5 → speech_delivered\n"
        "#1 Søren Ærø: certify: speech_delivered → certified  "
        "(certified automatically: every obligation met or waived)\n"
        "queued certificate → participant, manager\n"
    )
    lps.now = "2027-05-20T10:00"
    result = ok(
        lps,
        "advance",
        "1",
        "hold-closing-conversation",
        "--note",
        "Praktik i efteråret",
        "--internship",
        "--json",
    )
    out = json.loads(result.stdout)
    assert out["participant"]["state"] == "closing_conversation_held"
    assert out["entries"][0]["data"] == {"internship": True}
    assert out["entries"][0]["note"] == "Praktik i efteråret"
    assert out["dry_run"] is False
    ok(lps, "advance", "1", "complete")
    assert show(lps)["state"] == "completed"
    assert [e["event"] for e in history(lps)][-3:] == [
        "certify",
        "hold_closing_conversation",
        "complete",
    ]


def test_a_refusal_prints_one_error_line_per_rule_and_writes_nothing(lps: Cli) -> None:
    add_cohort(lps)
    add_cohort(lps, "H0", "2027-02-22,2027-03-08,2027-03-22,2027-04-05,2027-04-19")
    add(lps)
    before = history(lps)
    result = fails(lps, "advance", "1", "defer")
    assert result.stdout == ""
    assert errors(result) == [
        "Error: a reason is required (--reason TEXT)",
        "Error: name the later cohort to move to (--to CODE)",
    ]
    result = fails(lps, "advance", "1", "defer", "--reason", "x", "--to", "H0")
    assert errors(result) == [
        "Error: cohort H0 starts 2027-02-22, not after cohort H1 (2027-03-01)"
    ]
    result = fails(lps, "advance", "1", "register-day")
    assert errors(result) == [
        "Error: register_day is not possible in state enrolled; first: invite_jti "
        "(to reach jti_invited)"
    ]
    result = fails(lps, "advance", "1", "fly")
    assert errors(result)[0].startswith("Error: unknown trigger 'fly'; choose one of: ")
    result = fails(
        lps, "advance", "1", "hold-manager-conversation", "--goal", "x", "--on", "2027-01-05"
    )
    assert errors(result) == ["Error: the date 2027-01-05 is in the future (today is 2027-01-04)"]
    assert history(lps) == before
    assert show(lps)["version"] == 1


def test_defer_through_the_cli(lps: Cli) -> None:
    add_cohort(lps)
    add_cohort(lps, "H2", LATER_ARG)
    add(lps)
    ok(lps, "advance", "1", "hold-manager-conversation", "--goal", "Lede møder")
    result = ok(lps, "advance", "1", "defer", "--reason", "Barsel", "--to", "H2")
    assert result.stdout.splitlines()[0] == (
        "#1 Søren Ærø: defer: manager_conversation_held → deferred"
    )
    assert show(lps, "1")["state"] == "deferred"
    moved = show(lps, "soren@example.dk")
    assert (moved["cohort"], moved["state"]) == ("H2", "manager_conversation_held")
    assert moved["learning_goals"] == ["Lede møder"]


@pytest.mark.parametrize(
    ("args", "bad"),
    [
        (("advance", "1", "complete-jti", "--on", "2027-02-30"), "2027-02-30"),
        (("advance", "1", "hold-manager-conversation", "--goal", "x", "--on", "igår"), "igår"),
        (("advance", "1", "complete-jti", "--on", "31.2.2027"), "31.2.2027"),
    ],
)
def test_malformed_dates_exit_2(lps: Cli, args: tuple[str, ...], bad: str) -> None:
    add_cohort(lps)
    add(lps)
    result = lps(*args)
    assert result.exit_code == 2
    assert f"Error: Invalid value for '--on': '{bad}' is not a date; use YYYY-MM-DD" in (
        result.stderr
    )
    assert len(history(lps)) == 1


def test_advance_usage_errors(lps: Cli) -> None:
    add_cohort(lps)
    add(lps)
    result = fails(lps, "advance", "--cohort", "H1", "1", "register-day", code=2)
    assert "give either PARTICIPANT or --cohort CODE, not both" in result.stderr
    result = fails(lps, "advance", "1", "register-day", "--except", "2", code=2)
    assert "--except goes with --cohort" in result.stderr
    result = fails(lps, "advance", code=2)
    assert "give PARTICIPANT TRIGGER, or --cohort CODE TRIGGER" in result.stderr
    result = fails(lps, "advance", "--cohort", "H1", "withdraw", "--dry-run", code=2)
    assert "--dry-run works on one participant" in result.stderr
    assert len(history(lps)) == 1


def test_dry_run_writes_nothing(lps: Cli) -> None:
    add_cohort(lps)
    add(lps)
    result = ok(lps, "advance", "1", "withdraw", "--reason", "Nyt job", "--dry-run")
    assert result.stdout.startswith("Would: #1 Søren Ærø: withdraw: enrolled → withdrawn\n")
    assert show(lps)["state"] == "enrolled"
    assert len(history(lps)) == 1


# -- triggers and waivers ----------------------------------------------------------------------


def test_triggers_show_possible_and_blocked_with_reasons(lps: Cli) -> None:
    add_cohort(lps)
    add(lps)
    lines = ok(lps, "triggers", "1").stdout.splitlines()
    assert "  possible  hold_manager_conversation" in lines
    assert "  possible  withdraw" in lines
    index = lines.index("  blocked   invite_jti")
    assert lines[index + 1] == (
        "              - the JTI and articles go out from 2027-02-15 (14 days before day 1); "
        "add --early to send them now"
    )
    index = lines.index("  blocked   certify")
    assert lines[index + 1] == (
        "              - certify is not possible in state enrolled; first: register_day "
        "(to reach day_5)"
    )
    assert lines[index + 2] == (
        "              obligations: manager_conversation, jti, career_visit, attendance, speech"
    )
    views = json.loads(ok(lps, "triggers", "1", "--json").stdout)
    by_name = {v["trigger"]: v for v in views}
    assert [v["trigger"] for v in views] == list(by_name)
    assert len(views) == 12
    assert by_name["withdraw"] == {
        "trigger": "withdraw",
        "possible": True,
        "reasons": [],
        "obligations": [],
    }
    assert by_name["complete_jti"]["possible"] is False

    lps.now = "2027-02-15T09:00"
    views = {v["trigger"]: v for v in json.loads(ok(lps, "triggers", "1", "--json").stdout)}
    assert views["invite_jti"]["possible"] is True
    ok(lps, "advance", "1", "withdraw", "--reason", "x")
    views = json.loads(ok(lps, "triggers", "1", "--json").stdout)
    assert not any(v["possible"] for v in views)
    assert views[0]["reasons"] == [
        "hold_manager_conversation is not possible: the participant is withdrawn (withdrawn); "
        "the path has ended"
    ]


def test_waive(lps: Cli) -> None:
    add_cohort(lps)
    add(lps)
    result = ok(lps, "waive", "1", "career-visit", "--reason", "Ingen vært i kommunen")
    assert result.stdout == "#1 Søren Ærø: career_visit waived (Ingen vært i kommunen).\n"
    assert show(lps)["obligations"]["career_visit"] == {
        "status": "waived",
        "due": "2027-04-12",
        "overdue": False,
        "waiver_reason": "Ingen vært i kommunen",
    }
    assert history(lps)[-1]["data"] == {"obligation": "career_visit"}
    result = fails(lps, "waive", "1", "career_visit", "--reason", "igen")
    assert errors(result) == [
        "Error: obligation career_visit is already waived (Ingen vært i kommunen)"
    ]
    result = fails(lps, "waive", "1", "homework", "--reason", "x")
    assert errors(result) == [
        "Error: unknown obligation 'homework'; choose one of: manager_conversation, jti, "
        "career_visit, attendance, speech"
    ]
    result = fails(lps, "waive", "1", "jti", code=2)
    assert "Missing option '--reason'" in result.stderr
    assert len(history(lps)) == 2


def test_waiver_that_completes_the_obligations_certifies(lps: Cli) -> None:
    add_cohort(lps)
    add(lps)
    ok(lps, "advance", "1", "hold-manager-conversation", "--goal", "x")
    ok(lps, "advance", "1", "invite-jti", "--early")
    ok(lps, "advance", "1", "complete-jti")
    for day in ("2027-03-01", "2027-03-15", "2027-03-29", "2027-04-12", "2027-04-26"):
        lps.now = f"{day}T10:00"
        ok(lps, "advance", "1", "register-day")
    ok(lps, "advance", "1", "deliver-speech")
    result = fails(lps, "advance", "1", "certify")
    assert errors(result) == ["Error: obligations not met or waived: career_visit"]
    result = ok(lps, "waive", "1", "career_visit", "--reason", "Ingen vært")
    assert result.stdout == (
        "#1 Søren Ærø: career_visit waived (Ingen vært).\n"
        "#1 Søren Ærø: certify: speech_delivered → certified\n"
        "queued certificate → participant, manager\n"
    )


def test_host_set(lps: Cli) -> None:
    add_cohort(lps)
    add(lps)
    args = ("host", "set", "1", "--name", "Hanne", "--email", "hanne@example.dk", "--role", "hr")
    result = fails(lps, *args, "--municipality", "Svendborg")
    assert errors(result) == [
        "Error: the host is in Svendborg, but the participant is in Odense: the career visit "
        "must be in the participant's own municipality"
    ]
    result = ok(lps, *args, "--municipality", "odense")
    assert result.stdout == "#1 Søren Ærø: host Hanne (hr, odense) registered.\n"
    assert show(lps)["host"] == {
        "name": "Hanne",
        "email": "hanne@example.dk",
        "role": "hr",
        "municipality": "odense",
    }
