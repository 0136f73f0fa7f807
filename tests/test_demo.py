from __future__ import annotations

# `lps demo` and `lps init` as a newcomer meets them: the demo's mail stays at reserved
# domains and in .eml files unless --smtp says otherwise, a second run adds nothing, and init
# makes the folders of a new SQLite file.
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import make_cohort
from smtp_server import SmtpSink

from cli.main import cli
from notifications.delivery import EmlChannel
from workflow.clock import parse_moment
from workflow.demo import DemoExists, run_demo
from workflow.engine import Workflow
from workflow.migrate import head_revision

DEMO_END = "2027-06-30T12:00"
RESERVED = ("example.org", "example.com", "example.net")


def reserved(address: str) -> bool:
    domain = address.rsplit("@", 1)[-1].lower()
    return domain.endswith(".invalid") or any(
        domain == name or domain.endswith("." + name) for name in RESERVED
    )


def demo(tmp_path: Path, *args: str, smtp_url: str | None = None) -> Result:
    env = {
        "LPS_NOW": DEMO_END,
        "LPS_MAIL_DIR": str(tmp_path / "outbox"),
        "LPS_SMTP_URL": smtp_url,
        "LPS_MAIL_FROM": None,
        "LPS_DATABASE_URL": None,
    }
    db = f"sqlite:///{tmp_path / 'lps.db'}"
    return CliRunner().invoke(cli, ["--db", db, "demo", "--quiet", *args], env=env)


def addresses(message: object) -> list[str]:
    fields = ("From", "To", "Cc", "Bcc", "Reply-To")
    values = [str(v) for name in fields for v in message.get_all(name, [])]  # type: ignore[attr-defined]
    return [address for _, address in getaddresses(values)]


def test_the_demo_mails_reserved_domains_into_eml_files_even_with_smtp_configured(
    tmp_path: Path, sink: SmtpSink
) -> None:
    result = demo(tmp_path, smtp_url=sink.url)
    assert result.exit_code == 0, (result.output, result.exception)
    assert sink.received == []
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) > 50
    parser = BytesParser(policy=policy.default)
    for path in files:
        message = parser.parsebytes(path.read_bytes())
        found = addresses(message)
        assert found and all(reserved(address) for address in found), (path.name, found)
        assert ".dk/" not in message.as_string()
    assert result.stdout.splitlines()[-2] == (
        f"Messages: .eml files in {tmp_path / 'outbox'}/ "
        "(not LPS_SMTP_URL: add --smtp to send the demo's mail there)"
    )


def test_the_demo_uses_the_smtp_server_only_when_told_to(tmp_path: Path, sink: SmtpSink) -> None:
    result = demo(tmp_path, "--smtp", smtp_url=sink.url)
    assert result.exit_code == 0, (result.output, result.exception)
    assert len(sink.received) > 50
    for received in sink.received:
        assert all(reserved(address) for address in received.rcpt_tos), received.rcpt_tos
    assert not (tmp_path / "outbox").exists()
    assert result.stdout.splitlines()[-2] == f"Messages: SMTP {sink.url}"


def test_demo_smtp_without_a_server_is_bad_usage(tmp_path: Path) -> None:
    result = demo(tmp_path, "--smtp")
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "Error: --smtp sends the demo's mail to LPS_SMTP_URL, which is not set\n"
    )
    assert not (tmp_path / "lps.db").exists()


def test_a_second_demo_says_so_and_adds_nothing(tmp_path: Path) -> None:
    assert demo(tmp_path).exit_code == 0
    mail = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    again = demo(tmp_path)
    assert again.exit_code == 0, again.output
    path = tmp_path / "lps.db"
    assert again.output == (
        f"The demo cohort DEMO-1 already exists in {path}; nothing was added. "
        f"Remove {path} to start again.\n"
    )
    listed = CliRunner().invoke(
        cli, ["--db", f"sqlite:///{path}", "cohort", "list"], env={"LPS_NOW": DEMO_END}
    )
    assert "DEMO-2" not in listed.output
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == mail


def test_the_demo_refuses_a_database_that_holds_its_cohort(wf: Workflow, tmp_path: Path) -> None:
    make_cohort(wf, "DEMO-1")
    with pytest.raises(DemoExists) as exists:
        run_demo(
            wf.db.url,
            end=parse_moment(DEMO_END),
            narrate=lambda line: None,
            channel=EmlChannel(tmp_path / "outbox"),
        )
    where = wf.db.sqlite_path or wf.db.display_url
    assert str(exists.value).startswith(f"The demo cohort DEMO-1 already exists in {where}; ")
    assert [c.code for c in wf.cohorts()] == ["DEMO-1"]
    assert not (tmp_path / "outbox").exists()


def test_init_creates_the_folders_of_a_new_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "data" / "lps" / "kursus.db"
    url = f"sqlite:///{path}"
    result = CliRunner().invoke(cli, ["--db", url, "init"])
    assert result.exit_code == 0, result.output
    assert result.output == f"Database {url} is at schema revision {head_revision()}.\n"
    assert path.is_file()
    listed = CliRunner().invoke(cli, ["--db", url, "cohort", "list", "--json"])
    assert listed.exit_code == 0
