"""Rendering once per message shape must give exactly what a direct render gives."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_render import make_context

from notifications.render import RULES, render, render_shaped

NAMES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40
).filter(lambda s: s.strip() != "")


def _with_names(context: dict[str, Any], participant: str, manager: str) -> dict[str, Any]:
    context = dict(context)
    context["participant"] = {**context["participant"], "name": participant}
    context["manager"] = {**context["manager"], "name": manager}
    if "recipient" in context:
        context["recipient"] = {**context["recipient"], "name": participant}
    return context


@pytest.mark.parametrize("rule", [r for r in RULES if r != "admin_digest"])
@pytest.mark.parametrize("language", ["da", "en"])
def test_shaped_render_equals_direct_render(rule: str, language: str) -> None:
    for participant, manager in [
        ("Søren Ærø", "Mette <b>Kjær</b>"),
        ("Nguyễn Łukasz Şükrü", 'O\'Brien & "Sons"'),
        ("  spaced  out ", "line\nbreak"),
    ]:
        context = _with_names(make_context(rule), participant, manager)
        assert render_shaped(rule, language, context) == render(rule, language, context)


@settings(max_examples=60, deadline=None)
@given(participant=NAMES, manager=NAMES)
def test_any_names_render_the_same_both_ways(participant: str, manager: str) -> None:
    for rule in ("welcome", "day_reminder", "jti_invitation", "host_letter"):
        context = _with_names(make_context(rule), participant, manager)
        assert render_shaped(rule, "da", context) == render(rule, "da", context)
