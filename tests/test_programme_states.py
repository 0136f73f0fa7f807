from __future__ import annotations

# The programme's states and its diagram. No database.
import pytest

from states import diagram
from states.programme import (
    FINAL_STATES,
    INITIAL_STATE,
    STATE_BY_NAME,
    STATES,
    TRANSITIONS,
)

# -- states and diagram -----------------------------------------------------------------------


def test_states_in_programme_order_with_danish_labels() -> None:
    assert [(s.name, s.label_da) for s in STATES] == [
        ("enrolled", "Tilmeldt"),
        ("manager_conversation_held", "Samtale med nærmeste leder afholdt"),
        ("jti_invited", "JTI og artikler udsendt"),
        ("jti_completed", "JTI besvaret"),
        ("day_1", "Undervisningsdag 1"),
        ("day_2", "Undervisningsdag 2"),
        ("day_3", "Undervisningsdag 3"),
        ("career_visit_held", "Karrieresamtale afholdt"),
        ("day_4", "Undervisningsdag 4"),
        ("day_5", "Undervisningsdag 5"),
        ("speech_delivered", "Lederindlæg holdt"),
        ("certified", "Kursusbevis udstedt"),
        ("closing_conversation_held", "Afsluttende samtale afholdt"),
        ("completed", "Afsluttet"),
        ("withdrawn", "Udmeldt"),
        ("deferred", "Udsat"),
    ]
    assert INITIAL_STATE == "enrolled"
    assert sorted(FINAL_STATES) == ["completed", "deferred", "withdrawn"]
    assert STATE_BY_NAME["certified"].label_da == "Kursusbevis udstedt"


@pytest.mark.parametrize("exits", [False, True])
def test_mermaid_mentions_every_state_and_danish_label(exits: bool) -> None:
    text = diagram.mermaid(exits)
    assert text.startswith("stateDiagram-v2\n")
    for state in STATES:
        assert f"    {state.name} : {state.label_da}\n" in text
    assert "    [*] --> enrolled : enrol\n" in text
    assert (
        "    enrolled --> jti_invited : invite_jti (skips manager_conversation) [timed]\n" in text
    )
    assert "    day_3 --> day_4 : register_day (skips career_visit)\n" in text
    assert "    speech_delivered --> certified : certify\n" in text
    for final in FINAL_STATES:
        assert f"    {final} --> [*]\n" in text
    assert ("    day_2 --> withdrawn : withdraw\n" in text) == exits
    assert ("    jti_completed --> deferred : defer\n" in text) == exits


@pytest.mark.parametrize("exits", [False, True])
def test_dot_mentions_every_state_and_danish_label(exits: bool) -> None:
    text = diagram.dot(exits)
    assert text.startswith("digraph leder_paa_spring {\n")
    assert text.endswith("}\n")
    for state in STATES:
        assert f'{state.name} [label="{state.label_da}\\n({state.name})"' in text
    assert '    jti_invited -> day_1 [label="register_day (skips jti)", style=dashed' in text
    assert '    certified -> completed [label="complete [timed]"' in text
    assert ('    certified -> withdrawn [label="withdraw"' in text) == exits


def test_every_state_changing_arrow_is_drawn() -> None:
    text = diagram.mermaid(True)
    for t in TRANSITIONS:
        if t.dest is None:
            continue
        for source in t.sources:
            assert f"    {source} --> {t.dest} : {t.trigger}" in text, (t.trigger, source)
