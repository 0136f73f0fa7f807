"""Outside input is checked by one set of rules, whichever way it comes in: `lps participant
add`, `lps cohort create` and `update`, the CSV import and the Python API refuse the same values
with the same reasons, on SQLite and PostgreSQL, before anything is written."""

from __future__ import annotations

import codecs
import json
from datetime import UTC
from pathlib import Path

import pytest
from alembic import command
from click.testing import Result
from conftest import START, Cli, enrol, make_cohort
from helpers import ok
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from smtp_server import SmtpSink
from sqlalchemy import select, update

from notifications.delivery import SmtpChannel
from workflow import messages, validation
from workflow.db import Database
from workflow.engine import StepRequest, Workflow
from workflow.errors import GuardFailed, ImportRejected, InvalidInput
from workflow.migrate import alembic_config, upgrade
from workflow.models import AUDIT, COHORTS, OUTBOX, PARTICIPANTS

DAYS_ARG = "2027-03-01,2027-03-15,2027-03-29,2027-04-12,2027-04-26"
HEADER = "Navn;E-mail;Kommune;Arbejdsplads;Nærmeste leder;Leders e-mail;Sprog;JTI-link"
COLUMNS = {
    "name": "Navn",
    "email": "E-mail",
    "municipality": "Kommune",
    "workplace": "Arbejdsplads",
    "manager_name": "Nærmeste leder",
    "manager_email": "Leders e-mail",
    "language": "Sprog",
    "jti_link": "JTI-link",
}
PERSON = {
    "name": "Søren Ærø",
    "email": "soren@odense.dk",
    "municipality": "Odense",
    "workplace": "Borgerservice",
    "manager_name": "Mette Kjær",
    "manager_email": "mette@odense.dk",
    "language": "da",
    "jti_link": "https://jti.example.dk/s/1",
}
FLAGS = {field: "--" + field.replace("_", "-") for field in PERSON}


def fails(lps: Cli, *args: str, code: int = 1) -> Result:
    result = lps(*args)
    assert result.exit_code == code, (args, result.output, result.exception)
    assert result.stdout == ""
    return result


def add_args(cohort: str = "H1", **changes: str) -> list[str]:
    values = {**PERSON, **changes}
    args = ["participant", "add", cohort]
    for field, value in values.items():
        args += [FLAGS[field], value]
    return args


def csv_file(*people: dict[str, str]) -> bytes:
    def cell(value: str) -> str:
        return '"{}"'.format(value.replace('"', '""'))

    lines = [HEADER] + [";".join(cell(p[field]) for field in COLUMNS) for p in people]
    return codecs.BOM_UTF8 + ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogatepass")


def person(**changes: str) -> dict[str, str]:
    return {**PERSON, **changes}


def import_lines(wf: Workflow, data: bytes, *, dry_run: bool) -> list[str]:
    with pytest.raises(ImportRejected) as caught:
        wf.import_participants("H1", data, dry_run=dry_run)
    return caught.value.lines()


def enrol_reasons(wf: Workflow, **changes: str) -> list[str]:
    with pytest.raises(GuardFailed) as caught:
        wf.enrol("H1", **person(**changes))
    return caught.value.reasons


def nobody(wf: Workflow) -> bool:
    return wf.participants() == []


# -- control characters -------------------------------------------------------------------------

LABELS = {
    "name": "the participant's name",
    "email": "the participant's email",
    "municipality": "the municipality",
    "workplace": "the workplace",
    "manager_name": "the manager's name",
    "manager_email": "the manager's email",
    "jti_link": "the participant's JTI link",
}
# Each character, and the reason any field of a person gives for refusing it.
UNWANTED = {
    "\n": "contains a line break (U+000A); write it on one line",
    "\r": "contains a line break (U+000D); write it on one line",
    "\x07": "contains a control character (U+0007); remove it",
    "\x1b": "contains a control character (U+001B); remove it",
    "\x85": "contains a line break (U+0085); write it on one line",
    "\u200b": "contains an invisible formatting character (U+200B ZERO WIDTH SPACE); remove it",
    "\u202e": (
        "contains an invisible formatting character (U+202E RIGHT-TO-LEFT OVERRIDE); remove it"
    ),
    "\ufeff": (
        "contains an invisible formatting character (U+FEFF ZERO WIDTH NO-BREAK SPACE); remove it"
    ),
    "\u2028": "contains a line separator (U+2028); write it on one line",
    "\u2029": "contains a paragraph separator (U+2029); write it on one line",
}


def spoiled(field: str, char: str) -> str:
    """A good value for ``field`` with ``char`` in the middle of it."""
    value = PERSON[field]
    middle = len(value) // 2
    return value[:middle] + char + value[middle:]


@pytest.mark.parametrize("char", list(UNWANTED), ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("field", list(LABELS))
def test_add_refuses_a_control_or_format_character_in_any_field(
    lps: Cli, field: str, char: str
) -> None:
    ok(lps, "cohort", "create", "H1", "--name", "Hold 1", "--days", DAYS_ARG)
    result = fails(lps, *add_args(**{field: spoiled(field, char)}))
    assert result.stderr == f"Error: {LABELS[field]} {UNWANTED[char]}\n"
    assert json.loads(ok(lps, "participant", "list", "--json").stdout) == []


@pytest.mark.parametrize(
    "char", ["\n", "\x07", "\u200b", "\u2028"], ids=lambda c: f"U+{ord(c):04X}"
)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "import"])
def test_the_import_refuses_what_add_refuses_by_line_and_column(
    wf: Workflow, char: str, dry_run: bool
) -> None:
    make_cohort(wf)
    data = csv_file(
        person(),
        person(email="b@odense.dk", name=spoiled("name", char)),
        person(email="c@odense.dk", manager_email=spoiled("manager_email", char)),
        person(email="d@odense.dk", jti_link=spoiled("jti_link", char)),
    )
    lines = 1 + char.count("\n")  # a line break in a quoted cell starts a new line of the file
    assert import_lines(wf, data, dry_run=dry_run) == [
        f"line 3, column Navn: {UNWANTED[char]}",
        f"line {3 + lines}, column Leders e-mail: {UNWANTED[char]}",
        f"line {3 + 2 * lines}, column JTI-link: {UNWANTED[char]}",
        "3 problem(s) in the file; nothing was imported",
    ]
    assert nobody(wf)


def test_a_bell_refused_by_the_import_is_refused_by_add_and_the_api(lps: Cli, wf: Workflow) -> None:
    make_cohort(wf)
    reason = "contains a control character (U+0007); remove it"
    assert import_lines(wf, csv_file(person(name="Søren\x07")), dry_run=True) == [
        f"line 2, column Navn: {reason}",
        "1 problem(s) in the file; nothing was imported",
    ]
    assert fails(lps, *add_args(name="Søren\x07")).stderr == (
        f"Error: the participant's name {reason}\n"
    )
    assert enrol_reasons(wf, name="Søren\x07") == [f"the participant's name {reason}"]
    assert nobody(wf)


def test_a_lone_surrogate_is_refused(wf: Workflow) -> None:
    make_cohort(wf)
    assert enrol_reasons(wf, name="S\udcf8ren") == [
        "the participant's name contains a lone surrogate (U+DCF8), which is not text; retype it"
    ]
    # In a file it cannot even be written as UTF-8.
    with pytest.raises(InvalidInput, match="is not UTF-8"):
        wf.import_participants("H1", csv_file(person(name="S\udcf8ren")))
    assert nobody(wf)


def test_joiners_that_spell_a_name_are_kept(wf: Workflow) -> None:
    make_cohort(wf)
    persian = "نرگس\u200cرضایی"  # the zero-width non-joiner belongs in the word
    family = "Ida 👩\u200d👩\u200d👧 Holm"
    first = wf.enrol("H1", **person(name=persian)).participant
    second = wf.enrol("H1", **person(name=family, email="ida@odense.dk")).participant
    assert (first.name, second.name) == (persian, family)


def test_cli_refuses_a_cohort_name_with_a_line_break_and_the_calendar_stays_whole(
    lps: Cli,
) -> None:
    result = fails(lps, "cohort", "create", "H1", "--name", "Hold\nforår", "--days", DAYS_ARG)
    assert result.stderr == (
        "Error: the cohort's name contains a line break (U+000A); write it on one line\n"
    )
    assert json.loads(ok(lps, "cohort", "list", "--json").stdout) == []
    ok(lps, "cohort", "create", "H1", "--name", "Hold forår", "--days", DAYS_ARG)
    assert fails(lps, *add_args(name="Søren\nÆrø")).stderr == (
        "Error: the participant's name contains a line break (U+000A); write it on one line\n"
    )
    ok(lps, *add_args())
    assert ok(lps, "calendar", "H1", "--participant", "1").stdout.startswith("BEGIN:VCALENDAR")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "--name",
            "Hold\x1b[31m",
            "the cohort's name contains a control character (U+001B); remove it",
        ),
        (
            "--venue",
            "Odense\u2029Rådhus",
            "the venue contains a paragraph separator (U+2029); write it on one line",
        ),
        (
            "--admin-email",
            "kursus\u200b@odense.dk",
            "the admin email contains an invisible formatting character "
            "(U+200B ZERO WIDTH SPACE); remove it",
        ),
    ],
)
def test_cli_refuses_control_characters_in_every_cohort_field(
    lps: Cli, option: str, value: str, message: str
) -> None:
    args = ["cohort", "create", "H1", "--name", "Hold 1", "--days", DAYS_ARG, option, value]
    assert fails(lps, *args).stderr == f"Error: {message}\n"
    assert json.loads(ok(lps, "cohort", "list", "--json").stdout) == []


def test_cli_refuses_a_control_character_in_the_cohort_code(lps: Cli) -> None:
    result = fails(lps, "cohort", "create", "H\t1", "--name", "Hold 1", "--days", DAYS_ARG)
    assert result.stderr == (
        "Error: the cohort code contains a control character (U+0009); remove it\n"
    )


def test_notes_goals_and_reasons_may_have_lines_but_no_control_characters(wf: Workflow) -> None:
    make_cohort(wf)
    pid = enrol(wf)
    step = StepRequest(
        "hold_manager_conversation",
        goals=("Lede\u2028møder",),
        note="Aftaler:\n- ugentlig status",
    )
    with pytest.raises(InvalidInput) as caught:
        wf.advance(pid, step)
    assert caught.value.lines() == [
        "learning goal 1 contains a line separator (U+2028); use an ordinary line break"
    ]
    with pytest.raises(InvalidInput) as caught:
        wf.advance(pid, StepRequest("withdraw", reason="Flytter\x00"))
    assert caught.value.lines() == ["the reason contains a control character (U+0000); remove it"]
    with pytest.raises(InvalidInput) as caught:
        wf.waive(pid, "jti", "Fritaget\u202e")
    assert caught.value.lines() == [
        "the reason contains an invisible formatting character (U+202E RIGHT-TO-LEFT OVERRIDE); "
        "remove it"
    ]
    assert [e.event for e in wf.history(pid)] == ["enrol"]
    done = wf.advance(
        pid,
        StepRequest(
            "hold_manager_conversation",
            goals=("Lede møder\nog delegere",),
            note="Aftaler:\n\t- ugentlig status",
        ),
    )
    assert done.participant.facts.goals == ("Lede møder\nog delegere",)
    assert done.entries[0].note == "Aftaler:\n\t- ugentlig status"


def test_cli_refuses_a_host_or_an_actor_with_a_control_character(lps: Cli) -> None:
    ok(lps, "cohort", "create", "H1", "--name", "Hold 1", "--days", DAYS_ARG)
    ok(lps, *add_args())
    host = ["host", "set", "1", "--role", "leader", "--municipality", "Odense"]
    result = fails(lps, *host, "--name", "Hanne\x08", "--email", "hanne@odense.dk")
    assert result.stderr == (
        "Error: the host's name contains a control character (U+0008); remove it\n"
    )
    result = fails(lps, "--actor", "kim\nroot", "waive", "1", "jti", "--reason", "x")
    assert result.stderr == (
        "Error: the actor contains a line break (U+000A); write it on one line\n"
    )
    trail = json.loads(ok(lps, "history", "1", "--format", "json").stdout)
    assert [entry["event"] for entry in trail] == ["enrol"]


def test_library_messages_name_fields_not_flags(wf: Workflow) -> None:
    make_cohort(wf)
    reasons = enrol_reasons(wf, name=" ", municipality="", manager_name="")
    assert reasons == [
        "the participant's name is missing",
        "the municipality is missing",
        "the manager's name is missing",
    ]
    with pytest.raises(InvalidInput) as caught:
        wf.create_cohort("H2", name="", days=list(wf.cohort("H1").days))
    assert caught.value.lines() == ["the cohort's name is missing"]
    assert all("--" not in line for line in [*reasons, *caught.value.lines()])


# -- links --------------------------------------------------------------------------------------

NOT_LINKS = {
    "javascript:alert(1)": "'javascript:alert(1)' must start with https://",
    "JavaScript:alert(document.cookie)": (
        "'JavaScript:alert(document.cookie)' must start with https://"
    ),
    "data:text/html,<script>alert(1)</script>": (
        "'data:text/html,<script>alert(1)</script>' must start with https://"
    ),
    "vbscript:msgbox(1)": "'vbscript:msgbox(1)' must start with https://",
    "ftp://jti.example.dk/": "'ftp://jti.example.dk/' must start with https://",
    "//jti.example.dk/s/1": "'//jti.example.dk/s/1' must start with https://",
    "jti.example.dk/s/1": "'jti.example.dk/s/1' must start with https://",
    "https://": "'https://' has no host",
    "https:///s/1": "'https:///s/1' has no host",
    "https:jti.example.dk": "'https:jti.example.dk' has no host",
    "https://jti.example.dk/a b": "'https://jti.example.dk/a b' has a space; write it as %20",
    'https://jti.example.dk/"onmouseover="x': (
        "'https://jti.example.dk/\"onmouseover=\"x' has '\"', which a link cannot hold; "
        "write it as %22"
    ),
    "https://jti.example.dk:99999/": "'https://jti.example.dk:99999/' has no valid port",
    "https://-jti.example.dk/": "'https://-jti.example.dk/' has no valid host",
}


@pytest.mark.parametrize("link", list(NOT_LINKS))
def test_cli_refuses_a_cohort_jti_link_that_is_not_a_web_link(lps: Cli, link: str) -> None:
    result = fails(
        lps, "cohort", "create", "H1", "--name", "Hold 1", "--days", DAYS_ARG, "--jti-link", link
    )
    assert result.stderr == f"Error: the cohort's JTI link is not a web link: {NOT_LINKS[link]}\n"
    assert json.loads(ok(lps, "cohort", "list", "--json").stdout) == []


@pytest.mark.parametrize("link", ["javascript:alert(1)", "data:text/html;base64,PHNjcmlwdD4="])
def test_cli_refuses_an_article_or_participant_link_that_is_not_a_web_link(
    lps: Cli, link: str
) -> None:
    create = ["cohort", "create", "H1", "--name", "Hold 1", "--days", DAYS_ARG]
    articles = ["--article", "Ledelse|https://x.dk/a", "--article", f"Klik her|{link}"]
    result = fails(lps, *create, *articles)
    assert result.stderr == (
        f"Error: the link of article 2 is not a web link: '{link}' must start with https://\n"
    )
    ok(lps, *create)
    result = fails(lps, *add_args(jti_link=link))
    assert result.stderr == (
        f"Error: the participant's JTI link is not a web link: '{link}' must start with https://\n"
    )
    assert json.loads(ok(lps, "participant", "list", "--json").stdout) == []


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "import"])
def test_the_import_refuses_a_link_that_is_not_a_web_link(wf: Workflow, dry_run: bool) -> None:
    make_cohort(wf)
    data = csv_file(
        person(jti_link="javascript:alert(1)"),
        person(email="b@odense.dk", jti_link="https://"),
        person(email="c@odense.dk", jti_link="https://jti.example.dk/s/3"),
    )
    assert import_lines(wf, data, dry_run=dry_run) == [
        "line 2, column JTI-link: is not a web link: 'javascript:alert(1)' must start with https://",
        "line 3, column JTI-link: is not a web link: 'https://' has no host",
        "2 problem(s) in the file; nothing was imported",
    ]
    assert nobody(wf)


def test_the_api_refuses_an_article_link_that_is_not_a_web_link(wf: Workflow) -> None:
    with pytest.raises(InvalidInput) as caught:
        make_cohort(wf, articles=[{"title": "Klik", "url": "javascript:alert(1)"}])
    assert caught.value.lines() == [
        "the link of article 1 is not a web link: 'javascript:alert(1)' must start with https://"
    ]
    with pytest.raises(InvalidInput) as caught:
        make_cohort(wf, articles=[{"title": " ", "url": "https://x.dk/a"}])
    assert caught.value.lines() == ["the title of article 1 is missing"]
    assert wf.cohorts() == []


def test_web_links_with_a_host_are_kept_as_written(wf: Workflow) -> None:
    links = [
        "https://jti.example.dk/s/1?kode=a%20b#start",
        "HTTP://Jti.Example.dk:8443/s/1",
        "https://søren.dk/spørgeskema",
        "https://[2001:db8::1]/s",
    ]
    make_cohort(
        wf,
        jti_link=links[0],
        articles=[{"title": f"Artikel {n}", "url": url} for n, url in enumerate(links, 1)],
    )
    view = wf.cohort("H1")
    assert view.jti_link == links[0]
    assert [a["url"] for a in view.articles] == links
    for number, link in enumerate(links):
        wf.enrol("H1", **person(email=f"p{number}@odense.dk", jti_link=link))
    with wf.db.reading() as conn:
        stored = conn.execute(select(PARTICIPANTS.c.jti_link).order_by(PARTICIPANTS.c.id))
        assert list(stored.scalars()) == links


# -- addresses ----------------------------------------------------------------------------------

NOT_SENDABLE = {
    "soren.odense.dk": "is not a valid email address: 'soren.odense.dk' has no @",
    "a@b@odense.dk": "is not a valid email address: 'a@b@odense.dk' has more than one @",
    "@odense.dk": "is not a valid email address: '@odense.dk' has nothing before the @",
    "soren@": "is not a valid email address: 'soren@' has nothing after the @",
    "soren@odense": "is not a valid email address: 'soren@odense' has no dot after the @",
    "a b@odense.dk": "is not a valid email address: 'a b@odense.dk' has ' ' before the @",
    '"a"@odense.dk': "is not a valid email address: '\"a\"@odense.dk' has '\"' before the @",
    "a..b@odense.dk": (
        "is not a valid email address: 'a..b@odense.dk' has a dot at the start or end of "
        "the part before the @, or two in a row"
    ),
    "ø@x.dk": (
        "is not an address lps can send to: 'ø@x.dk' has 'ø' before the @, which only mail "
        "servers with SMTPUTF8 accept; ask for an address without it"
    ),
    "soren@-odense.dk": (
        "is not a valid email address: 'soren@-odense.dk' has a domain that is not a domain "
        "name (Label must not start or end with a hyphen)"
    ),
    "soren@odense..dk": (
        "is not a valid email address: 'soren@odense..dk' has a domain that is not a domain "
        "name (Empty Label)"
    ),
    "soren@odense.dk.": (
        "is not a valid email address: 'soren@odense.dk.' has a domain that ends with a dot"
    ),
    "soren@[127.0.0.1]": (
        "is not a valid email address: 'soren@[127.0.0.1]' has a domain that is not a domain "
        "name (Codepoint U+005B not allowed at position 1 in '[127.0.0.1]')"
    ),
    f"{'s' * 65}@odense.dk": (
        f"is not an address lps can send to: '{'s' * 65}@odense.dk' has 65 characters before "
        "the @; at most 64 can be delivered"
    ),
    f"sorenabc@{'o' * 60}.{'d' * 60}.{'k' * 60}.{'x' * 60}.dk": (
        "is not an address lps can send to: it is 255 characters long; at most 254 can be delivered"
    ),
}


@pytest.mark.parametrize("address", list(NOT_SENDABLE))
def test_add_refuses_an_address_mail_cannot_be_sent_to(lps: Cli, address: str) -> None:
    ok(lps, "cohort", "create", "H1", "--name", "Hold 1", "--days", DAYS_ARG)
    for field, label in (
        ("email", "the participant's email"),
        ("manager_email", "the manager's email"),
    ):
        result = fails(lps, *add_args(**{field: address}))
        assert result.stderr == f"Error: {label} {NOT_SENDABLE[address]}\n"
    result = fails(
        lps, "cohort", "create", "H2", "--name", "H", "--days", DAYS_ARG, "--admin-email", address
    )
    assert result.stderr == f"Error: the admin email {NOT_SENDABLE[address]}\n"
    assert json.loads(ok(lps, "participant", "list", "--json").stdout) == []


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "import"])
def test_the_import_refuses_an_address_add_refuses(wf: Workflow, dry_run: bool) -> None:
    make_cohort(wf)
    data = csv_file(person(email="ø@x.dk"), person(email="b@odense.dk", manager_email="m@x"))
    assert import_lines(wf, data, dry_run=dry_run) == [
        f"line 2, column E-mail: {NOT_SENDABLE['ø@x.dk']}",
        "line 3, column Leders e-mail: is not a valid email address: 'm@x' has no dot after the @",
        "2 problem(s) in the file; nothing was imported",
    ]
    assert nobody(wf)


def test_an_international_domain_is_kept_in_its_ascii_form_and_mail_arrives(
    lps: Cli, tmp_path: Path
) -> None:
    create = ["cohort", "create", "H1", "--name", "Hold 1", "--days", DAYS_ARG]
    shown = json.loads(ok(lps, *create, "--admin-email", "Kursus@Søren.dk", "--json").stdout)
    assert shown["admin_email"] == "kursus@xn--sren-gra.dk"
    added = ok(lps, *add_args(email="Ida@SØREN.dk", manager_email="chef@ærø.dk"))
    assert added.stdout.startswith("Enrolled #1 Søren Ærø <ida@xn--sren-gra.dk> in H1.\n")
    found = json.loads(ok(lps, "participant", "show", "ida@søren.dk", "--json").stdout)
    assert (found["id"], found["manager"]["email"]) == (1, "chef@xn--r-3fa9c.dk")

    with SmtpSink() as sink:
        lps.env["LPS_SMTP_URL"] = sink.url
        ok(lps, "remind")
    assert sorted(r.rcpt_tos for r in sink.received) == [
        ("chef@xn--r-3fa9c.dk",),
        ("ida@xn--sren-gra.dk",),
    ]
    assert {r.mail_from for r in sink.received} == {"kursus@xn--sren-gra.dk"}
    assert ok(lps, "outbox", "list", "--status", "failed", "--json").stdout.strip() == "[]"


LOOK_ALIKES = [
    "ida@søren.dk",
    "ida@xn--sren-gra.dk",
    "IDA@XN--SREN-GRA.DK",
    "ｉｄａ＠ｓøｒｅｎ．ｄｋ",  # fullwidth letters, at sign and dot
    "Ida@Søren.Dk",
]


def test_look_alike_addresses_are_one_person(wf: Workflow) -> None:
    make_cohort(wf)
    first = wf.enrol("H1", **person(email=LOOK_ALIKES[0])).participant
    assert first.email == "ida@xn--sren-gra.dk"
    for address in LOOK_ALIKES[1:]:
        assert enrol_reasons(wf, email=address) == [
            "ida@xn--sren-gra.dk is already enrolled in cohort H1"
        ]
    assert enrol_reasons(wf, email="i\u200bda@søren.dk") == [
        "the participant's email contains an invisible formatting character "
        "(U+200B ZERO WIDTH SPACE); remove it"
    ]
    assert [p.id for p in wf.participants()] == [first.id]
    assert all(wf.participant(address).id == first.id for address in LOOK_ALIKES)


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "import"])
def test_the_import_sees_look_alikes_as_one_person(wf: Workflow, dry_run: bool) -> None:
    make_cohort(wf)
    enrol(wf, email="zw@x.dk")
    data = csv_file(
        person(email=LOOK_ALIKES[0]),
        person(email=LOOK_ALIKES[3]),
        person(email="ＺＷ@ｘ.ｄｋ"),
    )
    assert import_lines(wf, data, dry_run=dry_run) == [
        "line 3, column E-mail: ida@xn--sren-gra.dk is also on line 2",
        "line 4, column E-mail: zw@x.dk is already enrolled in cohort H1",
        "2 problem(s) in the file; nothing was imported",
    ]
    assert len(wf.participants()) == 1


def test_the_import_stores_the_canonical_address(wf: Workflow) -> None:
    make_cohort(wf)
    report = wf.import_participants("H1", csv_file(person(email="Ida@Søren.dk")))
    assert report.rows[0].email == "ida@xn--sren-gra.dk"
    assert wf.participants()[0].email == "ida@xn--sren-gra.dk"


def test_a_host_address_is_kept_in_its_canonical_form(wf: Workflow) -> None:
    make_cohort(wf)
    pid = enrol(wf)
    view = wf.set_host(
        pid, name="Hanne", email="Hanne@Ærø.dk", role="leader", municipality="Odense"
    )
    assert view.facts.host is not None and view.facts.host.email == "hanne@xn--r-3fa9c.dk"


# -- correcting a cohort ------------------------------------------------------------------------


def test_cli_cohort_update_corrects_name_venue_and_admin_email_and_audits_it(lps: Cli) -> None:
    create = ["cohort", "create", "H1", "--name", "Hold 1", "--days", DAYS_ARG]
    ok(lps, *create, "--venue", "Odense", "--admin-email", "kursus@odense.dk")
    ok(lps, *add_args())
    ok(lps, *add_args(email="ida@odense.dk"))
    result = ok(
        lps,
        "cohort",
        "update",
        "H1",
        "--name",
        " Hold 1, forår ",
        "--admin-email",
        "Sekretariat@Ærø.dk",
    )
    assert result.stdout == (
        "Cohort H1 updated: name 'Hold 1, forår', admin email 'sekretariat@xn--r-3fa9c.dk'.\n"
    )
    shown = json.loads(ok(lps, "cohort", "show", "H1", "--json").stdout)
    assert (shown["name"], shown["venue"], shown["admin_email"]) == (
        "Hold 1, forår",
        "Odense",
        "sekretariat@xn--r-3fa9c.dk",
    )
    for pid in ("1", "2"):
        last = json.loads(ok(lps, "history", pid, "--format", "json").stdout)[-1]
        assert (last["event"], last["from_state"], last["to_state"], last["actor"]) == (
            "update_cohort",
            "enrolled",
            "enrolled",
            "tester",
        )
        assert last["data"] == {"changed": ["name", "admin_email"]}
        assert last["note"] == (
            "name 'Hold 1' → 'Hold 1, forår'; "
            "admin email 'kursus@odense.dk' → 'sekretariat@xn--r-3fa9c.dk'"
        )
    ok(lps, "audit", "verify")

    result = ok(lps, "cohort", "update", "H1", "--venue", "")
    assert result.stdout == "Cohort H1 updated: no venue.\n"
    assert json.loads(ok(lps, "cohort", "show", "H1", "--json").stdout)["venue"] is None
    assert ok(lps, "cohort", "update", "H1", "--venue", "").stdout == (
        "Cohort H1: nothing changed.\n"
    )
    assert json.loads(ok(lps, "history", "1", "--format", "json").stdout)[-1]["note"] == (
        "venue 'Odense' → none"
    )


def test_cli_cohort_update_refuses_what_create_refuses(lps: Cli) -> None:
    ok(lps, "cohort", "create", "H1", "--name", "Hold 1", "--days", DAYS_ARG)
    result = fails(lps, "cohort", "update", "H1", "--admin-email", "k@x")
    assert result.stderr == (
        "Error: the admin email is not a valid email address: 'k@x' has no dot after the @\n"
    )
    result = fails(lps, "cohort", "update", "H1", "--name", "Hold\n1")
    assert result.stderr == (
        "Error: the cohort's name contains a line break (U+000A); write it on one line\n"
    )
    assert fails(lps, "cohort", "update", "H1", "--name", " ").stderr == (
        "Error: the cohort's name is missing\n"
    )
    assert fails(lps, "cohort", "update", "H9", "--name", "X").stderr == (
        "Error: no cohort with code 'H9'; see `lps cohort list`\n"
    )
    result = lps("cohort", "update", "H1")
    assert result.exit_code == 2
    assert "give --name, --venue, --admin-email, --self-service or --link-days" in result.stderr
    assert json.loads(ok(lps, "cohort", "show", "H1", "--json").stdout)["name"] == "Hold 1"


def test_a_cohort_stored_with_a_line_break_can_be_renamed_and_then_has_a_calendar(
    lps: Cli, wf: Workflow
) -> None:
    make_cohort(wf)
    enrol(wf)
    # As an earlier version of lps accepted it.
    with wf.db.transaction() as conn:
        conn.execute(update(COHORTS).values(name="Hold\n1", admin_email="k@søren.dk"))
    result = ok(lps, "cohort", "update", "H1", "--name", "Hold 1", "--admin-email", "k@søren.dk")
    assert result.stdout == ("Cohort H1 updated: name 'Hold 1', admin email 'k@xn--sren-gra.dk'.\n")
    assert ok(lps, "calendar", "H1").stdout.startswith("BEGIN:VCALENDAR")
    assert wf.history(1)[-1].note == (
        "name 'Hold\\n1' → 'Hold 1'; admin email 'k@søren.dk' → 'k@xn--sren-gra.dk'"
    )


def test_update_cohort_in_python(wf: Workflow) -> None:
    make_cohort(wf, venue="Odense")
    change = wf.update_cohort("H1", venue="Vejle Rådhus")
    assert change.changed == ("venue",)
    view = change.cohort
    assert (view.name, view.venue, view.admin_email) == (
        "Hold H1",
        "Vejle Rådhus",
        "kursus@kommune.dk",
    )
    with pytest.raises(InvalidInput) as caught:
        wf.update_cohort("H1")
    assert caught.value.lines() == [
        "nothing to change: give a new name, venue, admin email, self-service or link days"
    ]
    with pytest.raises(InvalidInput) as caught:
        wf.update_cohort("H1", admin_email="ø@x.dk")
    assert caught.value.lines() == [f"the admin email {NOT_SENDABLE['ø@x.dk']}"]
    assert wf.cohort("H1").admin_email == "kursus@kommune.dk"


# -- limits -------------------------------------------------------------------------------------


def test_every_limit_is_the_length_of_the_column_the_value_is_stored_in() -> None:
    stored = [
        *((validation.PARTICIPANT[f], PARTICIPANTS.c[f]) for f in PERSON if f != "language"),
        *((validation.COHORT[f], COHORTS.c[f]) for f in validation.COHORT),
        (validation.ACTOR, AUDIT.c.actor),
    ]
    for field, column in stored:
        assert field.limit == column.type.length, field.label


@pytest.mark.parametrize(
    ("field", "length", "limit"),
    [
        ("name", 201, 200),
        ("municipality", 101, 100),
        ("workplace", 201, 200),
        ("manager_name", 201, 200),
        ("jti_link", 1001, 1000),
    ],
)
def test_add_refuses_a_value_longer_than_its_column(
    lps: Cli, field: str, length: int, limit: int
) -> None:
    ok(lps, "cohort", "create", "H1", "--name", "Hold 1", "--days", DAYS_ARG)
    value = PERSON[field] + "x" * (length - len(PERSON[field]))
    result = fails(lps, *add_args(**{field: value}))
    assert result.stderr == (
        f"Error: {LABELS[field]} is {length} characters long; at most {limit} fit\n"
    )
    ok(lps, *add_args(**{field: value[:limit]}))
    assert len(json.loads(ok(lps, "participant", "list", "--json").stdout)) == 1


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "import"])
def test_the_import_names_a_value_too_long_by_line_and_column(wf: Workflow, dry_run: bool) -> None:
    make_cohort(wf)
    data = csv_file(
        person(municipality="O" * 101),
        person(email="b@odense.dk", manager_name="M" * 201),
        person(email="c@odense.dk"),
    )
    assert import_lines(wf, data, dry_run=dry_run) == [
        "line 2, column Kommune: is 101 characters long; at most 100 fit",
        "line 3, column Nærmeste leder: is 201 characters long; at most 200 fit",
        "2 problem(s) in the file; nothing was imported",
    ]
    assert nobody(wf)


def test_cli_refuses_an_actor_cohort_field_or_host_longer_than_its_column(lps: Cli) -> None:
    create = ["cohort", "create", "H1", "--name", "Hold 1", "--days", DAYS_ARG]
    assert fails(lps, *create, "--venue", "V" * 301).stderr == (
        "Error: the venue is 301 characters long; at most 300 fit\n"
    )
    code = ["cohort", "create", "H" * 65, "--name", "Hold 1", "--days", DAYS_ARG]
    assert fails(lps, *code).stderr == (
        "Error: the cohort code is 65 characters long; at most 64 fit\n"
    )
    ok(lps, *create)
    ok(lps, *add_args())
    assert fails(lps, "--actor", "a" * 101, "waive", "1", "jti", "--reason", "x").stderr == (
        "Error: the actor is 101 characters long; at most 100 fit\n"
    )
    host = ["host", "set", "1", "--name", "Hanne", "--email", "hanne@odense.dk", "--role", "hr"]
    assert fails(lps, *host, "--municipality", "O" * 101).stderr == (
        "Error: the host's municipality is 101 characters long; at most 100 fit\n"
    )
    ok(lps, "--actor", "a" * 100, "waive", "1", "jti", "--reason", "x")
    assert json.loads(ok(lps, "history", "1", "--format", "json").stdout)[-1]["actor"] == "a" * 100


def test_notes_reasons_and_goals_have_one_limit(wf: Workflow) -> None:
    make_cohort(wf)
    pid = enrol(wf)
    limit = validation.FREE_TEXT_LIMIT
    long = "æ" * (limit + 1)
    for request, label in (
        (StepRequest("hold_manager_conversation", goals=("Mål", long)), "learning goal 2"),
        (StepRequest("hold_manager_conversation", goals=("Mål",), note=long), "the note"),
        (StepRequest("withdraw", reason=long), "the reason"),
    ):
        with pytest.raises(InvalidInput) as caught:
            wf.advance(pid, request)
        assert caught.value.lines() == [
            f"{label} is {limit + 1} characters long; at most {limit} fit"
        ]
    assert [e.event for e in wf.history(pid)] == ["enrol"]
    fits = "ø" * limit
    done = wf.advance(pid, StepRequest("hold_manager_conversation", goals=(fits,), note=fits))
    assert done.participant.facts.goals == (fits,)


LONGEST_EMAIL = f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 58}.dk"
# A display name is quoted, and each quote in it escaped, in a "Name <email>" header.
LONGEST_NAME = '"' * 200


def test_the_longest_name_and_address_fit_the_recipient_column() -> None:
    assert len(LONGEST_EMAIL) == validation.DELIVERABLE_LIMIT
    assert validation.PARTICIPANT["email"].clean(LONGEST_EMAIL) == LONGEST_EMAIL
    recipient = messages._address(LONGEST_NAME, LONGEST_EMAIL)
    assert len(recipient) == 2 * 200 + 2 + len(" <>") + 254
    assert len(recipient) <= OUTBOX.c.recipient.type.length
    sender = messages._address(messages.SENDER_NAME, LONGEST_EMAIL)
    assert len(sender) <= OUTBOX.c.sender.type.length


def test_the_longest_name_and_address_are_enrolled_imported_and_sent(
    wf: Workflow, tmp_path: Path
) -> None:
    make_cohort(wf, admin_email=LONGEST_EMAIL)
    longest = person(
        name=LONGEST_NAME, email=LONGEST_EMAIL, manager_name="\\" * 200, manager_email="m@x.dk"
    )
    other = LONGEST_EMAIL.replace("a", "e", 1)
    dry = wf.import_participants("H1", csv_file({**longest, "email": other}), dry_run=True)
    assert dry.count == 1
    imported = wf.import_participants("H1", csv_file({**longest, "email": other}))
    assert imported.count == 1
    wf.enrol("H1", **longest)
    with wf.db.reading() as conn:
        recipients = conn.execute(select(OUTBOX.c.recipient)).scalars().all()
    assert max(len(r) for r in recipients) == 659
    with SmtpSink() as sink:
        report = wf.remind(channel=SmtpChannel.from_url(sink.url))
    assert report is not None
    assert sorted(r.rcpt_tos[0] for r in sink.received) == sorted(
        [other, LONGEST_EMAIL, "m@x.dk", "m@x.dk"]
    )


# -- the import's header ------------------------------------------------------------------------

KNOWN = (
    "navn, e-mail, kommune, arbejdsplads, nærmeste leder, leders e-mail, sprog, jti-link "
    "(or in English)"
)


def test_a_header_of_many_unknown_columns_is_reported_in_one_line(wf: Workflow) -> None:
    make_cohort(wf)
    unknown = ";".join(f"x{i}" for i in range(100_000))
    row = ";".join(PERSON[f] for f in COLUMNS)
    data = f"{HEADER};{unknown}\n{row}\n".encode()
    assert import_lines(wf, data, dry_run=True) == [
        f"line 1: unknown columns x0, x1, x2 … and 99,997 more; the columns are: {KNOWN}",
        "1 problem(s) in the file; nothing was imported",
    ]


def test_cli_says_many_repeated_columns_and_nameless_values_once(lps: Cli, tmp_path: Path) -> None:
    ok(lps, "cohort", "create", "H1", "--name", "Hold 1", "--days", DAYS_ARG)
    path = tmp_path / "mange.csv"
    row = ";".join(PERSON[f] for f in COLUMNS)
    path.write_text(f"{HEADER};{';'.join(['mail'] * 5000)}\n{row}\n", encoding="utf-8")
    result = fails(lps, "participant", "import", "H1", str(path))
    assert result.stderr == (
        "Error: line 1: 5000 more columns the same as 'E-mail' (email): mail, mail, mail … and "
        "4,997 more; keep one of them\n"
        "Error: 1 problem(s) in the file; nothing was imported\n"
    )
    path.write_text(f"{HEADER}{';' * 3000}\n{row};{';'.join(['x'] * 3000)}\n", encoding="utf-8")
    result = fails(lps, "participant", "import", "H1", str(path))
    assert result.stderr == (
        "Error: line 2: values in 3000 columns the header gives no name: #9, #10, #11 … and "
        "2,997 more\n"
        "Error: 1 problem(s) in the file; nothing was imported\n"
    )


def test_upgrading_widens_the_recipient_column_and_keeps_the_queued_mail(db_url: str) -> None:
    database = Database(db_url)
    config = alembic_config()
    with database.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
    queued = {
        "key": "1:welcome:participant:0",
        "rule": "welcome",
        "occurrence": "0",
        "recipient_role": "participant",
        "recipient": "Søren <soren@odense.dk>",
        "sender": "kursus@odense.dk",
        "subject": "Velkommen",
        "body_text": "Hej",
        "body_html": "<p>Hej</p>",
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": START.replace(tzinfo=UTC),
        "created_at": START.replace(tzinfo=UTC),
    }
    with database.engine.begin() as conn:
        conn.execute(OUTBOX.insert().values(**queued))
    upgrade(database)
    longest = messages._address(LONGEST_NAME, LONGEST_EMAIL)
    with database.engine.begin() as conn:
        assert conn.execute(select(OUTBOX.c.key, OUTBOX.c.recipient)).all() == [
            (queued["key"], queued["recipient"])
        ]
        conn.execute(update(OUTBOX).values(recipient=longest))
        assert conn.execute(select(OUTBOX.c.recipient)).scalar_one() == longest
    database.dispose()


# -- one rule, whichever way a value comes in ----------------------------------------------------

# Text of every kind (but lone surrogates, which no UTF-8 file can hold): control and
# formatting characters, separators, fullwidth and international letters, near the limits.
ANY_CHARACTER = st.characters(exclude_categories=["Cs"])
INTERESTING = st.sampled_from(
    [
        "\n", "\r", "\t", "\x00", "\x07", "\x85", "\u200b", "\u200c", "\u200d", "\u202e",
        "\u2028", "\u2029", "\ufeff", "@", "@@", ".", "..", " ", "ø", "ｚ", "＠", "．",
        "søren.dk", "xn--sren-gra.dk", "https://", "http://", "javascript:", "-", "\"", "<",
        "dansk", "EN", "x" * 63,
    ]
)  # fmt: skip
PIECES = st.lists(st.one_of(st.text(ANY_CHARACTER, max_size=12), INTERESTING), max_size=8)
LONG_TEXT = st.builds(
    lambda c, n: c * n, st.sampled_from(["a", "ø", '"', "ｚ"]), st.integers(60, 330)
)
LETTERS = st.characters(categories=["Ll", "Lu", "Lo", "Nd", "Mn"])
LABEL = st.one_of(
    st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True),
    st.from_regex(r"[a-zA-Z0-9-]{1,20}", fullmatch=True),
    st.text(st.characters(categories=["Ll"]), min_size=1, max_size=12),
    st.text(LETTERS, min_size=1, max_size=20),
)
DOMAIN = st.builds(
    lambda labels, top: ".".join([*labels, top]), st.lists(LABEL, min_size=1, max_size=3), LABEL
)
ADDRESSES = st.builds(
    lambda local, domain: f"{local}@{domain}",
    st.one_of(
        st.from_regex(r"[a-z0-9]{1,10}([._+-][a-z0-9]{1,10})?", fullmatch=True),
        st.from_regex(r"[a-zA-Z0-9._+'-]{1,70}", fullmatch=True),
        st.text(LETTERS, min_size=1, max_size=8),
    ),
    DOMAIN,
)
LINKS = st.builds(
    lambda scheme, host, path: f"{scheme}://{host}/{path}",
    st.sampled_from(["https", "http", "HTTPS", "ftp"]),
    DOMAIN,
    PIECES.map("".join),
)
TEXTS = st.one_of(
    PIECES.map("".join),
    LONG_TEXT,
    st.builds(lambda a, b: f"{a}@{b}", PIECES.map("".join), PIECES.map("".join)),
    st.builds(
        lambda a, b: f"{a}@{b}.dk", st.from_regex(r"[a-z.]{1,70}", fullmatch=True), LONG_TEXT
    ),
    ADDRESSES,
    LINKS,
)
FIELDS = st.sampled_from([*LABELS, "language"])


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(field=FIELDS, text=TEXTS)
def test_add_and_import_accept_and_refuse_alike_and_what_they_accept_fits(
    wf: Workflow, field: str, text: str
) -> None:
    if not wf.cohorts():
        make_cohort(wf)
    serial = len(wf.participants()) + 1
    values = person(**{"email": f"p{serial}@odense.dk", field: text})
    try:
        wf.import_participants("H1", csv_file(values), dry_run=True)
        imported = True
    except ImportRejected:
        imported = False
    try:
        wf.enrol("H1", **values)  # writes: on PostgreSQL, a value too long would be refused
        added = True
    except GuardFailed:
        added = False
    assert imported == added, (field, text)
    event(f"{field} {'accepted' if added else 'refused'}")
    if added and field != "email":
        # The import writes through its own statements: they must fit the columns too.
        again = person(**{"email": f"q{serial}@odense.dk", field: text})
        assert wf.import_participants("H1", csv_file(again)).count == 1
