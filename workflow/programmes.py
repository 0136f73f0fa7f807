"""Programme versions: reading a definition file and the message templates beside it, checking
both, and the programmes a database knows (the built-in one and those installed)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from notifications.render import LANGUAGES, override_problems
from states.definition import (
    MAX_FILE_BYTES,
    OPTIONAL_STEPS,
    RULE_CATALOGUE,
    Definition,
    DefinitionError,
    Moment,
    Problem,
    RuleSetting,
    definition_data,
    parse_definition,
    render_toml,
)
from states.errors import LpsError
from states.programme import BUILTIN, Programme, compose
from workflow.models import COHORTS, PARTICIPANTS, PROGRAMMES

__all__ = [
    "TEMPLATE_FOLDER",
    "DefinitionChanged",
    "Installed",
    "ProgrammeView",
    "UnknownProgramme",
    "check_file",
    "default_version",
    "diff",
    "digest_of",
    "install",
    "known_versions",
    "listing",
    "load_installed",
    "programme_of",
    "programme_text",
    "read_definition",
    "register",
    "resolve",
    "set_default",
]


class UnknownProgramme(LpsError):
    """A version no cohort can be on here: neither built in nor installed."""


class DefinitionChanged(LpsError):
    """A different file under a version already installed: versions never change."""


# Every programme this process has met, by version. Versions never change once installed, so
# a programme read from one database holds for every later look-up; a database opened later
# whose version of the same name differs replaces it (see :func:`register`).
_KNOWN: dict[str, Programme] = {BUILTIN.version: BUILTIN}
_DIGESTS: dict[str, str] = {}


def register(programme: Programme) -> Programme:
    """Make ``programme`` known under its version; the one already known is kept when it is
    the same definition, so that its Machine is shared."""
    known = _KNOWN.get(programme.version)
    if known is not None and known.definition == programme.definition:
        return known
    _KNOWN[programme.version] = programme
    return programme


def programme_of(version: str) -> Programme | None:
    """The programme of ``version`` (``None`` for the built-in one); raise
    :class:`UnknownProgramme` for one never installed."""
    if version == BUILTIN.version:
        return None
    found = _KNOWN.get(version)
    if found is None:
        raise UnknownProgramme(f"programme {version} is not installed; see `lps programme list`")
    return found


def known_versions() -> frozenset[str]:
    """The versions this process can run."""
    return frozenset(_KNOWN)


def digest_of(source: str, templates: dict[str, str]) -> str:
    """What identifies a definition: its file and its templates."""
    payload = json.dumps([source, sorted(templates.items())], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# The folder beside a definition file whose templates override the built-in ones.
TEMPLATE_FOLDER = "templates"
_MAX_TEMPLATES = 200


def _templates(folder: Path) -> tuple[dict[str, str], list[Problem]]:
    found: dict[str, str] = {}
    problems: list[Problem] = []
    if not folder.is_dir():
        return found, problems
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if len(files) > _MAX_TEMPLATES:
        return found, [Problem(TEMPLATE_FOLDER, None, f"has {len(files)} files; at most 200")]
    for path in files:
        name = path.relative_to(folder).as_posix()
        where = f"{TEMPLATE_FOLDER}/{name}"
        if path.stat().st_size > MAX_FILE_BYTES:
            problems.append(Problem(where, None, "is too large for a message template"))
            continue
        try:
            source = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            problems.append(Problem(where, None, "is not UTF-8 text"))
            continue
        for message in override_problems(name, source):
            problems.append(Problem(TEMPLATE_FOLDER, None, message))
        found[name] = source
    for name in found:
        language, _, rest = name.partition("/")
        for other in LANGUAGES:
            if other != language and language in LANGUAGES and f"{other}/{rest}" not in found:
                problems.append(
                    Problem(
                        TEMPLATE_FOLDER,
                        None,
                        f"{name} has no {other}/{rest}: every message is written in "
                        f"{' and '.join(LANGUAGES)}",
                    )
                )
    return found, problems


def read_definition(path: Path) -> Definition:
    """Read and check a definition file and the templates beside it; raise
    :class:`DefinitionError` naming every problem. Nothing is written."""
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DefinitionError(
                source,
                [Problem("", None, f"is {size} bytes; a definition is at most {MAX_FILE_BYTES}")],
            )
        raw = path.read_bytes()
    except OSError as error:
        problem = Problem("", None, f"cannot be read ({error.strerror})")
        raise DefinitionError(source, [problem]) from None
    templates, template_problems = _templates(path.parent / TEMPLATE_FOLDER)
    try:
        definition = parse_definition(raw, source=source, templates=templates)
    except DefinitionError as error:
        raise DefinitionError(source, error.problems + template_problems) from None
    if template_problems:
        raise DefinitionError(source, template_problems)
    return definition


def check_file(path: Path) -> Programme:
    """The programme a file describes, checked through; raise :class:`DefinitionError`."""
    return compose(read_definition(path))


def programme_text(programme: Programme | None = None, fmt: str = "toml") -> str:
    """A programme as a definition file (``toml``), as data (``json``) or as a Mermaid
    state diagram (``mermaid``)."""
    from states import diagram

    found = programme or BUILTIN
    if fmt == "toml":
        return render_toml(found.definition)
    if fmt == "json":
        return json.dumps(definition_data(found.definition), ensure_ascii=False, indent=2) + "\n"
    return diagram.mermaid(False, found)


# -- The programmes a database knows ------------------------------------------------------------


@dataclass(frozen=True)
class ProgrammeView:
    """One programme version as ``lps programme list`` shows it."""

    version: str
    default: bool
    participants: int
    cohorts: int
    days: int
    built_in: bool
    installed_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "default": self.default,
            "participants": self.participants,
            "cohorts": self.cohorts,
            "days": self.days,
            "built_in": self.built_in,
            "installed_at": self.installed_at.isoformat() if self.installed_at else None,
        }


@dataclass(frozen=True)
class Installed:
    """What ``lps programme install`` did: ``new`` is false for the identical file again."""

    version: str
    new: bool
    digest: str


def _compose_row(row: Any) -> Programme:
    templates = dict(row.templates or {})
    definition = parse_definition(row.source, source=row.version, templates=templates)
    return compose(definition)


def load_installed(conn: Connection) -> None:
    """Make every programme installed in this database known to the process."""
    for row in conn.execute(select(PROGRAMMES)):
        if _DIGESTS.get(row.version) == row.digest and row.version in _KNOWN:
            continue
        register(_compose_row(row))
        _DIGESTS[row.version] = row.digest


def resolve(conn: Connection, version: str | None) -> Programme:
    """The programme of ``version`` in this database (``None``: the default for new cohorts);
    :class:`UnknownProgramme` names the versions there are."""
    if version is None:
        version = default_version(conn)
    if version == BUILTIN.version:
        return BUILTIN
    row = conn.execute(select(PROGRAMMES).where(PROGRAMMES.c.version == version)).first()
    if row is None:
        versions = [BUILTIN.version, *conn.execute(select(PROGRAMMES.c.version)).scalars()]
        raise UnknownProgramme(
            f"programme {version} is not installed; installed: {', '.join(versions)} "
            "(install one with `lps programme install FILE`)"
        )
    known = _KNOWN.get(version)
    if known is not None and _DIGESTS.get(version) == row.digest:
        return known
    programme = register(_compose_row(row))
    _DIGESTS[version] = row.digest
    return programme


def default_version(conn: Connection) -> str:
    """The version new cohorts run unless they name one."""
    found = conn.execute(
        select(PROGRAMMES.c.version).where(PROGRAMMES.c.is_default.is_(True))
    ).scalar()
    return found or BUILTIN.version


def install(conn: Connection, path: Path, now: datetime, actor: str) -> Installed:
    """Store the definition at ``path`` and its templates; the identical file again changes
    nothing, another file under an installed version is refused."""
    definition = read_definition(path)
    source = path.read_text(encoding="utf-8")
    templates = dict(definition.templates)
    digest = digest_of(source, templates)
    version = definition.version
    if version == BUILTIN.version:
        if definition == BUILTIN.definition:
            return Installed(version, False, digest)
        raise DefinitionChanged(
            f"{version} is the built-in programme and never changes; "
            "give your file a version of its own (e.g. leder-paa-spring/2)"
        )
    row = conn.execute(select(PROGRAMMES).where(PROGRAMMES.c.version == version)).first()
    if row is not None:
        if row.digest == digest:
            return Installed(version, False, digest)
        raise DefinitionChanged(
            f"programme {version} is already installed with a different definition; a version "
            "never changes: give the file a new version (e.g. the next number)"
        )
    conn.execute(
        PROGRAMMES.insert().values(
            version=version,
            digest=digest,
            source=source,
            templates=templates,
            is_default=False,
            installed_at=now,
            installed_by=actor,
        )
    )
    register(compose(definition))
    _DIGESTS[version] = digest
    return Installed(version, True, digest)


def set_default(conn: Connection, version: str) -> str:
    """Make ``version`` the programme of new cohorts."""
    resolve(conn, version)
    conn.execute(update(PROGRAMMES).values(is_default=PROGRAMMES.c.version == version))
    return version


def listing(conn: Connection) -> list[ProgrammeView]:
    """Every version: built in first, then as installed; the default; who is on it."""
    # A participant is on the version their path is on, which a migration that left them
    # blocked makes another than their cohort's.
    cohort_counts: dict[str, int] = {
        version: count
        for version, count in conn.execute(
            select(COHORTS.c.programme, func.count()).group_by(COHORTS.c.programme)
        )
    }
    participant_counts: dict[str, int] = {
        version: count
        for version, count in conn.execute(
            select(PARTICIPANTS.c.definition_version, func.count()).group_by(
                PARTICIPANTS.c.definition_version
            )
        )
    }
    counts = {
        version: (cohort_counts.get(version, 0), participant_counts.get(version, 0))
        for version in cohort_counts.keys() | participant_counts.keys()
    }
    default = default_version(conn)
    views = [
        ProgrammeView(
            BUILTIN.version,
            default == BUILTIN.version,
            counts.get(BUILTIN.version, (0, 0))[1],
            counts.get(BUILTIN.version, (0, 0))[0],
            BUILTIN.definition.day_count,
            True,
            None,
        )
    ]
    for row in conn.execute(select(PROGRAMMES).order_by(PROGRAMMES.c.installed_at)):
        programme = resolve(conn, row.version)
        cohorts, participants = counts.get(row.version, (0, 0))
        views.append(
            ProgrammeView(
                row.version,
                row.is_default,
                participants,
                cohorts,
                programme.definition.day_count,
                False,
                row.installed_at,
            )
        )
    return views


def _texts(programme: Programme) -> dict[str, str]:
    return dict(programme.definition.templates)


def diff(a: Programme, b: Programme) -> list[str]:
    """What differs between two versions, a line each: days, steps, states, rules and their
    moments, obligations, settings and texts."""
    da, db = a.definition, b.definition
    lines: list[str] = []
    for number in range(1, max(da.day_count, db.day_count) + 1):
        old = da.days[number - 1] if number <= da.day_count else None
        new = db.days[number - 1] if number <= db.day_count else None
        if old != new:
            lines.append(f"day D{number}: {_theme(old)} → {_theme(new)}")
    for step in OPTIONAL_STEPS:
        if da.has(step) != db.has(step):
            lines.append(f"step {step}: {_onoff(da.has(step))} → {_onoff(db.has(step))}")
    for name in ("send_hour", "max_absences", "jti_window_days", "career_visit_before_day"):
        if getattr(da, name) != getattr(db, name):
            lines.append(f"{name}: {getattr(da, name)} → {getattr(db, name)}")
    old_states, new_states = a.state_names, b.state_names
    for state in old_states:
        if state not in new_states:
            lines.append(f"state {state}: removed")
    for state in new_states:
        if state not in old_states:
            lines.append(f"state {state}: added")
        elif a.state_by_name[state] != b.state_by_name[state]:
            old_label, new_label = a.state_by_name[state], b.state_by_name[state]
            lines.append(f"state {state}: label {old_label.label_da} → {new_label.label_da}")
    old_rules = {r.name: r for r in da.rules}
    new_rules = {r.name: r for r in db.rules}
    for name in RULE_CATALOGUE:
        old_rule, new_rule = old_rules.get(name), new_rules.get(name)
        if old_rule == new_rule:
            continue
        lines.append(f"rule {name}: {_rule(old_rule)} → {_rule(new_rule)}")
    old_due = {o[0]: o for o in da.obligations}
    new_due = {o[0]: o for o in db.obligations}
    for name in dict.fromkeys([*old_due, *new_due]):
        old_o, new_o = old_due.get(name), new_due.get(name)
        if old_o is not None and new_o is not None and old_o[1] == new_o[1]:
            if old_o != new_o:
                lines.append(f"obligation {name}: label {old_o[2]} → {new_o[2]}")
        elif old_o != new_o:
            lines.append(f"obligation {name}: {_obligation(old_o)} → {_obligation(new_o)}")
    old_texts, new_texts = _texts(a), _texts(b)
    for path in sorted({*old_texts, *new_texts}):
        if old_texts.get(path) != new_texts.get(path):
            what = (
                "added"
                if path not in old_texts
                else "removed"
                if path not in new_texts
                else "changed"
            )
            lines.append(f"text {path}: {what}")
    return lines


def _theme(pair: tuple[str, str] | None) -> str:
    return f'"{pair[0]}"' if pair else "(none)"


def _onoff(on: bool) -> str:
    return "on" if on else "off"


def _rule(rule: RuleSetting | None) -> str:
    if rule is None:
        return "(none)"
    expires = f", expires {rule.expires}" if rule.expires else ""
    return f"{rule.at}{expires}, {_onoff(rule.enabled)}"


def _obligation(found: tuple[str, Moment, str, str] | None) -> str:
    return "(none)" if found is None else f"due {found[1]}"
