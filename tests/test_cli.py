from __future__ import annotations

# The ``lps`` command's contract, on SQLite and PostgreSQL: output, JSON, exit codes and one
# ``Error:`` line per broken rule.
import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from conftest import Cli
from helpers import fails, ok

from cli.main import COMMANDS
from states import diagram
from workflow.migrate import head_revision

DAYS_ARG = "2027-03-01,2027-03-15,2027-03-29,2027-04-12,2027-04-26"
LATER_ARG = "2027-05-31,2027-06-14,2027-06-28,2027-07-12,2027-07-26"


def errors(result: Result) -> list[str]:
    return result.stderr.splitlines()


def add_cohort(lps: Cli, code: str = "H1", days: str = DAYS_ARG, *extra: str) -> None:
    ok(lps, "cohort", "create", code, "--name", f"Hold {code}", "--days", days, *extra)


def add(lps: Cli, email: str = "soren@example.dk", cohort: str = "H1", *extra: str) -> int:
    result = ok(
        lps,
        "participant",
        "add",
        cohort,
        "--name",
        "Søren Ærø",
        "--email",
        email,
        "--municipality",
        "Odense",
        "--manager-name",
        "Mette Leder",
        "--manager-email",
        "mette@example.dk",
        "--json",
        *extra,
    )
    return int(json.loads(result.stdout)["id"])


def history(lps: Cli, ref: str = "1") -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(ok(lps, "history", ref, "--format", "json").stdout)
    return entries


def show(lps: Cli, ref: str = "1") -> dict[str, Any]:
    view: dict[str, Any] = json.loads(ok(lps, "participant", "show", ref, "--json").stdout)
    return view


# -- the database ------------------------------------------------------------------------------


def test_init_twice_is_fine(lps: Cli) -> None:
    for _ in range(2):
        result = ok(lps, "init")
        assert result.stdout.startswith("Database ")
        assert result.stdout.endswith(f" is at schema revision {head_revision()}.\n")
    add_cohort(lps)
    ok(lps, "init")
    assert [c["code"] for c in json.loads(ok(lps, "cohort", "list", "--json").stdout)] == ["H1"]


NEEDS_DATABASE = [
    ("cohort", "list"),
    ("cohort", "show", "H1"),
    ("cohort", "create", "H1", "--name", "Hold 1", "--days", DAYS_ARG),
    ("cohort", "reschedule", "H1", "--day", "1", "2027-03-02"),
    (
        "participant",
        "add",
        "H1",
        "--name",
        "Søren",
        "--email",
        "soren@example.dk",
        "--municipality",
        "Odense",
        "--manager-name",
        "Mette",
        "--manager-email",
        "mette@example.dk",
    ),
    ("participant", "list"),
    ("participant", "show", "1"),
    (
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
    ),
    ("advance", "1", "register-day"),
    ("advance", "--cohort", "H1", "invite-jti"),
    ("waive", "1", "jti", "--reason", "x"),
    ("triggers", "1"),
    ("history", "1"),
]


@pytest.mark.parametrize("args", NEEDS_DATABASE, ids=lambda a: "-".join(a[:2]))
def test_commands_refuse_a_database_that_does_not_exist(tmp_path: Path, args: tuple[str]) -> None:
    path = tmp_path / "missing" / "lps.db"
    result = Cli(f"sqlite:///{path}")(*args)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: database {path} does not exist; run `lps init` to create or upgrade it\n"
    )
    assert result.stdout == ""
    assert not path.exists()


@pytest.mark.parametrize("args", NEEDS_DATABASE, ids=lambda a: "-".join(a[:2]))
def test_commands_refuse_a_database_without_the_schema(tmp_path: Path, args: tuple[str]) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()
    result = Cli(f"sqlite:///{path}")(*args)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: database sqlite:///{path} has no lps schema; "
        "run `lps init` to create or upgrade it\n"
    )


def test_an_empty_postgresql_schema_is_refused_until_init(postgres_url: str) -> None:
    lps = Cli(postgres_url)
    result = lps("cohort", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: database postgresql")
    assert result.stderr.endswith(" has no lps schema; run `lps init` to create or upgrade it\n")
    assert "Error:" not in ok(lps, "init").output
    assert ok(lps, "cohort", "list", "--json").stdout == "[]\n"


def test_init_then_the_commands_work(tmp_path: Path) -> None:
    lps = Cli(f"sqlite:///{tmp_path / 'new' / 'lps.db'}")
    assert lps("cohort", "list").exit_code == 1
    ok(lps, "init")
    assert ok(lps, "cohort", "list", "--json").stdout == "[]\n"


# -- cohorts -----------------------------------------------------------------------------------


def test_cohort_create_list_show(lps: Cli) -> None:
    result = ok(
        lps,
        "cohort",
        "create",
        "H1",
        "--name",
        "Leder på spring, forår 2027",
        "--days",
        "1.3.2027, 2027-03-15,29-03-2027,2027-04-12,2027-04-26",
        "--venue",
        "Odense Rådhus",
        "--admin-email",
        "kursus@odense.dk",
        "--max-absences",
        "1",
        "--article",
        "Ledelse i praksis|https://example.dk/a.pdf",
        "--json",
    )
    created = json.loads(result.stdout)
    assert created == {
        "code": "H1",
        "name": "Leder på spring, forår 2027",
        "days": DAYS_ARG.split(","),
        "venue": "Odense Rådhus",
        "admin_email": "kursus@odense.dk",
        "max_absences": 1,
        "send_hour": 9,
        "jti_link": None,
        "articles": [{"title": "Ledelse i praksis", "url": "https://example.dk/a.pdf"}],
        "participants": 0,
        "by_state": {},
    }
    result = ok(lps, "cohort", "create", "H2", "--name", "Efterår", "--days", LATER_ARG)
    assert result.stdout == (
        "Created cohort H2 (Efterår): 2027-05-31, 2027-06-14, 2027-06-28, 2027-07-12, 2027-07-26\n"
    )
    listed = json.loads(ok(lps, "cohort", "list", "--json").stdout)
    assert [c["code"] for c in listed] == ["H1", "H2"]
    assert listed[0] == created
    assert "H2    Efterår" in ok(lps, "cohort", "list").stdout

    add(lps)
    shown = json.loads(ok(lps, "cohort", "show", "H1", "--json").stdout)
    assert (shown["participants"], shown["by_state"]) == (1, {"enrolled": 1})
    text = ok(lps, "cohort", "show", "H1").stdout
    assert "Cohort H1: Leder på spring, forår 2027\n" in text
    assert "  Day 1: 2027-03-01  Ledelse i en kommunal kontekst\n" in text
    assert "  Day 5: 2027-04-26  Min vej mod ledelse, fortsat\n" in text
    assert "Absences allowed: 1" in text
    assert "Tilmeldt" in text


def test_cohort_refusals(lps: Cli) -> None:
    add_cohort(lps)
    result = fails(lps, "cohort", "create", "H1", "--name", "Igen", "--days", LATER_ARG)
    assert errors(result) == ["Error: cohort H1 already exists; choose another code"]
    result = fails(
        lps,
        "cohort",
        "create",
        "H2",
        "--name",
        "Baglæns",
        "--days",
        "2027-03-01,2027-03-29,2027-03-15,2027-04-12,2027-04-26",
    )
    assert errors(result) == [
        "Error: teaching days must be five strictly increasing dates; "
        "2027-03-15 does not come after 2027-03-29"
    ]
    result = fails(
        lps, "cohort", "create", "H2", "--name", "x", "--days", "2027-03-01,2027-03-15", code=2
    )
    assert "give five dates separated by commas; got 2" in result.stderr
    result = fails(
        lps,
        "cohort",
        "create",
        "H2",
        "--name",
        "x",
        "--days",
        "2027-03-01,2027-03-15,2027-03-32,2027-04-12,2027-04-26",
        code=2,
    )
    assert "'2027-03-32' is not a date; use YYYY-MM-DD, e.g. 2027-03-01" in result.stderr
    assert [c["code"] for c in json.loads(ok(lps, "cohort", "list", "--json").stdout)] == ["H1"]


def test_cohort_reschedule(lps: Cli) -> None:
    add_cohort(lps)
    result = ok(lps, "cohort", "reschedule", "H1", "--day", "2", "2027-03-16")
    assert result.stdout == (
        "Cohort H1: day 2 is now 2027-03-16; pending reminders were moved with it.\n"
    )
    result = fails(lps, "cohort", "reschedule", "H1", "--day", "2", "2027-02-01")
    assert errors(result) == [
        "Error: teaching days must be five strictly increasing dates; "
        "2027-02-01 does not come after 2027-03-01"
    ]
    result = fails(lps, "cohort", "reschedule", "H1", "--day", "2", "next week", code=2)
    assert "'next week' is not a date" in result.stderr
    days = json.loads(ok(lps, "cohort", "show", "H1", "--json").stdout)["days"]
    assert days[1] == "2027-03-16"


# -- participants ------------------------------------------------------------------------------


def test_participant_add_list_show(lps: Cli) -> None:
    add_cohort(lps)
    result = ok(
        lps,
        "participant",
        "add",
        "H1",
        "--name",
        "Søren Ærø",
        "--email",
        "Soren@Example.dk",
        "--municipality",
        "Odense",
        "--workplace",
        "Borgerservice",
        "--manager-name",
        "Mette Leder",
        "--manager-email",
        "mette@example.dk",
    )
    assert result.stdout == (
        "Enrolled #1 Søren Ærø <soren@example.dk> in H1.\nqueued welcome → participant, manager\n"
    )
    other = add(lps, "anna@example.dk", "H1", "--language", "en")

    listed = json.loads(ok(lps, "participant", "list", "--json").stdout)
    assert [(p["id"], p["email"], p["state"]) for p in listed] == [
        (1, "soren@example.dk", "enrolled"),
        (other, "anna@example.dk", "enrolled"),
    ]
    text = ok(lps, "participant", "list").stdout
    assert text.splitlines()[0].split() == ["id", "name", "email", "cohort", "state", "outstanding"]
    assert "soren@example.dk" in text and "anna@example.dk" in text

    view = show(lps, "SOREN@example.dk")
    assert view["id"] == 1
    assert view["email"] == "soren@example.dk"
    assert view["cohort"] == "H1"
    assert view["state"] == "enrolled"
    assert view["workplace"] == "Borgerservice"
    assert view["outstanding"] == [
        "manager_conversation",
        "jti",
        "career_visit",
        "attendance",
        "speech",
    ]
    assert view["next_due"] == {
        "rule": "manager_conversation_reminder",
        "at": "2027-02-08T08:00:00+00:00",
    }
    assert view["obligations"]["jti"] == {"status": "open", "due": "2027-03-15", "overdue": False}
    assert show(lps, str(other))["language"] == "en"

    text = ok(lps, "participant", "show", "1").stdout
    assert "#1 Søren Ærø <soren@example.dk>\n" in text
    assert "  State:         enrolled (Tilmeldt)\n" in text
    assert "    manager_conversation   open    due 2027-02-15\n" in text
    assert (
        "  Next due:      manager_conversation_reminder at 2027-02-08 09:00 (Copenhagen)\n" in text
    )


def test_participant_list_filters(lps: Cli) -> None:
    add_cohort(lps)
    add(lps, "a@example.dk")
    add(lps, "b@example.dk")
    ok(lps, "advance", "2", "withdraw", "--reason", "Nyt job")
    rows = json.loads(ok(lps, "participant", "list", "--state", "withdrawn", "--json").stdout)
    assert [r["email"] for r in rows] == ["b@example.dk"]
    assert json.loads(ok(lps, "participant", "list", "--overdue", "--json").stdout) == []
    lps.now = "2027-02-16T10:00"
    rows = json.loads(ok(lps, "participant", "list", "--overdue", "--json").stdout)
    assert [(r["email"], r["overdue"]) for r in rows] == [
        ("a@example.dk", ["manager_conversation"])
    ]
    result = fails(lps, "participant", "list", "--state", "flying")
    assert errors(result)[0].startswith("Error: unknown state 'flying'; choose one of: enrolled, ")


def test_participant_add_refusals_name_each_broken_rule(lps: Cli) -> None:
    add_cohort(lps)
    add(lps)
    result = fails(
        lps,
        "participant",
        "add",
        "H1",
        "--name",
        "X",
        "--email",
        "not-an-email",
        "--municipality",
        " ",
        "--manager-name",
        "M",
        "--manager-email",
        "mette",
    )
    assert errors(result) == [
        "Error: the participant's email is not a valid email address: 'not-an-email' has no @",
        "Error: the municipality is missing",
        "Error: the manager's email is not a valid email address: 'mette' has no @",
    ]
    result = fails(
        lps,
        "participant",
        "add",
        "H1",
        "--name",
        "X",
        "--email",
        "SOREN@example.dk",
        "--municipality",
        "Odense",
        "--manager-name",
        "M",
        "--manager-email",
        "m@example.dk",
    )
    assert errors(result) == ["Error: soren@example.dk is already enrolled in cohort H1"]
    lps.now = "2027-03-01T08:00"
    result = fails(
        lps,
        "participant",
        "add",
        "H1",
        "--name",
        "X",
        "--email",
        "late@example.dk",
        "--municipality",
        "Odense",
        "--manager-name",
        "M",
        "--manager-email",
        "m@example.dk",
    )
    assert errors(result) == [
        "Error: cohort H1 started on 2027-03-01; enrolment closes before teaching day 1"
    ]
    assert len(json.loads(ok(lps, "participant", "list", "--json").stdout)) == 1


def test_participant_add_requires_manager_and_municipality_options(lps: Cli) -> None:
    add_cohort(lps)
    result = fails(
        lps, "participant", "add", "H1", "--name", "X", "--email", "x@example.dk", code=2
    )
    assert "Missing option '--municipality'" in result.stderr


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


# -- history and actors ------------------------------------------------------------------------


def test_actor_appears_in_the_history(lps: Cli) -> None:
    add_cohort(lps)
    add(lps)
    ok(lps, "--actor", "alice", "advance", "1", "hold-manager-conversation", "--goal", "x")
    ok(lps, "--actor", "bob", "advance", "1", "withdraw", "--reason", "Nyt job")
    entries = history(lps)
    assert [
        (e["actor"], e["event"], e["from_state"], e["to_state"], e["note"]) for e in entries
    ] == [
        ("tester", "enrol", None, "enrolled", None),
        ("alice", "hold_manager_conversation", "enrolled", "manager_conversation_held", None),
        ("bob", "withdraw", "manager_conversation_held", "withdrawn", "Nyt job"),
    ]
    assert {"at", "actor", "event", "from_state", "to_state", "note"} <= set(entries[0])
    assert entries[0]["at"] == "2027-01-04T09:00:00+00:00"
    assert [e["seq"] for e in entries] == [1, 2, 3]

    table = ok(lps, "history", "1").stdout.splitlines()
    assert table[0].split()[:4] == ["#", "at", "(Copenhagen)", "actor"]
    assert table[3].split() == [
        "3",
        "2027-01-04",
        "10:00",
        "bob",
        "withdraw",
        "manager_conversation_held",
        "withdrawn",
        "Nyt",
        "job",
    ]


@pytest.mark.parametrize("note", ['=HYPERLINK("https://evil.example")', "+1", "-1+2", "@SUM(A1)"])
def test_history_csv_neutralises_formulas(lps: Cli, note: str) -> None:
    add_cohort(lps)
    add(lps)
    ok(lps, "--actor", "=cmd", "advance", "1", "withdraw", "--reason", note)
    rows = list(csv.reader(io.StringIO(ok(lps, "history", "1", "--format", "csv").stdout)))
    assert rows[0] == ["seq", "at", "actor", "event", "from_state", "to_state", "note"]
    assert rows[2] == [
        "2",
        "2027-01-04T09:00:00+00:00",
        "'=cmd",
        "withdraw",
        "enrolled",
        "withdrawn",
        "'" + note,
    ]
    assert rows[1][6] == ""
    # the JSON history keeps the note exactly as written
    assert history(lps)[-1]["note"] == note


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


# -- a whole cohort ----------------------------------------------------------------------------


def test_advance_a_cohort_with_except(lps: Cli) -> None:
    add_cohort(lps)
    for email in ("a@example.dk", "b@example.dk", "c@example.dk"):
        add(lps, email)
    lps.now = "2027-02-15T09:00"
    result = ok(lps, "advance", "--cohort", "H1", "invite-jti", "--except", "c@example.dk")
    assert result.stdout == "Advanced 2 participant(s) of H1 with invite-jti; left out 1.\n"
    assert [show(lps, str(n))["state"] for n in (1, 2, 3)] == [
        "jti_invited",
        "jti_invited",
        "enrolled",
    ]

    lps.now = "2027-03-01T10:00"
    result = lps("advance", "--cohort", "H1", "register-day")
    assert result.exit_code == 1
    assert result.stdout == "Advanced 2 participant(s) of H1.\n"
    assert errors(result) == [
        "Error: c@example.dk (#3): register_day is not possible in state enrolled; "
        "first: invite_jti (to reach jti_invited)",
        "Error: 1 participant(s) refused, 2 advanced",
    ]
    assert [show(lps, str(n))["state"] for n in (1, 2, 3)] == ["day_1", "day_1", "enrolled"]
    assert len(history(lps, "3")) == 1

    lps.now = "2027-03-15T10:00"
    result = ok(lps, "advance", "--cohort", "H1", "register-day", "--except", "3,2", "--json")
    assert json.loads(result.stdout) == {
        "advanced": [{"id": 1, "from_state": "day_1", "to_state": "day_2"}],
        "skipped": 2,
    }


def test_advance_several_cohorts_in_one_go(lps: Cli) -> None:
    add_cohort(lps, "H1")
    add_cohort(lps, "H2")
    add_cohort(lps, "H3")
    add(lps, "a@example.dk", "H1")
    add(lps, "b@example.dk", "H2")
    add(lps, "c@example.dk", "H2")
    add(lps, "d@example.dk", "H3")
    lps.now = "2027-02-15T09:00"
    result = ok(
        lps, "advance", "--cohort", "H1", "--cohort", "H2", "invite-jti", "--except", "c@example.dk"
    )
    assert result.stdout == "Advanced 2 participant(s) of H1, H2 with invite-jti; left out 1.\n"
    assert [show(lps, str(n))["state"] for n in (1, 2, 3, 4)] == [
        "jti_invited",
        "jti_invited",
        "enrolled",
        "enrolled",
    ]

    result = fails(lps, "advance", "--cohort", "H1", "--cohort", "NOPE", "invite-jti")
    assert errors(result) == ["Error: no cohort with code 'NOPE'; see `lps cohort list`"]
    both = ("--cohort", "H1", "--cohort", "H3")
    result = fails(lps, "advance", *both, "invite-jti", "--except", "9")
    assert errors(result) == ["Error: --except names nobody active in the 2 cohorts: 9"]
    assert show(lps, "4")["state"] == "enrolled"


# -- diagram, help and unknown names -----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), diagram.mermaid(False)),
        (("--format", "mermaid"), diagram.mermaid(False)),
        (("--format", "dot"), diagram.dot(False)),
        (("--format", "dot", "--exits"), diagram.dot(True)),
        (("--format", "mermaid", "--exits"), diagram.mermaid(True)),
    ],
)
def test_diagram(lps: Cli, args: tuple[str, ...], expected: str) -> None:
    result = ok(lps, "diagram", *args)
    assert result.stdout == expected
    assert "Kursusbevis udstedt" in result.stdout


def test_diagram_refuses_an_unknown_format(lps: Cli) -> None:
    result = fails(lps, "diagram", "--format", "png", code=2)
    assert "Invalid value for '--format': 'png' is not one of" in result.stderr


def test_help_lists_every_command(lps: Cli) -> None:
    result = ok(lps, "--help")
    commands = result.stdout.split("Commands:\n", 1)[1]
    listed = [line.split()[0] for line in commands.splitlines() if line.startswith("  ")]
    assert listed == sorted(COMMANDS)
    for name, (_, _, help_text) in COMMANDS.items():
        assert name in commands
        assert help_text.split()[0] in commands
    assert "--actor NAME" in result.stdout
    assert "--db URL" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("participant", "show", "99"),
            "Error: no participant with id 99; see `lps participant list`",
        ),
        (
            ("advance", "99", "register-day"),
            "Error: no participant with id 99; see `lps participant list`",
        ),
        (("history", "#99"), "Error: no participant with id #99; see `lps participant list`"),
        (
            ("participant", "show", "99999999999999999999"),
            "Error: no participant with id 99999999999999999999; see `lps participant list`",
        ),
        (
            ("outbox", "retry", "99999999999999999999"),
            "Error: no outbox message with id 99999999999999999999; see `lps outbox list`",
        ),
        (
            ("triggers", "nobody@example.dk"),
            "Error: no participant with email 'nobody@example.dk'; see `lps participant list`",
        ),
        (
            ("waive", "99", "jti", "--reason", "x"),
            "Error: no participant with id 99; see `lps participant list`",
        ),
        (("cohort", "show", "NOPE"), "Error: no cohort with code 'NOPE'; see `lps cohort list`"),
        (
            ("advance", "--cohort", "NOPE", "invite-jti"),
            "Error: no cohort with code 'NOPE'; see `lps cohort list`",
        ),
        (
            ("participant", "list", "--cohort", "NOPE"),
            "Error: no cohort with code 'NOPE'; see `lps cohort list`",
        ),
        (
            (
                "participant",
                "add",
                "NOPE",
                "--name",
                "X",
                "--email",
                "x@example.dk",
                "--municipality",
                "Odense",
                "--manager-name",
                "M",
                "--manager-email",
                "m@example.dk",
            ),
            "Error: no cohort with code 'NOPE'; see `lps cohort list`",
        ),
    ],
)
def test_unknown_participant_or_cohort(lps: Cli, args: tuple[str, ...], message: str) -> None:
    add_cohort(lps)
    add(lps)
    result = fails(lps, *args)
    assert errors(result) == [message]
    assert result.stdout == ""
