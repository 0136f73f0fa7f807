"""The arrows of the house: cli -> workflow -> states, workflow -> notifications -> states;
web -> workflow, and cli -> web only where `lps serve` starts it; nothing imports cli;
states imports none of the others; no import cycles; no module takes another module's
private name. Each failure names the offending import."""

from __future__ import annotations

import ast
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("states", "workflow", "notifications", "cli", "web")
# Which packages each package may import. Migrations are alembic's scripts, not the house.
ALLOWED: dict[str, frozenset[str]] = {
    "states": frozenset(),
    "notifications": frozenset({"states"}),
    "workflow": frozenset({"states", "notifications"}),
    # `lps serve` starts the web face; no other command reaches it.
    "cli": frozenset({"workflow", "web"}),
    "web": frozenset({"workflow"}),
}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module
    names: tuple[str, ...]  # the names taken from it (from-imports)
    where: str  # path:line

    def __str__(self) -> str:
        taken = f" ({', '.join(self.names)})" if self.names else ""
        return f"{self.where}: {self.source} imports {self.target}{taken}"


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        folder = ROOT / package
        if not folder.is_dir():
            continue
        for path in folder.rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports() -> list[Import]:
    """Every import between the house's modules, wherever it stands in a file (inside
    functions and ``TYPE_CHECKING`` blocks too: those are arrows all the same)."""
    found: list[Import] = []
    for name, path in MODULES.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in PACKAGES:
                        found.append(Import(name, alias.name, (), where))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                if base.split(".")[0] not in PACKAGES:
                    continue
                names = tuple(alias.name for alias in node.names)
                submodules = [f"{base}.{n}" for n in names if f"{base}.{n}" in MODULES]
                taken = tuple(n for n in names if f"{base}.{n}" not in MODULES)
                if taken or not submodules:
                    found.append(Import(name, base, taken, where))
                found += [Import(name, module, (), where) for module in submodules]
    return found


IMPORTS = _imports()


def _package(module: str) -> str:
    return module.split(".")[0]


def test_each_package_imports_only_what_its_arrows_allow() -> None:
    wrong = [
        str(i)
        for i in IMPORTS
        if _package(i.target) != _package(i.source)
        and _package(i.target) not in ALLOWED[_package(i.source)]
    ]
    assert wrong == [], "imports against the arrows:\n" + "\n".join(wrong)


def test_only_lps_serve_reaches_the_web_face() -> None:
    reaching = sorted(
        {
            i.where.split(":")[0]
            for i in IMPORTS
            if i.source.startswith("cli") and i.target.startswith("web")
        }
    )
    assert reaching == ["cli/serve.py"]


def test_no_module_takes_another_modules_private_name() -> None:
    wrong = [
        str(i)
        for i in IMPORTS
        if i.target != i.source
        and any(n.startswith("_") and not n.startswith("__") for n in i.names)
    ]
    assert wrong == [], "private names imported:\n" + "\n".join(wrong)


def test_there_is_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    lines: dict[tuple[str, str], str] = {}
    for i in IMPORTS:
        if i.target in MODULES and i.target != i.source and not i.target.startswith(i.source + "."):
            graph[i.source].add(i.target)
            lines.setdefault((i.source, i.target), str(i))
    cycles: list[str] = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(graph[module]):
            if target in path:
                loop = [*path[path.index(target) :], target]
                cycles.append("\n  ".join(lines[(a, b)] for a, b in itertools.pairwise(loop)))
            elif target not in done:
                visit(target, [*path, target])
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    assert cycles == [], "import cycles:\n  " + "\n\n  ".join(dict.fromkeys(cycles))


@pytest.mark.parametrize(
    ("source", "text", "expected"),
    [
        (
            "states/x.py",
            "from workflow.engine import Workflow\n",
            "imports workflow.engine (Workflow)",
        ),
        ("workflow/x.py", "from cli.app import App\n", "imports cli.app (App)"),
    ],
)
def test_a_wrong_arrow_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, text: str, expected: str
) -> None:
    # The checker itself, on a house of two files, names the offending import and its line.
    for package in ("states", "workflow", "cli"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "workflow" / "engine.py").write_text("class Workflow: ...\n")
    (tmp_path / "cli" / "app.py").write_text("class App: ...\n")
    (tmp_path / source).write_text(text)
    checker = sys.modules[__name__]
    monkeypatch.setattr(checker, "ROOT", tmp_path)
    monkeypatch.setattr(checker, "MODULES", checker._modules())
    monkeypatch.setattr(checker, "IMPORTS", checker._imports())
    with pytest.raises(AssertionError) as failed:
        checker.test_each_package_imports_only_what_its_arrows_allow()
    assert f"{source}:1: {source[:-3].replace('/', '.')} {expected}" in str(failed.value)


# The faces parse, call the engine and render: the database and the state machine are
# below them, reached only through workflow.
FACE_FORBIDDEN = ("sqlalchemy", "transitions", "alembic")


def test_the_faces_hold_no_sql_and_no_state_machine() -> None:
    offending = []
    for name, path in MODULES.items():
        if name.split(".")[0] not in ("cli", "web"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for module in modules:
                if module.split(".")[0] in FACE_FORBIDDEN:
                    offending.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports {module}")
    assert not offending, "\n".join(offending)
