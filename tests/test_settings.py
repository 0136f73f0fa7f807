"""Settings are read once, at the face, from the variables the README lists."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest

from workflow.errors import InvalidInput
from workflow.settings import DEFAULT_CERTIFICATE_SECRET, VARIABLES, Settings

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_configuration_table_lists_every_variable() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("## Configuration", 1)[1].split("\n\n", 2)[1]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert rows == [variable.row() for variable in VARIABLES]


def test_every_variable_the_product_reads_is_a_setting() -> None:
    named = {variable.name for variable in VARIABLES}
    seen: set[str] = set()
    for package in ("cli", "workflow", "states", "notifications", "web"):
        for path in (ROOT / package).rglob("*.py") if (ROOT / package).is_dir() else []:
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                value = node.value if isinstance(node, ast.Constant) else None
                if isinstance(value, str) and value.startswith("LPS_") and value.isupper():
                    seen.add(value)
    assert seen <= named, f"read but not in the README's table: {sorted(seen - named)}"


def test_nothing_below_the_faces_reads_the_environment() -> None:
    readers = []
    for package in ("workflow", "states", "notifications"):
        for path in (ROOT / package).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source)
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr in ("environ", "getenv")
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "os"
                ):
                    readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert readers == []


def test_settings_from_an_environment() -> None:
    settings = Settings.from_env(
        {
            "LPS_DATABASE_URL": "sqlite:///x.db",
            "LPS_NOW": "2027-03-01T09:00",
            "LPS_MAIL_DIR": "post",
            "LPS_MAIL_FROM": "kursus@odense.dk",
            "LPS_CERTIFICATE_SECRET": "hemmelig",
        }
    )
    assert settings.database_url == "sqlite:///x.db"
    assert settings.clock().now() == datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
    assert settings.mail_dir == Path("post")
    assert settings.mail_from == "kursus@odense.dk"
    assert settings.certificate_secret == "hemmelig"
    assert Settings.from_env({}, database_url="sqlite:///y.db").database_url == "sqlite:///y.db"
    assert Settings.from_env({}).certificate_secret == DEFAULT_CERTIFICATE_SECRET


def test_a_malformed_clock_names_its_variable() -> None:
    with pytest.raises(InvalidInput, match="LPS_NOW must be an ISO date-time"):
        Settings.from_env({"LPS_NOW": "tomorrow"})


def test_an_invalid_smtp_url_names_its_variable() -> None:
    with pytest.raises(InvalidInput, match="LPS_SMTP_URL must start with smtp://"):
        Settings.from_env({"LPS_SMTP_URL": "http://mail"}).channel()
