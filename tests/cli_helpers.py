"""What the CLI tests (test_cli_*.py) share: adding cohorts and participants through ``lps``
and reading its JSON."""

from __future__ import annotations

import json
from typing import Any

from click.testing import Result
from conftest import Cli
from helpers import ok

DAYS_ARG = "2027-03-01,2027-03-15,2027-03-29,2027-04-12,2027-04-26"

LATER_ARG = "2027-05-31,2027-06-14,2027-06-28,2027-07-12,2027-07-26"


def errors(result: Result) -> list[str]:
    return result.stderr.splitlines()


def add_cohort(lps: Cli, code: str = "H1", days: str = DAYS_ARG, *extra: str) -> None:
    ok(
        lps,
        "cohort",
        "create",
        code,
        "--name",
        f"Hold {code}",
        "--days",
        days,
        "--allow-holiday",
        *extra,
    )


def add(lps: Cli, email: str = "soren@example.dk", cohort: str = "H1", *extra: str) -> int:
    result = ok(
        lps,
        "participant",
        "add",
        cohort,
        "--name",
        "Søren Ærø",
        "--email",
        email,
        "--municipality",
        "Odense",
        "--manager-name",
        "Mette Leder",
        "--manager-email",
        "mette@example.dk",
        "--json",
        *extra,
    )
    return int(json.loads(result.stdout)["id"])


def history(lps: Cli, ref: str = "1") -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(ok(lps, "history", ref, "--format", "json").stdout)
    return entries


def show(lps: Cli, ref: str = "1") -> dict[str, Any]:
    view: dict[str, Any] = json.loads(ok(lps, "participant", "show", ref, "--json").stdout)
    return view
