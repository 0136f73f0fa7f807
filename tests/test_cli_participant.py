from __future__ import annotations

# ``lps participant`` and ``lps history``, on SQLite and PostgreSQL.
import csv
import io
import json

import pytest
from cli_helpers import add, add_cohort, errors, history, show
from conftest import Cli
from helpers import fails, ok

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
        "cli",
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
    assert rows[0] == ["seq", "at", "actor", "channel", "event", "from_state", "to_state", "note"]
    assert rows[2] == [
        "2",
        "2027-01-04T09:00:00+00:00",
        "'=cmd",
        "cli",
        "withdraw",
        "enrolled",
        "withdrawn",
        "'" + note,
    ]
    assert rows[1][7] == ""
    # the JSON history keeps the note exactly as written
    assert history(lps)[-1]["note"] == note
