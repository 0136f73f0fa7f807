from __future__ import annotations

# ``lps diagram``, the help, and unknown names.
import pytest
from cli_helpers import add, add_cohort, errors
from conftest import Cli
from helpers import fails, ok

from cli.main import COMMANDS
from states import diagram

# -- diagram, help and unknown names -----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), diagram.mermaid(False)),
        (("--format", "mermaid"), diagram.mermaid(False)),
        (("--format", "dot"), diagram.dot(False)),
        (("--format", "dot", "--exits"), diagram.dot(True)),
        (("--format", "mermaid", "--exits"), diagram.mermaid(True)),
    ],
)
def test_diagram(lps: Cli, args: tuple[str, ...], expected: str) -> None:
    result = ok(lps, "diagram", *args)
    assert result.stdout == expected
    assert "Kursusbevis udstedt" in result.stdout


def test_diagram_refuses_an_unknown_format(lps: Cli) -> None:
    result = fails(lps, "diagram", "--format", "png", code=2)
    assert "Invalid value for '--format': 'png' is not one of" in result.stderr


def test_help_lists_every_command(lps: Cli) -> None:
    result = ok(lps, "--help")
    commands = result.stdout.split("Commands:\n", 1)[1]
    listed = [line.split()[0] for line in commands.splitlines() if line.startswith("  ")]
    assert listed == sorted(COMMANDS)
    for name, (_, _, help_text) in COMMANDS.items():
        assert name in commands
        assert help_text.split()[0] in commands
    assert "--actor NAME" in result.stdout
    assert "--db URL" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("participant", "show", "99"),
            "Error: no participant with id 99; see `lps participant list`",
        ),
        (
            ("advance", "99", "register-day"),
            "Error: no participant with id 99; see `lps participant list`",
        ),
        (("history", "#99"), "Error: no participant with id #99; see `lps participant list`"),
        (
            ("participant", "show", "99999999999999999999"),
            "Error: no participant with id 99999999999999999999; see `lps participant list`",
        ),
        (
            ("outbox", "retry", "99999999999999999999"),
            "Error: no outbox message with id 99999999999999999999; see `lps outbox list`",
        ),
        (
            ("triggers", "nobody@example.dk"),
            "Error: no participant with email 'nobody@example.dk'; see `lps participant list`",
        ),
        (
            ("waive", "99", "jti", "--reason", "x"),
            "Error: no participant with id 99; see `lps participant list`",
        ),
        (("cohort", "show", "NOPE"), "Error: no cohort with code 'NOPE'; see `lps cohort list`"),
        (
            ("advance", "--cohort", "NOPE", "invite-jti"),
            "Error: no cohort with code 'NOPE'; see `lps cohort list`",
        ),
        (
            ("participant", "list", "--cohort", "NOPE"),
            "Error: no cohort with code 'NOPE'; see `lps cohort list`",
        ),
        (
            (
                "participant",
                "add",
                "NOPE",
                "--name",
                "X",
                "--email",
                "x@example.dk",
                "--municipality",
                "Odense",
                "--manager-name",
                "M",
                "--manager-email",
                "m@example.dk",
            ),
            "Error: no cohort with code 'NOPE'; see `lps cohort list`",
        ),
    ],
)
def test_unknown_participant_or_cohort(lps: Cli, args: tuple[str, ...], message: str) -> None:
    add_cohort(lps)
    add(lps)
    result = fails(lps, *args)
    assert errors(result) == [message]
    assert result.stdout == ""
