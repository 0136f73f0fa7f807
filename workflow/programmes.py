"""Programme versions: reading a definition file and the message templates beside it, checking
both, and the programmes a database knows (the built-in one and those installed)."""

from __future__ import annotations

from pathlib import Path

from notifications.render import LANGUAGES, override_problems
from states.definition import (
    MAX_FILE_BYTES,
    Definition,
    DefinitionError,
    Problem,
    definition_data,
    parse_definition,
    render_toml,
)
from states.programme import BUILTIN, Programme, compose

__all__ = [
    "TEMPLATE_FOLDER",
    "check_file",
    "programme_text",
    "read_definition",
]

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
    import json

    from states import diagram

    found = programme or BUILTIN
    if fmt == "toml":
        return render_toml(found.definition)
    if fmt == "json":
        return json.dumps(definition_data(found.definition), ensure_ascii=False, indent=2) + "\n"
    return diagram.mermaid(False)
