"""The programme drawn as text: Mermaid for Markdown viewers, DOT for Graphviz."""

from __future__ import annotations

from states.programme import INITIAL_STATE, STATES, TIMED_TRIGGERS, TRANSITIONS


def _arrows() -> list[tuple[str, str, str, str]]:
    """(source, dest, label, kind) for every state-changing arrow; kind is normal, skip,
    timed or exit."""
    arrows: list[tuple[str, str, str, str]] = []
    for transition in TRANSITIONS:
        if transition.dest is None:
            continue
        kind = "normal"
        if transition.trigger in ("withdraw", "defer"):
            kind = "exit"
        elif transition.skip:
            kind = "skip"
        elif transition.trigger in TIMED_TRIGGERS:
            kind = "timed"
        for source in transition.sources:
            label = transition.trigger
            if transition.skip:
                label += f" (skips {transition.skip})"
            if transition.trigger in TIMED_TRIGGERS:
                label += " [timed]"
            arrows.append((source, transition.dest, label, kind))
    return arrows


def mermaid(include_exits: bool = False) -> str:
    """A Mermaid ``stateDiagram-v2`` of the programme with Danish labels."""
    lines = ["stateDiagram-v2"]
    for state in STATES:
        lines.append(f"    {state.name} : {state.label_da}")
    lines.append(f"    [*] --> {INITIAL_STATE} : enrol")
    for source, dest, label, kind in _arrows():
        if kind == "exit" and not include_exits:
            continue
        lines.append(f"    {source} --> {dest} : {label}")
    if not include_exits:
        lines.append("    note right of withdrawn : withdraw (from any active state)")
        lines.append("    note right of deferred : defer (before day 1, to a later cohort)")
    for state in STATES:
        if state.final:
            lines.append(f"    {state.name} --> [*]")
    return "\n".join(lines) + "\n"


def dot(include_exits: bool = False) -> str:
    """A Graphviz DOT digraph of the programme with Danish labels."""
    lines = [
        "digraph leder_paa_spring {",
        "    rankdir=TB;",
        '    node [shape=box, style="rounded,filled", fillcolor="#eef3f8", fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
        "    start [shape=point];",
    ]
    for state in STATES:
        fill = ', fillcolor="#dfe9d8"' if state.final else ""
        lines.append(f'    {state.name} [label="{state.label_da}\\n({state.name})"{fill}];')
    lines.append(f'    start -> {INITIAL_STATE} [label="enrol"];')
    styles = {
        "normal": "",
        "skip": ', style=dashed, color="#b05a00"',
        "timed": ', color="#1f5fa8", penwidth=2',
        "exit": ', style=dotted, color="#888888"',
    }
    for source, dest, label, kind in _arrows():
        if kind == "exit" and not include_exits:
            continue
        lines.append(f'    {source} -> {dest} [label="{label}"{styles[kind]}];')
    if not include_exits:
        lines.append('    withdrawn [xlabel="withdraw: from any active state"];')
        lines.append('    deferred [xlabel="defer: before day 1"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
