"""A programme definition as data: what an administrator's TOML file says, checked.

The file composes the programme from named building blocks that live in code (guards,
conditions, effects); it chooses the teaching days and their themes, which optional steps the
path has, when each timed rule is due and whether it is on, when each obligation is due, the
labels, the send hour, the number of absences allowed and the JTI send window. It contains no
code. :func:`parse_definition` turns a file into a :class:`Definition` or raises
:class:`DefinitionError` naming every problem by key path and line; :func:`render_toml` writes
a definition back as a complete, commented file that parses to the same definition.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Any

from states.errors import LpsError

__all__ = [
    "BUILTIN_TOML",
    "BUILTIN_VERSION",
    "MAX_DAYS",
    "MAX_FILE_BYTES",
    "MIN_DAYS",
    "OPTIONAL_STEPS",
    "RULE_CATALOGUE",
    "Definition",
    "DefinitionError",
    "Moment",
    "Problem",
    "RuleSetting",
    "RuleSpec",
    "builtin_definition",
    "definition_data",
    "parse_definition",
    "parse_moment",
    "render_toml",
]

MIN_DAYS = 3
MAX_DAYS = 8
# A definition is a page of settings; anything this large is not one.
MAX_FILE_BYTES = 256 * 1024
OPTIONAL_STEPS: tuple[str, ...] = ("jti", "career_visit", "speech", "closing_conversation")
BUILTIN_VERSION = "leder-paa-spring/1"
_VERSION = re.compile(r"^[a-z0-9][a-z0-9._-]{0,30}/[0-9]{1,6}$")
_LANGUAGES = ("da", "en")


@dataclass(frozen=True)
class RuleSpec:
    """What code fixes about a timed rule: the step it belongs to (``None``: always there),
    what its moment is measured from (``day``: one teaching day, ``each_day``: every teaching
    day, ``certified``: the certification date, ``host``: the host's registration) and what
    the file says about it in a comment."""

    step: str | None
    anchor: str
    about: str


RULE_CATALOGUE: dict[str, RuleSpec] = {
    "manager_conversation_reminder": RuleSpec(
        None, "day", "reminds participant and manager of the conversation not yet held"
    ),
    "jti_invitation": RuleSpec("jti", "day", "sends the JTI and the articles (fires invite_jti)"),
    "manager_conversation_escalation": RuleSpec(
        None, "day", "tells manager and administrator the conversation is still not held"
    ),
    "jti_reminder": RuleSpec("jti", "day", "reminds the participant to answer the JTI"),
    "jti_escalation": RuleSpec("jti", "day", "JTI still not answered: participant and admin"),
    "day_reminder": RuleSpec(None, "each_day", "the day before each teaching day"),
    "host_letter": RuleSpec("career_visit", "host", "letter to the host once registered"),
    "host_missing": RuleSpec("career_visit", "day", "no host registered yet"),
    "homework_reminder": RuleSpec(None, "day", "bring the homework for the network group"),
    "career_visit_reminder": RuleSpec("career_visit", "day", "career visit not yet held"),
    "career_visit_escalation": RuleSpec(
        "career_visit", "day", "career visit still not held: administrator"
    ),
    "speech_reminder": RuleSpec("speech", "day", "prepare the leadership speech"),
    "closing_reminder": RuleSpec(
        "closing_conversation", "certified", "closing conversation neither held nor declined"
    ),
    "auto_complete": RuleSpec(None, "certified", "completes the path (fires complete)"),
}
# Obligations and the step each belongs to (``None``: every programme has it).
_OBLIGATION_STEPS: dict[str, str | None] = {
    "manager_conversation": None,
    "jti": "jti",
    "career_visit": "career_visit",
    "attendance": None,
    "speech": "speech",
}


@dataclass(frozen=True)
class Moment:
    """When something is due: ``anchor`` (``day``, ``each_day``, ``certified``, ``host``),
    the teaching day for ``day``, and an offset in calendar days."""

    anchor: str
    day: int = 0
    offset: int = 0

    def __str__(self) -> str:
        if self.anchor == "host":
            return "host"
        sign = "+" if self.offset >= 0 else "-"
        tail = f"{sign}{abs(self.offset)}" if self.offset else ""
        if self.anchor == "certified":
            return f"certified{sign}{abs(self.offset)}"
        head = "D*" if self.anchor == "each_day" else f"D{self.day}"
        return head + tail


_MOMENT = re.compile(
    r"^(?:D(?P<day>[1-9]\d*|\*)|(?P<certified>certified))(?P<offset>[+-]\d{1,3})?$"
)


def parse_moment(text: str) -> Moment:
    """``D1-14``, ``D3``, ``D*-1`` (each teaching day), ``certified+30`` or ``host``; raise
    ``ValueError`` saying what is wrong."""
    if text == "host":
        return Moment("host")
    match = _MOMENT.match(text.strip())
    if match is None:
        raise ValueError(
            f"'{text}' is not a moment; write D<day>-<days>, D<day>+<days>, D*-<days> "
            "(each day) or certified+<days>"
        )
    offset = int(match["offset"] or 0)
    if match["certified"]:
        return Moment("certified", 0, offset)
    if match["day"] == "*":
        return Moment("each_day", 0, offset)
    return Moment("day", int(match["day"]), offset)


@dataclass(frozen=True)
class RuleSetting:
    """One timed rule as the file sets it: when it is due, until when it still applies, and
    whether it is on."""

    name: str
    at: Moment
    enabled: bool = True
    expires: Moment | None = None


@dataclass(frozen=True)
class Definition:
    """One version of the programme, as data."""

    version: str
    days: tuple[tuple[str, str], ...]
    steps: frozenset[str]
    rules: tuple[RuleSetting, ...]
    obligations: tuple[tuple[str, Moment, str, str], ...]
    labels: tuple[tuple[str, str, str], ...] = ()
    career_visit_before_day: int = 4
    jti_window_days: int = 14
    send_hour: int = 9
    max_absences: int = 0
    templates: tuple[tuple[str, str], ...] = ()
    closures: frozenset[date] = frozenset()

    @property
    def day_count(self) -> int:
        return len(self.days)

    def has(self, step: str) -> bool:
        return step in self.steps

    def rule(self, name: str) -> RuleSetting | None:
        return next((rule for rule in self.rules if rule.name == name), None)

    def label(self, state: str) -> tuple[str, str] | None:
        return next(((da, en) for name, da, en in self.labels if name == state), None)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file: where (key path, line) and what."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path}: {self.message}" if self.path else f"{where}{self.message}"


class DefinitionError(LpsError):
    """A definition file that cannot be installed; ``problems`` names every reason."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        count = len(problems)
        super().__init__(
            f"{source} is not a valid programme definition ({count} problem"
            f"{'s' if count != 1 else ''}): " + "; ".join(str(p) for p in problems)
        )

    def lines(self) -> list[str]:
        return [f"{self.source}: {problem}" for problem in self.problems]


# -- Where each key stands ---------------------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\"' -]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\"'.-]+)\s*=")


def _locate(text: str) -> dict[str, int]:
    """The line each table and key starts on, by key path (``day[2].theme``).

    tomllib reports no positions and tomlkit keeps none either, so this reads the lines the
    way a person does: table headers, then ``key =`` lines below them. Keys it cannot place
    are reported at their table's line.
    """
    lines: dict[str, int] = {}
    table = ""
    arrays: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            name = header[2].replace('"', "").replace("'", "").replace(" ", "")
            if header[1] == "[[":
                arrays[name] = arrays.get(name, -1) + 1
                name = f"{name}[{arrays[name]}]"
            table = name
            lines.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            name = key[1].replace('"', "").replace("'", "")
            lines.setdefault(f"{table}.{name}" if table else name, number)
    return lines


class _Checker:
    def __init__(self, text: str) -> None:
        self.lines = _locate(text)
        self.problems: list[Problem] = []

    def line(self, path: str) -> int | None:
        probe = path
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return None

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, self.line(path), message))

    def table(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.add(key, "must be a table")
            return {}
        return value

    def integer(self, data: dict[str, Any], key: str, path: str, low: int, high: int) -> int | None:
        value = data.get(key)
        if value is None:
            self.add(path, "is missing")
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.add(path, f"must be a whole number from {low} to {high}, not {value!r}")
            return None
        return value

    def flag(self, data: dict[str, Any], key: str, path: str) -> bool:
        value = data.get(key, True)
        if not isinstance(value, bool):
            self.add(path, f"must be true or false, not {value!r}")
            return True
        return value

    def text_pair(self, value: Any, path: str) -> tuple[str, str] | None:
        if not isinstance(value, dict):
            self.add(path, 'is missing; write { da = "...", en = "..." }')
            return None
        extra = sorted(set(value) - set(_LANGUAGES))
        if extra:
            self.add(path, f"unknown language {', '.join(extra)}; use da and en")
        pair = []
        for language in _LANGUAGES:
            found = value.get(language)
            if not isinstance(found, str) or not found.strip() or len(found) > 200:
                self.add(f"{path}.{language}", "needs a text of 1 to 200 characters")
                return None
            pair.append(found.strip())
        return pair[0], pair[1]

    def unknown(self, data: dict[str, Any], known: tuple[str, ...], prefix: str) -> None:
        for key in data:
            if key not in known:
                self.add(f"{prefix}{key}", f"unknown key; known keys here: {', '.join(known)}")


_TOP_KEYS = (
    "version",
    "send_hour",
    "max_absences",
    "closure_days",
    "day",
    "step",
    "rule",
    "obligation",
    "state",
)


def parse_definition(
    text: str | bytes, *, source: str = "the file", templates: dict[str, str] | None = None
) -> Definition:
    """Parse and check a definition file; raise :class:`DefinitionError` listing every
    problem. ``templates`` are the message texts beside the file, by relative path (they are
    carried along here and checked against the messages by the workflow layer)."""
    if isinstance(text, bytes):
        if len(text) > MAX_FILE_BYTES:
            raise DefinitionError(source, [_too_large(len(text))])
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DefinitionError(
                source, [Problem("", None, f"is not UTF-8 text ({error.reason})")]
            ) from None
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise DefinitionError(source, [_too_large(len(text.encode("utf-8")))])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"line (\d+)", str(error))
        raise DefinitionError(
            source,
            [Problem("", int(found[1]) if found else None, f"is not valid TOML: {error}")],
        ) from None
    check = _Checker(text)
    definition = _read(data, check, templates or {})
    if check.problems or definition is None:
        raise DefinitionError(source, check.problems)
    return definition


def _too_large(size: int) -> Problem:
    return Problem(
        "", None, f"is {size} bytes; a definition file is at most {MAX_FILE_BYTES} bytes"
    )


def _read(data: dict[str, Any], check: _Checker, templates: dict[str, str]) -> Definition | None:
    check.unknown(data, _TOP_KEYS, "")
    version = data.get("version")
    if not isinstance(version, str) or not _VERSION.match(version):
        check.add(
            "version",
            'is missing or malformed; write a name and a number, e.g. "leder-paa-spring/2"'
            if version is None or not isinstance(version, str)
            else f"'{version}' is malformed; write a name and a number, e.g. leder-paa-spring/2",
        )
    send_hour = check.integer(data, "send_hour", "send_hour", 6, 20)
    max_absences = check.integer(data, "max_absences", "max_absences", 0, MAX_DAYS)

    raw_days = data.get("day")
    days: list[tuple[str, str]] = []
    if not isinstance(raw_days, list) or not all(isinstance(d, dict) for d in raw_days):
        check.add("day", "is missing; write one [[day]] table per teaching day")
    else:
        if not MIN_DAYS <= len(raw_days) <= MAX_DAYS:
            check.add(
                "day", f"the programme has {len(raw_days)} days; it needs {MIN_DAYS} to {MAX_DAYS}"
            )
        for index, raw in enumerate(raw_days):
            check.unknown(raw, ("theme",), f"day[{index}].")
            pair = check.text_pair(raw.get("theme"), f"day[{index}].theme")
            if pair is not None:
                days.append(pair)
    day_count = len(raw_days) if isinstance(raw_days, list) else 0

    steps_table = check.table(data, "step")
    check.unknown(steps_table, OPTIONAL_STEPS, "step.")
    steps: set[str] = set()
    visit_before = 4
    jti_window = 14
    for step in OPTIONAL_STEPS:
        raw = steps_table.get(step)
        path = f"step.{step}"
        if not isinstance(raw, dict):
            check.add(path, "is missing; write [" + path + "] with enabled = true or false")
            continue
        extra = {"jti": ("window_days",), "career_visit": ("before_day",)}.get(step, ())
        check.unknown(raw, ("enabled", *extra), f"{path}.")
        if check.flag(raw, "enabled", f"{path}.enabled"):
            steps.add(step)
        if step == "jti" and "window_days" in raw:
            jti_window = check.integer(raw, "window_days", f"{path}.window_days", 1, 60) or 14
        if step == "career_visit" and "before_day" in raw:
            high = max(day_count, 2)
            visit_before = (
                check.integer(raw, "before_day", f"{path}.before_day", 2, high) or visit_before
            )
    if "career_visit" in steps and day_count and not 2 <= visit_before <= day_count:
        check.add("step.career_visit.before_day", f"day {visit_before} is outside the course")

    rules = _read_rules(check.table(data, "rule"), check, steps, day_count)
    obligations = _read_obligations(check.table(data, "obligation"), check, steps, day_count)
    labels = _read_labels(check.table(data, "state"), check)
    closures = _read_closures(data.get("closure_days", []), check)
    if check.problems or not isinstance(version, str):
        return None
    assert send_hour is not None and max_absences is not None
    return Definition(
        version=version,
        days=tuple(days),
        steps=frozenset(steps),
        rules=rules,
        obligations=obligations,
        labels=labels,
        career_visit_before_day=visit_before,
        jti_window_days=jti_window,
        send_hour=send_hour,
        max_absences=max_absences,
        templates=tuple(sorted(templates.items())),
        closures=closures,
    )


def _read_closures(raw: Any, check: _Checker) -> frozenset[date]:
    if not isinstance(raw, list):
        check.add("closure_days", "must be a list of dates and [first, last] date pairs")
        return frozenset()
    days: set[date] = set()
    for index, item in enumerate(raw):
        path = f"closure_days[{index}]"
        if isinstance(item, date) and not isinstance(item, datetime):
            days.add(item)
        elif (
            isinstance(item, list)
            and len(item) == 2
            and all(isinstance(d, date) and not isinstance(d, datetime) for d in item)
            and 0 <= (item[1] - item[0]).days <= 31
        ):
            days.update(item[0] + timedelta(days=n) for n in range((item[1] - item[0]).days + 1))
        else:
            check.add(
                path,
                f"{item!r} is neither a date (2027-12-24) nor a pair of dates "
                "[2027-12-24, 2027-12-31] at most a month apart",
            )
    if len(days) > 366:
        check.add("closure_days", "closes more than a year of days")
    return frozenset(days)


def _moment(
    check: _Checker, value: Any, path: str, day_count: int, anchors: tuple[str, ...]
) -> Moment | None:
    if not isinstance(value, str):
        check.add(path, 'is missing; write a moment such as "D1-14" or "certified+30"')
        return None
    try:
        moment = parse_moment(value)
    except ValueError as error:
        check.add(path, str(error))
        return None
    if moment.anchor not in anchors:
        wanted = {
            "day": "a teaching day (D<n>...)",
            "each_day": "each teaching day (D*...)",
            "certified": "the certification date (certified+<days>)",
            "host": "the host's registration (host)",
        }
        check.add(path, f"'{value}' must be measured from {wanted[anchors[0]]}")
        return None
    if moment.anchor == "day" and day_count and moment.day > day_count:
        check.add(
            path,
            f"'{value}' names teaching day {moment.day}, but the programme has {day_count} days",
        )
        return None
    if moment.anchor == "certified" and moment.offset < 0:
        check.add(path, f"'{value}' is before certification; a follow-up comes after it")
        return None
    if abs(moment.offset) > 120:
        check.add(path, f"'{value}' is more than 120 days from its anchor")
        return None
    return moment


def _read_rules(
    table: dict[str, Any], check: _Checker, steps: set[str], day_count: int
) -> tuple[RuleSetting, ...]:
    check.unknown(table, tuple(RULE_CATALOGUE), "rule.")
    settings: list[RuleSetting] = []
    for name, spec in RULE_CATALOGUE.items():
        path = f"rule.{name}"
        raw = table.get(name)
        if spec.step is not None and spec.step not in steps:
            continue
        if not isinstance(raw, dict):
            check.add(path, f"is missing; write [{path}] with at = ... and enabled = ...")
            continue
        check.unknown(raw, ("at", "enabled", "expires"), f"{path}.")
        anchors = (spec.anchor,)
        at = _moment(check, raw.get("at"), f"{path}.at", day_count, anchors)
        expires = None
        if "expires" in raw:
            expiry_anchors = ("certified",) if spec.anchor == "certified" else ("day",)
            expires = _moment(check, raw["expires"], f"{path}.expires", day_count, expiry_anchors)
        enabled = check.flag(raw, "enabled", f"{path}.enabled")
        if at is not None:
            settings.append(RuleSetting(name, at, enabled, expires))
    return tuple(settings)


def _read_obligations(
    table: dict[str, Any], check: _Checker, steps: set[str], day_count: int
) -> tuple[tuple[str, Moment, str, str], ...]:
    check.unknown(table, tuple(_OBLIGATION_STEPS), "obligation.")
    found = []
    for name, step in _OBLIGATION_STEPS.items():
        if step is not None and step not in steps:
            continue
        path = f"obligation.{name}"
        raw = table.get(name)
        if not isinstance(raw, dict):
            check.add(path, f"is missing; write [{path}] with due = ... and label = ...")
            continue
        check.unknown(raw, ("due", "label"), f"{path}.")
        due = _moment(check, raw.get("due"), f"{path}.due", day_count, ("day",))
        label = check.text_pair(raw.get("label"), f"{path}.label")
        if due is not None and label is not None:
            found.append((name, due, *label))
    return tuple(found)


def _read_labels(table: dict[str, Any], check: _Checker) -> tuple[tuple[str, str, str], ...]:
    labels = []
    for name, raw in table.items():
        path = f"state.{name}"
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", name):
            check.add(path, "is not a state name")
            continue
        if not isinstance(raw, dict):
            check.add(path, "must be a table with label = { da = ..., en = ... }")
            continue
        check.unknown(raw, ("label",), f"{path}.")
        pair = check.text_pair(raw.get("label"), f"{path}.label")
        if pair is not None:
            labels.append((name, *pair))
    return tuple(labels)


# -- Writing a definition back ----------------------------------------------------------------


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _pair(da: str, en: str) -> str:
    return f"{{ da = {_string(da)}, en = {_string(en)} }}"


def render_toml(definition: Definition) -> str:
    """The definition as a complete, commented file that parses back to the same definition
    (its message templates are files beside it, not part of it)."""
    out = [
        "# A programme definition for lps. Copy it, change it, give it a new version, then",
        "#   lps programme check FILE    and    lps programme install FILE",
        "# Message templates that override the built-in ones go in a folder 'templates' beside",
        "# this file: templates/<da|en>/<rule>.subject.txt, <rule>.txt and <rule>.html.",
        "",
        "# Name and number; a version, once installed, never changes.",
        f"version = {_string(definition.version)}",
        "# Timed messages go out at this hour, Copenhagen time, unless a cohort says otherwise.",
        f"send_hour = {definition.send_hour}",
        "# Absent days a participant may have and still be certified (a cohort may say more).",
        f"max_absences = {definition.max_absences}",
        "# Days the programme is closed beside weekends and Danish public holidays: a timed",
        "# message due on one goes out on the working day before (or after, for a follow-up).",
        "# Dates and [first, last] pairs, e.g. [2027-12-24, 2027-12-31].",
        f"closure_days = [{', '.join(d.isoformat() for d in sorted(definition.closures))}]",
        "",
        f"# One [[day]] per teaching day, {MIN_DAYS} to {MAX_DAYS} of them, in order; D1 is the",
        "# first. A cohort gives each day its date.",
    ]
    for number, (da, en) in enumerate(definition.days, start=1):
        out += ["", f"[[day]]  # D{number}", f"theme = {_pair(da, en)}"]
    out += [
        "",
        "# Optional steps. A step that is off takes its states, guards, obligations, rules and",
        "# texts with it.",
    ]
    step_notes = {
        "jti": "the JTI questionnaire and the articles before day 1",
        "career_visit": "the career visit with a host in the participant's own municipality",
        "speech": "the leadership speech on the last day",
        "closing_conversation": "the closing conversation with the manager after certification",
    }
    for step in OPTIONAL_STEPS:
        out += ["", f"[step.{step}]  # {step_notes[step]}"]
        out.append(f"enabled = {'true' if definition.has(step) else 'false'}")
        if step == "jti":
            out.append("# The JTI and articles may be sent this many days before day 1.")
            out.append(f"window_days = {definition.jti_window_days}")
        if step == "career_visit":
            out.append("# The visit is held before this teaching day (between the two days).")
            out.append(f"before_day = {definition.career_visit_before_day}")
    out += [
        "",
        "# Every timed rule, by name. at: D<n>-<days> (before teaching day n: a weekend moves it",
        "# to the Friday before), D<n>+<days>, D*-<days> (before each day), certified+<days>",
        "# (a follow-up: a weekend moves it to the Monday after), host (when one is registered).",
        "# expires: from then on the rule no longer applies and a missed message is dropped.",
    ]
    for rule in definition.rules:
        spec = RULE_CATALOGUE[rule.name]
        out += ["", f"[rule.{rule.name}]  # {spec.about}", f"at = {_string(str(rule.at))}"]
        if rule.expires is not None:
            out.append(f"expires = {_string(str(rule.expires))}")
        out.append(f"enabled = {'true' if rule.enabled else 'false'}")
    out += [
        "",
        "# Obligations: certify needs each met or waived; due: the day it is chased by.",
    ]
    for name, due, da, en in definition.obligations:
        out += [
            "",
            f"[obligation.{name}]",
            f"due = {_string(str(due))}",
            f"label = {_pair(da, en)}",
        ]
    if definition.labels:
        out += ["", "# The states' labels, Danish and English, as people see them."]
        for name, da, en in definition.labels:
            out += ["", f"[state.{name}]", f"label = {_pair(da, en)}"]
    return "\n".join(out) + "\n"


def definition_data(definition: Definition) -> dict[str, Any]:
    """The definition as plain data (``lps programme show --format json``)."""
    return {
        "version": definition.version,
        "send_hour": definition.send_hour,
        "max_absences": definition.max_absences,
        "days": [
            {"number": n, "theme": {"da": da, "en": en}}
            for n, (da, en) in enumerate(definition.days, start=1)
        ],
        "steps": {step: definition.has(step) for step in OPTIONAL_STEPS},
        "jti_window_days": definition.jti_window_days,
        "closure_days": [d.isoformat() for d in sorted(definition.closures)],
        "career_visit_before_day": definition.career_visit_before_day,
        "rules": {
            rule.name: {
                "at": str(rule.at),
                "expires": str(rule.expires) if rule.expires else None,
                "enabled": rule.enabled,
            }
            for rule in definition.rules
        },
        "obligations": {
            name: {"due": str(due), "label": {"da": da, "en": en}}
            for name, due, da, en in definition.obligations
        },
        "states": {name: {"da": da, "en": en} for name, da, en in definition.labels},
        "templates": [path for path, _ in definition.templates],
    }


BUILTIN_TOML: str = (
    resources.files("states").joinpath("definitions/leder-paa-spring-1.toml").read_text("utf-8")
)


def builtin_definition() -> Definition:
    """The built-in programme, read from the definition file that ships with lps."""
    return _BUILTIN


_BUILTIN = parse_definition(BUILTIN_TOML, source="the built-in definition")
