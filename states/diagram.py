"""The programme drawn as text: Mermaid for Markdown viewers, DOT for Graphviz, and a
self-contained SVG picture that needs neither."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

from states.programme import BUILTIN, INITIAL_STATE, Programme, State

__all__ = [
    "dot",
    "mermaid",
    "svg",
]


def _arrows(p: Programme) -> list[tuple[str, str, str, str]]:
    """(source, dest, label, kind) for every state-changing arrow; kind is normal, skip,
    timed or exit."""
    timed = p.timed_triggers
    arrows: list[tuple[str, str, str, str]] = []
    for transition in p.transitions:
        if transition.dest is None:
            continue
        kind = "normal"
        if transition.trigger in ("withdraw", "defer"):
            kind = "exit"
        elif transition.skip:
            kind = "skip"
        elif transition.trigger in timed:
            kind = "timed"
        for source in transition.sources:
            label = transition.trigger
            if transition.skip:
                label += f" (skips {transition.skip})"
            if transition.trigger in timed:
                label += " [timed]"
            arrows.append((source, transition.dest, label, kind))
    return arrows


def mermaid(include_exits: bool = False, programme: Programme | None = None) -> str:
    """A Mermaid ``stateDiagram-v2`` of the programme with Danish labels."""
    p = programme or BUILTIN
    lines = ["stateDiagram-v2"]
    for state in p.states:
        lines.append(f"    {state.name} : {state.label_da}")
    lines.append(f"    [*] --> {INITIAL_STATE} : enrol")
    for source, dest, label, kind in _arrows(p):
        if kind == "exit" and not include_exits:
            continue
        lines.append(f"    {source} --> {dest} : {label}")
    if not include_exits:
        lines.append("    note right of withdrawn : withdraw (from any active state)")
        lines.append("    note right of deferred : defer (before day 1, to a later cohort)")
    for state in p.states:
        if state.final:
            lines.append(f"    {state.name} --> [*]")
    return "\n".join(lines) + "\n"


def dot(include_exits: bool = False, programme: Programme | None = None) -> str:
    """A Graphviz DOT digraph of the programme with Danish labels."""
    p = programme or BUILTIN
    lines = [
        "digraph leder_paa_spring {",
        "    rankdir=TB;",
        '    node [shape=box, style="rounded,filled", fillcolor="#eef3f8", fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
        "    start [shape=point];",
    ]
    for state in p.states:
        fill = ', fillcolor="#dfe9d8"' if state.final else ""
        lines.append(f'    {state.name} [label="{state.label_da}\\n({state.name})"{fill}];')
    lines.append(f'    start -> {INITIAL_STATE} [label="enrol"];')
    styles = {
        "normal": "",
        "skip": ', style=dashed, color="#b05a00"',
        "timed": ', color="#1f5fa8", penwidth=2',
        "exit": ', style=dotted, color="#888888"',
    }
    for source, dest, label, kind in _arrows(p):
        if kind == "exit" and not include_exits:
            continue
        lines.append(f'    {source} -> {dest} [label="{label}"{styles[kind]}];')
    if not include_exits:
        lines.append('    withdrawn [xlabel="withdraw: from any active state"];')
        lines.append('    deferred [xlabel="defer: before day 1"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- SVG --------------------------------------------------------------------------------------

_EXIT_TRIGGERS = ("withdraw", "defer")
_EXIT_NOTES = {"withdraw": "from any active state", "defer": "before day 1"}
_INK = "#222222"
_MUTED = "#5f6670"
_SKIP = "#b05a00"
_TIMED = "#1f5fa8"
_EXIT = "#808080"
_BOX_FILL = "#eef3f8"
_FINAL_FILL = "#dfe9d8"
_FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
_MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"

_WIDTH = 900
_CENTER_X = 435
_BOX_W = 320
_BOX_H = 50
_PITCH = 104
_FIRST_Y = 135
_LANE = 90
_SIDE_X = 112
_SIDE_W = 196


@dataclass(frozen=True)
class _Edge:
    source: str
    dest: str
    trigger: str
    skip: str | None
    timed: bool

    @property
    def kind(self) -> str:
        return "skip" if self.skip else "timed" if self.timed else "normal"


_COLORS = {"normal": _INK, "skip": _SKIP, "timed": _TIMED, "exit": _EXIT}


def _edges(p: Programme) -> tuple[list[_Edge], dict[str, list[str]]]:
    """The state-changing arrows of the path, and each exit trigger with its source states."""
    edges: list[_Edge] = []
    exits: dict[str, list[str]] = {}
    for transition in p.transitions:
        if transition.dest is None:
            continue
        if transition.trigger in _EXIT_TRIGGERS:
            exits.setdefault(transition.trigger, []).extend(transition.sources)
            continue
        for source in transition.sources:
            edges.append(
                _Edge(
                    source,
                    transition.dest,
                    transition.trigger,
                    transition.skip,
                    transition.trigger in p.timed_triggers,
                )
            )
    return edges, exits


def _text(
    x: float,
    y: float,
    content: str,
    *,
    size: float = 12,
    color: str = _INK,
    anchor: str = "start",
    bold: bool = False,
    family: str = _FONT,
) -> str:
    """A ``<text>`` element; ``content`` is markup, already escaped."""
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text x="{x:g}" y="{y:g}" font-family="{family}" font-size="{size:g}"{weight} '
        f'fill="{color}" text-anchor="{anchor}">{content}</text>'
    )


def _trigger_label(edge: _Edge) -> str:
    """The trigger's name, with a blue ``[timed]`` after a trigger the scheduler fires."""
    label = escape(edge.trigger)
    if edge.timed:
        label += f' <tspan fill="{_TIMED}" font-weight="bold">[timed]</tspan>'
    return label


def _box(state: State, x: float, y: float, width: float, note: str | None = None) -> str:
    """A state: its Danish label, its name small underneath, and an optional note."""
    height = _BOX_H + (16 if note else 0)
    fill = _FINAL_FILL if state.final else _BOX_FILL
    parts = [
        f'<g class="state" id="lps-state-{escape(state.name)}">',
        f'<rect x="{x - width / 2:g}" y="{y - _BOX_H / 2:g}" width="{width:g}" '
        f'height="{height:g}" rx="10" fill="{fill}" stroke="#4a6785" stroke-width="1.5"/>',
        _text(x, y - 3, escape(state.label_da), size=14, anchor="middle", bold=True),
        _text(
            x, y + 14, escape(state.name), size=10.5, color=_MUTED, anchor="middle", family=_MONO
        ),
    ]
    if note:
        parts.append(_text(x, y + 32, note, size=11, color=_MUTED, anchor="middle"))
    parts.append("</g>")
    return "".join(parts)


def _arrow(d: str, kind: str, *, css: str = "arrow", head: bool = True) -> str:
    """A line or curve in the style of its kind: skips dashed, timed thick, exits dotted."""
    style = {
        "normal": 'stroke-width="1.6"',
        "skip": 'stroke-width="1.6" stroke-dasharray="7 5"',
        "timed": 'stroke-width="2.4"',
        "exit": 'stroke-width="1.3" stroke-dasharray="2 3"',
    }[kind]
    marker = f' marker-end="url(#lps-head-{kind})"' if head else ""
    return (
        f'<path class="{css} {kind}" d="{d}" fill="none" stroke="{_COLORS[kind]}" {style}{marker}/>'
    )


def _lanes(edges: list[_Edge], row: dict[str, int]) -> list[tuple[_Edge, int, int]]:
    """Side (+1 right, -1 left) and lane of every arrow that passes states by: the right side
    first, and arrows whose spans overlap never share a side and lane."""
    taken: dict[tuple[int, int], list[tuple[int, int]]] = {}
    placed = []
    for edge in edges:
        low, high = sorted((row[edge.source], row[edge.dest]))
        lane, side = next(
            (lane, side)
            for lane in range(len(edges) + 1)
            for side in (1, -1)
            if all(high <= a or b <= low for a, b in taken.get((side, lane), []))
        )
        taken.setdefault((side, lane), []).append((low, high))
        placed.append((edge, side, lane))
    return placed


def svg(include_exits: bool = False, programme: Programme | None = None) -> str:
    """The programme as a self-contained SVG picture: the states top to bottom in programme
    order with their Danish labels, the usual path straight down, skips as dashed orange arrows
    labelled with the obligation they leave outstanding, timed triggers in blue, and
    ``withdrawn``/``deferred`` at the side (with ``include_exits``, fed from every state)."""
    p = programme or BUILTIN
    edges, exits = _edges(p)
    exit_names = {t.dest for t in p.transitions if t.trigger in _EXIT_TRIGGERS}
    column = [state for state in p.states if state.name not in exit_names]
    row = {state.name: index for index, state in enumerate(column)}
    center = {name: float(_FIRST_Y + index * _PITCH) for name, index in row.items()}
    left, right = _CENTER_X - _BOX_W / 2, _CENTER_X + _BOX_W / 2
    legend_y = center[column[-1].name] + _BOX_H / 2 + 56
    height = legend_y + (124 if include_exits else 100)

    body = [
        _text(24, 34, "Leder på spring: forløbet", size=20, bold=True),
        _text(
            24,
            56,
            "Tilstandene i programmets rækkefølge: dansk betegnelse, og navnet i lps nedenunder",
            color=_MUTED,
        ),
    ]
    first_top = center[INITIAL_STATE] - _BOX_H / 2
    body.append(f'<circle cx="{_CENTER_X}" cy="{first_top - 38:g}" r="7" fill="{_INK}"/>')
    body.append(_arrow(f"M{_CENTER_X},{first_top - 31:g} V{first_top - 1:g}", "normal"))
    body.append(_text(_CENTER_X + 10, first_top - 12, "enrol"))

    straight: dict[tuple[str, str], list[_Edge]] = {}
    passing: list[_Edge] = []
    for edge in edges:
        if row[edge.dest] == row[edge.source] + 1:
            straight.setdefault((edge.source, edge.dest), []).append(edge)
        else:
            passing.append(edge)

    for (source, dest), group in straight.items():
        top, end = center[source] + _BOX_H / 2, center[dest] - _BOX_H / 2 - 1
        kind = "timed" if any(edge.timed for edge in group) else "normal"
        body.append(_arrow(f"M{_CENTER_X},{top:g} V{end:g}", kind))
        label = " / ".join(_trigger_label(edge) for edge in group)
        body.append(_text(_CENTER_X + 10, (top + end) / 2 + 4, label))

    for edge, side, lane in _lanes(passing, row):
        edge_x = right if side > 0 else left
        reach = _LANE * (lane + 1) * side
        down = 1 if row[edge.dest] > row[edge.source] else -1
        y0, y1 = center[edge.source] + 10 * down, center[edge.dest] - 10 * down
        bend = edge_x + reach
        body.append(
            _arrow(
                f"M{edge_x:g},{y0:g} C{bend:g},{y0:g} {bend:g},{y1:g} {edge_x + side:g},{y1:g}",
                edge.kind,
            )
        )
        # a cubic whose control points both sit at ``bend`` reaches 3/4 of the way out
        label_x = edge_x + 0.75 * reach + 8 * side
        lines = [_trigger_label(edge)]
        if edge.skip:
            lines.append(f'<tspan fill="{_SKIP}">skips {escape(edge.skip)}</tspan>')
        first = (y0 + y1) / 2 + 4 - (len(lines) - 1) * 8
        for index, line in enumerate(lines):
            body.append(
                _text(label_x, first + index * 16, line, anchor="start" if side > 0 else "end")
            )

    body.extend(_box(state, _CENTER_X, center[state.name], _BOX_W) for state in column)
    body.extend(_exit_boxes(exits, center, left, include_exits, p))
    body.extend(_legend(legend_y, include_exits))

    markers = "".join(
        f'<marker id="lps-head-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="11" '
        f'markerHeight="11" markerUnits="userSpaceOnUse" orient="auto">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
        for kind, color in _COLORS.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height:g}" '
        f'viewBox="0 0 {_WIDTH} {height:g}" role="img" aria-labelledby="lps-diagram-title">\n'
        '<title id="lps-diagram-title">Leder på spring: forløbets tilstande og overgange</title>\n'
        f"<defs>{markers}</defs>\n"
        f'<rect width="{_WIDTH}" height="{height:g}" fill="#ffffff"/>\n'
        + "\n".join(body)
        + "\n</svg>\n"
    )


def _exit_boxes(
    exits: dict[str, list[str]],
    center: dict[str, float],
    left: float,
    include_exits: bool,
    p: Programme,
) -> list[str]:
    """``withdrawn`` and ``deferred`` in the left margin, with a note saying when they apply;
    with ``include_exits``, a dotted line runs to them from every state they are reached from."""
    destinations = {t.trigger: t.dest for t in p.transitions if t.trigger in _EXIT_TRIGGERS}
    # the exit with the fewest sources first: its rail is outermost and its box highest
    triggers = sorted(exits, key=lambda trigger: len(exits[trigger]))
    box_edge = _SIDE_X + _SIDE_W / 2
    parts: list[str] = []
    y = 0.0
    for index, trigger in enumerate(triggers):
        state = p.state_by_name[destinations[trigger] or ""]
        sources = [center[name] for name in exits[trigger] if name in center]
        if not include_exits:
            y = _FIRST_Y + _PITCH * (1.5 + 3.5 * index)
            note = f"{escape(trigger)}: {escape(_EXIT_NOTES.get(trigger, ''))}"
            parts.append(_box(state, _SIDE_X, y, _SIDE_W, note=note))
            continue
        y = max(sources) + 1.5 * _PITCH if index == 0 else y + 3 * _PITCH
        rail = left - 16 - 14 * (len(triggers) - 1 - index)
        for source_y in sources:
            parts.append(_arrow(f"M{left:g},{source_y:g} H{rail:g}", "exit", head=False))
        parts.append(
            _arrow(
                f"M{rail:g},{min(*sources, y):g} V{max(*sources, y):g} "
                f"M{rail:g},{y:g} H{box_edge + 1:g}",
                "exit",
            )
        )
        parts.append(_box(state, _SIDE_X, y, _SIDE_W, note=escape(trigger)))
    return parts


def _legend(y: float, include_exits: bool) -> list[str]:
    rows = [
        ("normal", "trigger", "the next step on the usual path"),
        ("skip", "skips …", "allowed, but the skipped obligation stays outstanding"),
        ("timed", "[timed]", "fired by the scheduler when it is due"),
    ]
    if include_exits:
        rows.append(("exit", "withdraw, defer", "leave the programme (Udmeldt, Udsat)"))
    parts = [
        f'<g class="legend"><rect x="24" y="{y - 26:g}" width="{_WIDTH - 48}" '
        f'height="{18 + 24 * len(rows)}" rx="8" fill="#fafafa" stroke="#d0d4d9"/>'
    ]
    for index, (kind, name, meaning) in enumerate(rows):
        line_y = y + index * 24
        parts.append(_arrow(f"M44,{line_y - 4:g} H104", kind, css="legend"))
        parts.append(_text(118, line_y, escape(name), color=_COLORS[kind], bold=True))
        parts.append(_text(240, line_y, escape(meaning)))
    parts.append("</g>")
    return parts
