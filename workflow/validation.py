"""Validation of outside input: every value a person, a cohort or a link can have, checked the
same way whichever face it came through."""

from __future__ import annotations

import itertools
import re
from datetime import date

from workflow.clock import date_problem
from workflow.errors import InvalidInput
from workflow.records import CohortRow

EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
LANGUAGES = ("da", "en")
HOST_ROLES = ("leader", "hr")


def valid_email(value: str) -> bool:
    return bool(EMAIL.match(value.strip()))


def check_days(days: list[date]) -> None:
    if len(days) != 5:
        raise InvalidInput(f"a cohort has five teaching days; got {len(days)}")
    for day in days:
        problem = date_problem(day, "teaching day")
        if problem:
            raise InvalidInput(problem)
    for earlier, later in itertools.pairwise(days):
        if later <= earlier:
            raise InvalidInput(
                f"teaching days must be five strictly increasing dates; "
                f"{later.isoformat()} does not come after {earlier.isoformat()}"
            )


FIELD_LIMITS = {
    "code": 64,
    "name": 200,
    "email": 320,
    "municipality": 100,
    "workplace": 200,
    "manager_name": 200,
    "manager_email": 320,
    "venue": 300,
    "admin_email": 320,
    "jti_link": 1000,
}


def too_long(**values: str | None) -> list[str]:
    """A line for each value longer than its column allows."""
    return [
        f"{field.replace('_', ' ')} is {len(value)} characters; at most "
        f"{FIELD_LIMITS[field]} are allowed"
        for field, value in values.items()
        if value is not None and len(value.strip()) > FIELD_LIMITS[field]
    ]


def enrolment_problems(
    cohort: CohortRow,
    *,
    today: date,
    name: str,
    email: str,
    municipality: str,
    manager_name: str,
    manager_email: str,
    language: str,
) -> list[str]:
    """Every enrolment rule the given details break (uniqueness aside)."""
    problems = too_long(
        name=name,
        email=email,
        municipality=municipality,
        manager_name=manager_name,
        manager_email=manager_email,
    )
    if today >= cohort.days[0]:
        problems.append(
            f"cohort {cohort.code} started on {cohort.days[0].isoformat()}; "
            "enrolment closes before teaching day 1"
        )
    if not name.strip():
        problems.append("the participant's name cannot be empty (--name TEXT)")
    if not valid_email(email):
        problems.append(f"'{email}' is not a valid email address")
    if not municipality.strip():
        problems.append("the municipality is required (--municipality TEXT)")
    if not manager_name.strip():
        problems.append("the manager's name is required (--manager-name TEXT)")
    if not valid_email(manager_email):
        problems.append(f"'{manager_email}' is not a valid email address for the manager")
    if language not in LANGUAGES:
        problems.append(f"language must be da or en, not '{language}'")
    return problems
