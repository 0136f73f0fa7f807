"""Small helpers that several test modules share: running the CLI and checking its exit
code, moments on a day, the outbox rows, and reading the .eml files lps writes."""

from __future__ import annotations

from datetime import date, datetime, time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

from click.testing import Result
from conftest import Cli
from sqlalchemy import select

from workflow.clock import FixedClock
from workflow.engine import Workflow
from workflow.records import OUTBOX


def ok(lps: Cli, *args: str) -> Result:
    """Run ``lps ARGS`` and insist it succeeded."""
    result = lps(*args)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result


def fails(lps: Cli, *args: str, code: int = 1) -> Result:
    """Run ``lps ARGS`` and insist it ended with exit code ``code``."""
    result = lps(*args)
    assert result.exit_code == code, (args, result.output, result.exception)
    return result


def one_line(result: Result, code: int) -> str:
    """The one line on standard error of a command that ended with ``code``."""
    assert result.exit_code == code, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    """Copenhagen wall-clock time on ``day`` (the clock fixture reads naive moments so)."""
    return datetime(day.year, day.month, day.day, hour, minute)


def on(clock: FixedClock, day: date, hour: int = 10) -> None:
    """Move the clock to ``hour`` o'clock on ``day``."""
    clock.set(datetime.combine(day, time(hour)))


def outbox(wf: Workflow) -> list[Any]:
    """Every outbox row, oldest first."""
    with wf.db.reading() as conn:
        return list(conn.execute(select(OUTBOX).order_by(OUTBOX.c.id)).all())


def read_eml(path: Path) -> EmailMessage:
    """The message in the .eml file ``path``."""
    return cast(EmailMessage, message_from_bytes(path.read_bytes(), policy=policy.default))


def enrol_in_h1(wf: Workflow, *names: str) -> list[int]:
    """Enrol one Odense participant per name in cohort H1 (``anna@odense.dk`` for "Anna")."""
    return [
        wf.enrol(
            "H1",
            name=name,
            email=f"{name.lower()}@odense.dk",
            municipality="Odense",
            manager_name="Mette Kjær",
            manager_email="mette@odense.dk",
        ).participant.id
        for name in names
    ]


def install_programme_text(wf: Workflow, folder: Path, text: str) -> None:
    """Install the programme definition ``text`` from a file of its own in ``folder``."""
    folder.mkdir()
    (folder / "programme.toml").write_text(text, encoding="utf-8")
    wf.install_programme(folder / "programme.toml")
