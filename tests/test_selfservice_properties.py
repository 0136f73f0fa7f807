"""The parsers of what arrives from outside through a link: any form and any form token is
either read or refused by name, never a crash."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from web.app import form_token, form_token_valid
from workflow.links import PURPOSES
from workflow.selfservice import FormInvalid, parse_form

FORMS = [name for name in PURPOSES if name != "overview"]
FIELDS = ("on", "goals", "name", "email", "role", "municipality", "outcome", "agreements")
ERRORS = {"missing", "date", "email", "choice", "too_long"}


@given(
    st.sampled_from(FORMS),
    st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=50)),
)
def test_any_form_is_read_or_refused_field_by_field(purpose: str, fields: dict[str, str]) -> None:
    try:
        values = parse_form(purpose, fields)
    except FormInvalid as refused:
        assert refused.errors and set(refused.errors.values()) <= ERRORS
        assert set(refused.errors) <= set(FIELDS)
        return
    if "on" in values:
        assert isinstance(values["on"], date)
    if "goals" in values:
        assert values["goals"] and all(goal == goal.strip() and goal for goal in values["goals"])


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2199, 12, 31)))
def test_a_date_as_the_browser_sends_it_is_read_as_that_date(day: date) -> None:
    assert parse_form("jti", {"on": day.isoformat()}) == {"on": day}


@given(st.text(max_size=200), st.integers(min_value=0, max_value=2**40))
def test_any_form_token_is_judged_without_a_crash(given_token: str, now: int) -> None:
    assert form_token_valid(b"secret", "key", given_token, now) in (True, False)


@given(st.integers(min_value=0, max_value=2**33), st.integers(min_value=0, max_value=12 * 3600))
def test_a_pages_own_token_holds_for_its_lifetime_and_no_other_page(issued: int, age: int) -> None:
    token = form_token(b"secret", "key", issued)
    assert form_token_valid(b"secret", "key", token, issued + age)
    assert not form_token_valid(b"secret", "other", token, issued + age)
    assert not form_token_valid(b"secret", "key", token, issued + 12 * 3600 + 1)
