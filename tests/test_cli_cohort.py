from __future__ import annotations

# ``lps cohort`` and cohort-wide steps, on SQLite and PostgreSQL.
import json

from cli_helpers import DAYS_ARG, LATER_ARG, add, add_cohort, errors, history, show
from conftest import Cli
from helpers import fails, ok

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
        "--allow-holiday",
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
        "programme": "leder-paa-spring/1",
        "name": "Leder på spring, forår 2027",
        "days": DAYS_ARG.split(","),
        "venue": "Odense Rådhus",
        "admin_email": "kursus@odense.dk",
        "max_absences": 1,
        "send_hour": 9,
        "jti_link": None,
        "articles": [{"title": "Ledelse i praksis", "url": "https://example.dk/a.pdf"}],
        "self_service": "off",
        "link_days": 28,
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
    assert (
        "give 3 to 8 teaching days (five in the built-in programme), separated by commas; got 2"
        in result.stderr
    )
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
