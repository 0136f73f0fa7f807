"""A programme definition is a TOML file: the built-in programme is one, a variant is another,
and a broken or hostile file is refused with every problem by key path and line."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from programme_helpers import four_days_no_visit

from states import programme
from states.definition import (
    BUILTIN_TOML,
    MAX_FILE_BYTES,
    DefinitionError,
    builtin_definition,
    parse_definition,
    parse_moment,
    render_toml,
)
from states.programme import BUILTIN, compose
from states.rules import TIMED_RULES, timed_rules


def variant(text: str = BUILTIN_TOML, **replacements: str) -> str:
    """The built-in file with each ``old=new`` pair replaced (pairs given as key=(old, new))."""
    for old, new in replacements.values():
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def problems(text: str | bytes) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(text, source="variant.toml")
    return [str(problem) for problem in caught.value.problems]


def test_the_built_in_programme_is_the_file_that_ships_and_writes_back_to_it() -> None:
    definition = builtin_definition()
    assert render_toml(definition) == BUILTIN_TOML
    assert parse_definition(render_toml(definition)) == definition
    assert programme.DEFINITION_VERSION == "leder-paa-spring/1"
    assert [theme for theme, _ in programme.DAY_THEMES] == [
        "Ledelse i en kommunal kontekst",
        "Dig som leder",
        "Ledelse i spil",
        "Min vej mod ledelse",
        "Min vej mod ledelse, fortsat",
    ]


def test_the_file_composes_the_programme_the_engine_runs() -> None:
    again = compose(parse_definition(BUILTIN_TOML))
    assert again.states == BUILTIN.states
    assert [(t.trigger, t.sources, t.dest, t.skip) for t in again.transitions] == [
        (t.trigger, t.sources, t.dest, t.skip) for t in programme.TRANSITIONS
    ]
    assert again.obligation_definitions == programme.OBLIGATION_DEFINITIONS
    assert [(r.name, r.offset_days, r.day) for r in timed_rules(again)] == [
        (r.name, r.offset_days, r.day) for r in TIMED_RULES
    ]


def test_a_variant_with_four_days_and_no_career_visit_loses_the_visit_everywhere() -> None:
    short = compose(parse_definition(four_days_no_visit()))
    assert short.state_names == (
        "enrolled",
        "manager_conversation_held",
        "jti_invited",
        "jti_completed",
        "day_1",
        "day_2",
        "day_3",
        "day_4",
        "speech_delivered",
        "certified",
        "closing_conversation_held",
        "completed",
        "withdrawn",
        "deferred",
    )
    assert "hold_career_visit" not in short.triggers
    assert short.obligations == ("manager_conversation", "jti", "attendance", "speech")
    names = [rule.name for rule in timed_rules(short)]
    assert "host_letter" not in names and "career_visit_reminder" not in names
    assert short.transition_for("register_day", "day_3").dest == "day_4"
    assert short.transition_for("deliver_speech", "day_4").dest == "speech_delivered"


def test_a_rule_switched_off_is_not_scheduled() -> None:
    text = variant(
        off=(
            'at = "D3-3"\nexpires = "D3"\nenabled = true',
            'at = "D3-3"\nexpires = "D3"\nenabled = false',
        )
    )
    names = [rule.name for rule in timed_rules(compose(parse_definition(text)))]
    assert "homework_reminder" not in names and "speech_reminder" in names


def test_a_day_without_a_theme_is_named_by_key_path_and_line() -> None:
    text = variant(theme=('theme = { da = "Dig som leder", en = "You as a leader" }', "# no theme"))
    line = text.splitlines().index("# no theme")
    assert problems(text) == [
        f'line {line}: day[1].theme: is missing; write {{ da = "...", en = "..." }}'
    ]


def test_a_rule_moment_outside_the_course_is_refused() -> None:
    text = variant(moment=('at = "D3-3"', 'at = "D6-3"'))
    line = text.splitlines().index('at = "D6-3"') + 1
    assert problems(text) == [
        f"line {line}: rule.homework_reminder.at: 'D6-3' names teaching day 6, "
        "but the programme has 5 days"
    ]


def test_every_problem_is_listed_not_only_the_first() -> None:
    text = variant(
        hour=("send_hour = 9", "send_hour = 25"),
        moment=('at = "D1-21"', 'at = "soon"'),
        step=(
            "[step.speech]  # the leadership speech on the last day\nenabled = true",
            '[step.speech]\nenabled = "yes"',
        ),
    )
    found = problems(text)
    assert len(found) == 3
    assert found[0].endswith("send_hour: must be a whole number from 6 to 20, not 25")
    assert "step.speech.enabled: must be true or false, not 'yes'" in found[1]
    assert "rule.manager_conversation_reminder.at: 'soon' is not a moment" in found[2]


def test_an_unknown_key_is_refused_with_the_keys_that_are_known() -> None:
    text = variant(
        key=(
            "[rule.auto_complete]",
            '[rule.auto_compleet]\nat = "certified+60"\n\n[rule.auto_complete]',
        )
    )
    assert any("rule.auto_compleet: unknown key" in p for p in problems(text))


def test_a_file_that_is_not_toml_names_the_line() -> None:
    assert problems('version = "x/1"\n\n[[day]\n') == [
        "line 3: is not valid TOML: Expected ']]' at the end of an array declaration "
        "(at line 3, column 6)"
    ]


def test_a_file_of_ten_megabytes_is_refused_before_it_is_read() -> None:
    huge = ("# " + "x" * 98 + "\n") * 100_000
    assert problems(huge.encode()) == [
        f"is {len(huge)} bytes; a definition file is at most {MAX_FILE_BYTES} bytes"
    ]


def test_too_few_days_and_a_malformed_version() -> None:
    text = re.sub(r"\[\[day\]\]  # D[345]\ntheme = .*\n\n", "", BUILTIN_TOML)
    text = text.replace('version = "leder-paa-spring/1"', 'version = "Leder på spring"')
    found = problems(text)
    assert "version: 'Leder på spring' is malformed" in found[0]
    assert "day: the programme has 2 days; it needs 3 to 8" in found[1]


@given(st.text(max_size=400))
def test_any_text_is_a_definition_or_a_definition_error(text: str) -> None:
    try:
        parse_definition(text)
    except DefinitionError as error:
        assert error.problems
        assert all(str(problem) for problem in error.problems)


moments = st.one_of(
    st.builds(
        lambda d, o: f"D{d}{o:+d}" if o else f"D{d}", st.integers(1, 8), st.integers(-99, 99)
    ),
    st.builds(lambda o: f"certified+{o}", st.integers(0, 99)),
    st.builds(lambda o: f"D*{o:+d}", st.integers(-9, -1)),
    st.just("host"),
)


@given(moments)
def test_a_moment_writes_back_as_it_was_written(text: str) -> None:
    assert str(parse_moment(text)) == text


@given(st.text(max_size=20))
def test_any_text_is_a_moment_or_a_value_error(text: str) -> None:
    try:
        parse_moment(text)
    except ValueError as error:
        assert "is not a moment" in str(error)
