"""A helper that more than one test module needs lives once, in tests/helpers.py or as a
fixture in tests/conftest.py."""

from __future__ import annotations

import ast
import copy
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# The same text, but each reads its own module's credentials: the two servers differ.
SAME_TEXT_OTHER_MEANING = {"auth_sink"}


def _body(function: ast.FunctionDef) -> str:
    anonymous = copy.deepcopy(function)
    anonymous.name = "_"
    first = anonymous.body[0]
    if (
        len(anonymous.body) > 1
        and isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        anonymous.body = anonymous.body[1:]
    return ast.unparse(anonymous)


def test_no_helper_is_written_twice() -> None:
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(TESTS.glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (
                isinstance(node, ast.FunctionDef)
                and not node.name.startswith("test_")
                and node.name not in SAME_TEXT_OTHER_MEANING
            ):
                found[_body(node)].append(f"{path.name}:{node.name}")
    twice = [places for places in found.values() if len(places) > 1]
    assert twice == [], "move these into tests/helpers.py (or a conftest.py fixture)"
