"""Render a notification (subject, plain text and HTML) from its Danish or English templates."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

import orjson
from jinja2 import (
    ChoiceLoader,
    DictLoader,
    Environment,
    PackageLoader,
    StrictUndefined,
    TemplateSyntaxError,
    pass_context,
    select_autoescape,
)
from jinja2 import meta as jinja_meta
from jinja2 import nodes as jinja_nodes
from jinja2.runtime import Context
from markupsafe import escape

from notifications.dates import LANGUAGES, check_language, format_date, format_datetime, format_time
from states.rules import ADMIN_MESSAGES, MESSAGE_CONTEXT, PERSONAL_SOURCES

RULES: tuple[str, ...] = (*MESSAGE_CONTEXT, *ADMIN_MESSAGES)

_COMMON_KEYS: tuple[str, ...] = ("participant", "manager", "cohort", "recipient")
_RULE_KEYS: dict[str, tuple[str, ...]] = {
    rule: tuple(dict.fromkeys(part.key for part in parts))
    for rule, parts in MESSAGE_CONTEXT.items()
}
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class Rendered:
    """One rendered message: a one-line subject, a plain-text part and an HTML part."""

    subject: str
    text: str
    html: str


@pass_context
def _date_filter(ctx: Context, value: date) -> str:
    return format_date(value, ctx["language"])


@pass_context
def _datetime_filter(ctx: Context, value: datetime) -> str:
    return format_datetime(value, ctx["language"])


@pass_context
def _time_filter(ctx: Context, value: datetime) -> str:
    return format_time(value, ctx["language"])


def _week_filter(value: date) -> int:
    return value.isocalendar().week


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("notifications", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # Templates ship with the package and do not change while lps runs; without this,
        # every render stats every template file it touches.
        auto_reload=False,
    )
    env.filters["date"] = _date_filter
    env.filters["datetime"] = _datetime_filter
    env.filters["time"] = _time_filter
    env.filters["week"] = _week_filter
    return env


TEMPLATE_PARTS: tuple[str, ...] = ("subject.txt", "txt", "html")
# What every template sees besides its rule's keys (see :func:`render`).
_ALWAYS_SEEN = frozenset({"language", "subject", "contact_email", "days"})


# The fields of the context parts every message has, as ``workflow.messages.queue`` builds
# them; a template that asks for another field would fail when its message is queued.
KNOWN_FIELDS: dict[str, frozenset[str]] = {
    "participant": frozenset({"name", "email", "municipality", "workplace", "language"}),
    "manager": frozenset({"name", "email"}),
    "recipient": frozenset({"role", "name", "email"}),
    "cohort": frozenset(
        {"code", "name", "venue", "admin_email", "jti_link", "articles", "max_absences", "days"}
    ),
}


def _unknown_fields(parsed: jinja_nodes.Template) -> list[str]:
    found = set()
    for node in parsed.find_all((jinja_nodes.Getattr, jinja_nodes.Getitem)):
        base = getattr(node, "node", None)
        if not isinstance(base, jinja_nodes.Name) or base.name not in KNOWN_FIELDS:
            continue
        if isinstance(node, jinja_nodes.Getattr):
            field = node.attr
        elif isinstance(node, jinja_nodes.Getitem) and isinstance(node.arg, jinja_nodes.Const):
            field = node.arg.value
        else:
            continue
        if not isinstance(field, str):
            continue
        if field not in KNOWN_FIELDS[base.name]:
            found.add(f"{base.name}.{field}")
    return sorted(found)


def override_problems(path: str, source: str) -> list[str]:
    """What is wrong with a message template that overrides a built-in one: ``path`` is
    ``<da|en>/<rule>.<subject.txt|txt|html>``; a placeholder the rule's messages do not have is
    refused, as is a template that does not parse."""
    language, _, name = path.partition("/")
    if language not in LANGUAGES or "/" in name:
        return [f"{path}: templates live in da/ or en/"]
    rule, part = next(
        ((name[: -len(p) - 1], p) for p in TEMPLATE_PARTS if name.endswith("." + p)), (name, "")
    )
    if not part:
        return [f"{path}: a template is named <rule>.subject.txt, <rule>.txt or <rule>.html"]
    if rule not in RULES:
        return [f"{path}: unknown message '{rule}'; messages: {', '.join(RULES)}"]
    try:
        parsed = _environment().parse(source)
    except TemplateSyntaxError as error:
        return [f"{path}: line {error.lineno}: {error.message}"]
    known = set(required_keys(rule)) | _ALWAYS_SEEN
    unknown = sorted(jinja_meta.find_undeclared_variables(parsed) - known)
    if unknown:
        return [
            f"{path}: unknown placeholder {', '.join(unknown)}; "
            f"this message knows: {', '.join(sorted(known))}"
        ]
    fields = _unknown_fields(parsed)
    if fields:
        base = fields[0].partition(".")[0]
        return [
            f"{path}: unknown placeholder {', '.join(fields)}; "
            f"{base} has: {', '.join(sorted(KNOWN_FIELDS[base]))}"
        ]
    return []


@cache
def _overridden(overrides: tuple[tuple[str, str], ...]) -> Environment:
    env = _environment().overlay(
        loader=ChoiceLoader([DictLoader(dict(overrides)), _environment().loader])  # type: ignore[list-item]
    )
    return env


def required_keys(rule: str) -> tuple[str, ...]:
    """Return the top-level context keys that ``rule`` needs; raise ``KeyError`` if unknown."""
    if rule in ADMIN_MESSAGES:
        return ADMIN_MESSAGES[rule]
    if rule not in _RULE_KEYS:
        raise KeyError(f"unknown notification rule {rule!r}; known rules: {', '.join(RULES)}")
    return _COMMON_KEYS + _RULE_KEYS[rule]


def _variables(rule: str, language: str, context: Mapping[str, Any]) -> dict[str, Any]:
    missing = [key for key in required_keys(rule) if key not in context]
    if missing:
        raise KeyError(f"context for rule {rule!r} lacks: {', '.join(missing)}")
    variables = dict(context)
    variables["language"] = language
    cohort = context.get("cohort")
    if cohort is not None:
        variables["days"] = sorted(cohort["days"], key=lambda day: day["number"])
        variables["contact_email"] = cohort["admin_email"]
    else:
        variables["contact_email"] = context["recipient"]["email"]
    return variables


def _clean_text(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)) + "\n"


def render(
    rule: str,
    language: str,
    context: Mapping[str, Any],
    overrides: tuple[tuple[str, str], ...] = (),
) -> Rendered:
    """Render ``rule`` in ``language`` ("da" or "en") with ``context``.

    Raises ``KeyError`` for an unknown rule or a missing context key and ``ValueError`` for an
    unknown language. The text part quotes the context verbatim; the HTML part escapes it.
    ``overrides`` are a programme version's own templates, by path (``da/welcome.txt``).
    Templates also see ``language``, ``subject``, ``contact_email`` (the cohort's admin email,
    or the recipient's for ``admin_digest``) and ``days`` (the cohort's days in order).
    """
    check_language(language)
    variables = _variables(rule, language, context)
    env = _overridden(overrides) if overrides else _environment()
    prefix = f"{language}/{rule}"
    subject = " ".join(env.get_template(f"{prefix}.subject.txt").render(variables).split())
    variables["subject"] = subject
    text = _clean_text(env.get_template(f"{prefix}.txt").render(variables))
    html = env.get_template(f"{prefix}.html").render(variables).strip() + "\n"
    return Rendered(subject=subject, text=text, html=html)


# Rules whose messages differ between recipients only in names, addresses and links: these are
# rendered once per shape with placeholders, which makes a sweep of thousands of reminders cheap.
_SHAPED_RULES = frozenset(
    rule
    for rule, parts in MESSAGE_CONTEXT.items()
    if not any(part.source in PERSONAL_SOURCES for part in parts)
)
_PERSONAL_FIELDS: tuple[tuple[str | None, str], ...] = (
    ("participant", "name"),
    ("participant", "email"),
    ("participant", "municipality"),
    ("participant", "workplace"),
    ("manager", "name"),
    ("manager", "email"),
    ("recipient", "name"),
    ("recipient", "email"),
    ("host", "name"),
    ("host", "email"),
    ("host", "municipality"),
    (None, "jti_link"),
    (None, "self_service_link"),
    (None, "overview_link"),
)
_SHAPES: dict[bytes, _Shape] = {}
_SHAPES_LIMIT = 4096


_ENCODED: dict[int, tuple[Any, bytes]] = {}


_KEY_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _json_key(value: Any) -> bytes:
    """``value`` as JSON with sorted keys: a cache key, so the same value gives the same bytes.
    orjson makes it in a tenth of json's time; json takes what orjson refuses (integers
    beyond 64 bits)."""
    try:
        return orjson.dumps(value, default=str, option=_KEY_OPTIONS)
    except TypeError:
        return json.dumps(value, sort_keys=True, default=str).encode("utf-8")


def _encoded(value: Any) -> bytes:
    """``value`` as JSON, remembered for the object itself: every participant of a cohort
    shares one cohort context, the largest part of a message's shape."""
    cached = _ENCODED.get(id(value))
    if cached is not None and cached[0] is value:
        return cached[1]
    if len(_ENCODED) >= _SHAPES_LIMIT:
        _ENCODED.clear()
    encoded = _json_key(value)
    _ENCODED[id(value)] = (value, encoded)
    return encoded


def render_shaped(
    rule: str,
    language: str,
    context: Mapping[str, Any],
    overrides: tuple[tuple[str, str], ...] = (),
) -> Rendered:
    """The same result as :func:`render`, computed once per message shape.

    Personal values are swapped for private-use placeholders, the placeholder message is
    rendered (or taken from the cache), and the values are put back: verbatim in the text,
    escaped in the HTML. Values that rendering would reshape (line breaks, surrounding
    spaces) fall back to a direct render.
    """
    if rule not in _SHAPED_RULES or overrides:
        return render(rule, language, context, overrides)
    shaped: dict[str, Any] = dict(context)
    values: dict[str, str] = {}
    for index, (outer, key) in enumerate(_PERSONAL_FIELDS):
        found = shaped if outer is None else shaped.get(outer)
        if not isinstance(found, dict | Mapping) or not found.get(key):
            continue
        value = found[key]
        if not isinstance(value, str) or value != " ".join(value.split()):
            return render(rule, language, context)
        token = f"\ue000{index}\ue001"
        container: dict[str, Any] = dict(found) if outer is not None else shaped
        if outer is not None:
            shaped[outer] = container
        container[key] = token
        values[token] = value
    cohort = shaped.pop("cohort", None)
    shape_key = _json_key([rule, language, shaped]) + _encoded(cohort)
    if cohort is not None:
        shaped["cohort"] = cohort
    template = _SHAPES.get(shape_key)
    if template is None:
        template = _Shape.of(render(rule, language, shaped))
        if len(_SHAPES) >= _SHAPES_LIMIT:
            _SHAPES.clear()
        _SHAPES[shape_key] = template
    return template.fill(values)


_TOKEN = re.compile("(\ue000\\d+\ue001)")
_HTML_SPECIAL = re.compile("[<>&'\"]")


@dataclass(frozen=True)
class _Shape:
    """A rendered message cut at its placeholders: literal text at even positions, tokens at
    odd ones, so filling it in is one join per part."""

    subject: tuple[str, ...]
    text: tuple[str, ...]
    html: tuple[str, ...]

    @classmethod
    def of(cls, rendered: Rendered) -> _Shape:
        return cls(
            tuple(_TOKEN.split(rendered.subject)),
            tuple(_TOKEN.split(rendered.text)),
            tuple(_TOKEN.split(rendered.html)),
        )

    def fill(self, values: Mapping[str, str]) -> Rendered:
        escaped = {
            token: str(escape(value)) if _HTML_SPECIAL.search(value) else value
            for token, value in values.items()
        }
        return Rendered(
            subject=_joined(self.subject, values),
            text=_joined(self.text, values),
            html=_joined(self.html, escaped),
        )


def _joined(pieces: tuple[str, ...], values: Mapping[str, str]) -> str:
    if len(pieces) == 1:
        return pieces[0]
    parts = list(pieces)
    for index in range(1, len(parts), 2):
        parts[index] = values[parts[index]]
    return "".join(parts)


__all__ = [
    "LANGUAGES",
    "RULES",
    "TEMPLATE_PARTS",
    "Rendered",
    "override_problems",
    "render",
    "render_shaped",
    "required_keys",
]
