"""The cohort report: every participant against the path, a summary per state, and the
programme diagram, as one self-contained HTML page (A4 landscape in print) or a CSV file for
spreadsheets."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from states.programme import (
    BUILTIN,
    FINAL_STATES,
    LOCAL_TZ,
    OBLIGATION_LABELS,
    PATH_ORDER,
    PATH_STATES,
    STATE_BY_NAME,
    Programme,
)
from workflow.exports import safe_cell
from workflow.programmes import programme_of

if TYPE_CHECKING:
    from workflow.views import CohortView, ParticipantView

STATUSES = ("met", "waived", "open", "overdue", "ended")
STATUS_LABELS = {
    "met": "Opfyldt",
    "waived": "Fritaget",
    "open": "Åben",
    "overdue": "Overskredet",
    "ended": "Bortfaldet",
}
# The states a participant passes on the way to completion, for the progress bar.
PATH = PATH_STATES


@dataclass(frozen=True)
class ObligationCell:
    """One obligation of one participant: ``met``, ``waived``, ``open``, ``overdue``, or
    ``ended`` (left open by a participant who withdrew or was deferred)."""

    name: str
    status: str
    due: date
    on: date | None = None
    note: str | None = None

    label_da: str = ""

    @property
    def label(self) -> str:
        return self.label_da or OBLIGATION_LABELS[self.name][0]


@dataclass(frozen=True)
class ReportRow:
    """One participant: who they are, where they are on the path, and their obligations."""

    id: int
    name: str
    email: str
    municipality: str
    workplace: str | None
    network_group: int | None
    state: str
    days_attended: int
    absences: int
    obligations: tuple[ObligationCell, ...]
    programme: Programme = BUILTIN

    @property
    def state_label(self) -> str:
        found = self.programme.state_by_name.get(self.state) or STATE_BY_NAME[self.state]
        return found.label_da

    @property
    def step(self) -> int | None:
        """Position on the path (1 = enrolled), or ``None`` for withdrawn and deferred."""
        path = self.programme.path_states
        return path.index(self.state) + 1 if self.state in path else None


@dataclass(frozen=True)
class Report:
    """A cohort at a glance on one day."""

    cohort: CohortView
    generated_at: datetime
    today: date
    rows: tuple[ReportRow, ...]
    diagram_svg: str | None
    diagram_text: str
    programme: Programme = BUILTIN

    @property
    def by_state(self) -> list[tuple[str, str, int]]:
        """(state, Danish label, participants) for every state someone is in, in path order."""
        counts = Counter(row.state for row in self.rows)
        order = self.programme.path_order
        labels = self.programme.state_by_name
        return [
            (name, (labels.get(name) or STATE_BY_NAME[name]).label_da, counts[name])
            for name in sorted(counts, key=lambda n: order.get(n, PATH_ORDER.get(n, 99)))
        ]

    @property
    def by_obligation(self) -> dict[str, dict[str, int]]:
        """Per obligation, how many participants are in each status."""
        summary = {name: dict.fromkeys(STATUSES, 0) for name in self.programme.obligations}
        for row in self.rows:
            for cell in row.obligations:
                summary[cell.name][cell.status] += 1
        return summary

    def html(self) -> str:
        """The report as one self-contained HTML page."""
        return render_html(self)

    def csv(self) -> str:
        """The report as CSV text for spreadsheets, starting with a UTF-8 byte order mark."""
        return render_csv(self)


def _met_on(view: ParticipantView, name: str) -> date | None:
    facts = view.facts
    if name == "manager_conversation":
        return facts.manager_conversation
    if name == "jti":
        return facts.jti_completed
    if name == "career_visit":
        return facts.career_visit
    if name == "speech":
        return facts.speech
    last = max(facts.days, default=0)
    return facts.days[last].on if last else None


def _row(view: ParticipantView, programme: Programme) -> ReportRow:
    ended = view.state in FINAL_STATES
    cells = []
    for obligation in view.obligations:
        status = obligation.status
        on: date | None = None
        note: str | None = None
        if status == "met":
            on = _met_on(view, obligation.name)
        elif status == "waived":
            waiver = view.facts.waivers.get(obligation.name)
            on = waiver.on if waiver else None
            note = obligation.waiver_reason
        elif obligation.overdue:
            status = "overdue"
        elif ended:
            status = "ended"
        label = programme.obligation_labels.get(obligation.name, ("", ""))[0]
        cells.append(ObligationCell(obligation.name, status, obligation.due, on, note, label))
    attended = sum(1 for record in view.facts.days.values() if record.attended)
    return ReportRow(
        id=view.id,
        name=view.name,
        email=view.email,
        municipality=view.municipality,
        workplace=view.workplace,
        network_group=view.network_group,
        state=view.state,
        days_attended=attended,
        absences=view.facts.absences,
        obligations=tuple(cells),
        programme=programme,
    )


def _diagram(programme: Programme) -> tuple[str | None, str]:
    from states import diagram

    text = diagram.mermaid(False, programme)
    draw = getattr(diagram, "svg", None)
    if not callable(draw):
        return None, text
    svg = str(draw(False, programme))
    start = svg.find("<svg")
    return (svg[start:] if start >= 0 else None), text


def cohort_report(
    cohort: CohortView, views: list[ParticipantView], *, now: datetime, today: date
) -> Report:
    """Every participant of ``cohort`` (withdrawn and deferred too) against the path, as of
    ``now``."""
    programme = programme_of(cohort.programme) or BUILTIN
    svg, text = _diagram(programme)
    return Report(
        cohort=cohort,
        generated_at=now,
        today=today,
        rows=tuple(_row(view, programme) for view in views),
        diagram_svg=svg,
        diagram_text=text,
        programme=programme,
    )


# -- CSV --------------------------------------------------------------------------------------

CSV_DELIMITER = ";"


def render_csv(report: Report) -> str:
    """Semicolon-separated, as Excel opens it in a Danish locale, with a byte order mark so
    that it reads the file as UTF-8 (æ, ø, å); text cells cannot start a formula."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    header = [
        "id",
        "name",
        "email",
        "municipality",
        "workplace",
        "network_group",
        "state",
        "state_label",
        "days_attended",
        "absences",
    ]
    for name in report.programme.obligations:
        header += [name, f"{name}_due", f"{name}_date", f"{name}_note"]
    writer.writerow(header)
    for row in report.rows:
        line: list[Any] = [
            row.id,
            safe_cell(row.name),
            safe_cell(row.email),
            safe_cell(row.municipality),
            safe_cell(row.workplace or ""),
            "" if row.network_group is None else row.network_group,
            row.state,
            row.state_label,
            row.days_attended,
            row.absences,
        ]
        for cell in row.obligations:
            line += [
                cell.status,
                cell.due.isoformat(),
                cell.on.isoformat() if cell.on else "",
                safe_cell(cell.note or ""),
            ]
        writer.writerow(line)
    return "\ufeff" + buffer.getvalue()


# -- HTML -------------------------------------------------------------------------------------


def _short(day: date | None) -> str:
    return "" if day is None else f"{day.day}.{day.month}.{day.year}"


def _local(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%d.%m.%Y kl. %H.%M")


_STYLE = """
:root { --ink: #1b2430; --muted: #5b6675; --line: #d5dbe3; --met: #dcefd9; --waived: #e7e2f3;
  --open: #f4f6f8; --overdue: #f9d9d4; --ended: #ffffff; --accent: #1f5fa8; }
* { box-sizing: border-box; }
body { font-family: "Segoe UI", "Helvetica Neue", Arial, sans-serif; color: var(--ink);
  margin: 24px; font-size: 13px; line-height: 1.35; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 24px 0 8px; border-bottom: 2px solid var(--accent);
  padding-bottom: 2px; }
.meta { color: var(--muted); margin: 0 0 12px; }
.days { display: flex; flex-wrap: wrap; gap: 6px 18px; padding: 0; list-style: none;
  margin: 0 0 8px; }
.days li { white-space: nowrap; }
.summary { display: flex; gap: 32px; flex-wrap: wrap; align-items: flex-start; }
table { border-collapse: collapse; }
th, td { border: 1px solid var(--line); padding: 4px 6px; text-align: left;
  vertical-align: top; }
th { background: #eef3f8; font-weight: 600; }
td.num, th.num { text-align: right; }
#participants { width: 100%; }
caption { text-align: left; padding-bottom: 4px; }
td small { display: block; color: var(--muted); }
td.num small { white-space: nowrap; }
.status { white-space: nowrap; }
.status small { white-space: normal; }
.met { background: var(--met); }
.waived { background: var(--waived); }
.open { background: var(--open); }
.overdue { background: var(--overdue); font-weight: 600; }
.ended { background: var(--ended); color: var(--muted); }
.path { display: inline-flex; gap: 1px; margin-top: 3px; }
.path span { width: 7px; height: 7px; background: #d9dee5; display: inline-block; }
.path span.done { background: var(--accent); }
.legend { display: flex; gap: 12px; flex-wrap: wrap; margin: 8px 0; padding: 0;
  list-style: none; }
.legend li { padding: 2px 8px; border: 1px solid var(--line); }
.diagram figure { margin: 0; }
.diagram svg { max-width: 100%; height: auto; }
.diagram pre { background: #f4f6f8; padding: 12px; overflow-x: auto; font-size: 11px; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { margin: 0; font-size: 9pt; }
  h2 { break-after: avoid; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; }
  .diagram { break-before: page; }
  .diagram svg { height: 160mm; width: auto; max-width: 100%; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="da">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Leder på spring – {{ cohort.name }} ({{ cohort.code }})</title>
<style>{{ style }}</style>
</head>
<body>
<header>
<h1>{{ cohort.name }} <span class="meta">({{ cohort.code }})</span></h1>
<p class="meta">Forløbsrapport pr. {{ generated }}{% if cohort.venue %}
 · {{ cohort.venue }}{% endif %} · {{ rows|length }} deltager{{ "e" if rows|length != 1 }}</p>
<ol class="days">
{% for day, theme in days %}
<li><strong>Dag {{ loop.index }}</strong> {{ short(day) }}: {{ theme }}</li>
{% endfor %}
</ol>
</header>

<section>
<h2>Overblik</h2>
<div class="summary">
<table id="states">
<caption class="meta">Deltagere pr. tilstand</caption>
<thead><tr><th>Tilstand</th><th class="num">Deltagere</th></tr></thead>
<tbody>
{% for name, label, count in by_state %}
<tr data-state="{{ name }}"><td>{{ label }}</td><td class="num">{{ count }}</td></tr>
{% endfor %}
</tbody>
<tfoot><tr><th>I alt</th><th class="num">{{ rows|length }}</th></tr></tfoot>
</table>
<table id="obligations">
<caption class="meta">Forpligtelser</caption>
<thead><tr><th>Forpligtelse</th>
{% for status in statuses %}<th class="num">{{ status_labels[status] }}</th>{% endfor %}
</tr></thead>
<tbody>
{% for name, counts in by_obligation.items() %}
<tr><td>{{ obligation_labels[name][0] }}</td>
{% for status in statuses %}<td class="num">{{ counts[status] }}</td>{% endfor %}
</tr>
{% endfor %}
</tbody>
</table>
</div>
</section>

<section>
<h2>Deltagere</h2>
<ul class="legend">
{% for status in statuses %}<li class="{{ status }}">{{ status_labels[status] }}</li>{% endfor %}
</ul>
<table id="participants">
<thead>
<tr>
<th class="num">#</th><th>Deltager</th><th>Kommune / arbejdsplads</th>
<th class="num">Gruppe</th><th>Tilstand</th><th class="num">Dage</th>
{% for name in obligations %}<th>{{ obligation_labels[name][0] }}</th>{% endfor %}
</tr>
</thead>
<tbody>
{% for row in rows %}
<tr data-participant="{{ row.id }}" data-state="{{ row.state }}">
<td class="num">{{ row.id }}</td>
<td class="who">{{ row.name }}<small>{{ row.email }}</small></td>
<td>{{ row.municipality }}{% if row.workplace %}<small>{{ row.workplace }}</small>{% endif %}</td>
<td class="num">{{ row.network_group if row.network_group is not none else "–" }}</td>
<td>{{ row.state_label }}{% if row.step %}
<div class="path" title="Trin {{ row.step }} af {{ path_length }}">
{%- for index in range(path_length) %}<span{% if index < row.step %} class="done"{% endif %}></span>
{%- endfor %}</div>{% endif %}</td>
<td class="num">{{ row.days_attended }}/5{% if row.absences %}
<small>{{ row.absences }} fravær</small>{% endif %}</td>
{% for cell in row.obligations %}
<td class="status {{ cell.status }}" data-obligation="{{ cell.name }}">
{{- status_labels[cell.status] }}
{%- if cell.status in ("met", "waived") and cell.on %} {{ short(cell.on) }}{% endif %}
{%- if cell.status in ("open", "overdue") %}<small>frist {{ short(cell.due) }}</small>{% endif %}
{%- if cell.note %}<small>{{ cell.note }}</small>{% endif %}</td>
{% endfor %}
</tr>
{% else %}
<tr><td colspan="{{ 6 + obligations|length }}">Ingen deltagere endnu.</td></tr>
{% endfor %}
</tbody>
</table>
</section>

<section class="diagram">
<h2>Forløbet</h2>
{% if svg %}<figure>{{ svg }}</figure>
{% else %}<pre>{{ diagram_text }}</pre>
{% endif %}
</section>
</body>
</html>
"""


def render_html(report: Report) -> str:
    """One self-contained page: inline CSS, no scripts, no external resources; every name and
    note escaped."""
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True)
    template = env.from_string(_TEMPLATE)
    themes = report.programme.day_themes
    days = [(day, theme) for day, (theme, _) in zip(report.cohort.days, themes, strict=True)]
    return template.render(
        cohort=report.cohort,
        generated=_local(report.generated_at),
        days=days,
        rows=report.rows,
        by_state=report.by_state,
        by_obligation=report.by_obligation,
        statuses=STATUSES,
        status_labels=STATUS_LABELS,
        obligations=report.programme.obligations,
        obligation_labels=report.programme.obligation_labels,
        path_length=len(report.programme.path_states),
        short=_short,
        style=Markup(_STYLE),
        svg=Markup(report.diagram_svg) if report.diagram_svg else None,
        diagram_text=report.diagram_text,
    )


__all__ = [
    "CSV_DELIMITER",
    "STATUSES",
    "ObligationCell",
    "Report",
    "ReportRow",
    "cohort_report",
    "render_csv",
    "render_html",
]
