"""The Python API page's examples run, in order, in a fresh folder: the page stays true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "api.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


def test_the_page_has_examples() -> None:
    assert len(BLOCKS) >= 5


def test_the_examples_run_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "api_docs"}
    for number, block in enumerate(BLOCKS, start=1):
        code = compile(block, f"{PAGE.name} example {number}", "exec")
        exec(code, namespace)
    namespace["database"].dispose()  # type: ignore[attr-defined]
