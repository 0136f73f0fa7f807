"""Importing participants from CSV files as spreadsheets save them: all rows or none."""

from __future__ import annotations

import codecs
import json
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import pytest
from conftest import DAYS, START, Cli, enrol, make_cohort
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from workflow import importer, records
from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import Workflow
from workflow.errors import ImportRejected, InvalidInput, LpsError, NotFound
from workflow.kernel import insert_participant
from workflow.migrate import upgrade
from workflow.records import AUDIT, DEADLINES, OUTBOX, PARTICIPANTS
from workflow.verify import verify_audit

DANISH_HEADER = "Navn;E-mail;Kommune;Arbejdsplads;Nærmeste leder;Leders e-mail;Sprog"
DANISH_ROWS = (
    "Søren Ærø;Soren@Odense.dk;Odense;Borgerservice;Mette Kjær;mette@odense.dk;da",
    "Åse Bøgh-Møller;aase@odense.dk;Odense;;Jørgen Lærke;jorgen@odense.dk;",
    "Zoë O'Brien;zoe@odense.dk;Odense;Ældrepleje;Anna Øst;anna@odense.dk;en",
)


def counts(database: Database) -> tuple[int, int, int]:
    """(participants, audit entries, outbox rows)."""
    with database.reading() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (PARTICIPANTS, AUDIT, OUTBOX)
        )


def rejected_lines(wf: Workflow, data: bytes, code: str = "H1") -> list[str]:
    with pytest.raises(ImportRejected) as caught:
        wf.import_participants(code, data)
    return caught.value.lines()


def danish_file(*rows: str) -> bytes:
    text = "\r\n".join([DANISH_HEADER, *rows]) + "\r\n"
    return codecs.BOM_UTF8 + text.encode("utf-8")


# -- files that import ----------------------------------------------------------------------------


# A short file is kept as it is checked; a long one is read a second time to be enrolled.
@pytest.mark.parametrize("reading", ["kept", "read again"])
def test_semicolon_file_with_bom_and_danish_headers_enrols_everyone(
    wf: Workflow, monkeypatch: pytest.MonkeyPatch, reading: str
) -> None:
    if reading == "read again":
        monkeypatch.setattr(importer, "KEPT_ROWS", len(DANISH_ROWS) - 1)
    counted = _Counted(importer._check_row)
    monkeypatch.setattr(importer, "_check_row", counted)
    make_cohort(wf)
    report = wf.import_participants("H1", danish_file(*DANISH_ROWS), name="hold.csv")

    assert report.count == 3
    assert report.delimiter_name == "semicolon"
    assert report.messages == 6
    people = wf.participants(cohort="H1")
    assert [(p.name, p.email, p.language, p.state) for p in people] == [
        ("Søren Ærø", "soren@odense.dk", "da", "enrolled"),
        ("Åse Bøgh-Møller", "aase@odense.dk", "da", "enrolled"),
        ("Zoë O'Brien", "zoe@odense.dk", "en", "enrolled"),
    ]
    assert [p.workplace for p in people] == ["Borgerservice", None, "Ældrepleje"]
    assert [p.manager_name for p in people] == ["Mette Kjær", "Jørgen Lærke", "Anna Øst"]
    assert list(report.ids) == [p.id for p in people]

    history = wf.history(people[1].id)
    assert [(e.event, e.to_state, e.note) for e in history] == [
        ("enrol", "enrolled", "imported from hold.csv, line 3")
    ]
    assert history[0].data == {"notified": ["welcome"]}
    assert sorted((m.rule, parseaddr(m.recipient)[1]) for m in wf.outbox()) == [
        ("welcome", email)
        for email in sorted(
            [
                "soren@odense.dk",
                "mette@odense.dk",
                "aase@odense.dk",
                "jorgen@odense.dk",
                "zoe@odense.dk",
                "anna@odense.dk",
            ]
        )
    ]
    assert verify_audit(wf.db).ok
    readings = 2 if reading == "read again" else 1
    assert counted.calls == readings * len(DANISH_ROWS)


class _Counted:
    def __init__(self, function: Any) -> None:
        self.function = function
        self.calls = 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.function(*args)


def test_imported_participants_get_the_same_path_as_one_enrolled_by_hand(wf: Workflow) -> None:
    make_cohort(wf)
    by_hand = enrol(wf, email="hand@odense.dk")
    wf.import_participants("H1", danish_file(DANISH_ROWS[0]))
    imported = wf.participant(wf.participants(cohort="H1")[1].id)

    def welcome_subjects(participant_id: int) -> list[str]:
        return sorted(m.subject for m in wf.outbox() if m.participant_id == participant_id)

    assert imported.next_due == wf.participant(by_hand).next_due
    assert [o.due for o in imported.obligations] == [
        o.due for o in wf.participant(by_hand).obligations
    ]
    assert welcome_subjects(imported.id) == welcome_subjects(by_hand)

    personal = {"id", "name", "email", "workplace", "manager_name", "manager_email"}
    with wf.db.reading() as conn:
        rows = [
            {k: v for k, v in row._mapping.items() if k not in personal | {"audit_head"}}
            for row in conn.execute(select(PARTICIPANTS).order_by(PARTICIPANTS.c.id))
        ]
        deadlines = [
            sorted(
                tuple(r)
                for r in conn.execute(
                    select(
                        DEADLINES.c.rule,
                        DEADLINES.c.occurrence,
                        DEADLINES.c.due_at,
                        DEADLINES.c.expires_at,
                        DEADLINES.c.status,
                    ).where(DEADLINES.c.participant_id == pid)
                )
            )
            for pid in (by_hand, imported.id)
        ]
    assert rows[0] == rows[1]
    assert deadlines[0] == deadlines[1] and deadlines[0]


def test_comma_file_with_english_headers_in_any_case_and_spacing(wf: Workflow) -> None:
    make_cohort(wf)
    data = "\n".join(
        [
            " Name ,EMAIL,Municipality,manager name,Manager_Email,LANGUAGE,JTI link,workplace",
            '"Jensen, Anne",anne@aarhus.dk,Aarhus,Bo Berg,bo@aarhus.dk,en,,',
            '"Kim ""KJ"" Nørgaard",kim@aarhus.dk,Aarhus,Bo Berg,bo@aarhus.dk,,https://jti.example/k,',
            "Ольга Петрова,olga@aarhus.dk,Aarhus,李 小龙,li@aarhus.dk,EN,,",
        ]
    )
    report = wf.import_participants("H1", data.encode("utf-8"))

    assert report.delimiter_name == "comma"
    people = wf.participants(cohort="H1")
    assert [(p.name, p.email, p.language) for p in people] == [
        ("Jensen, Anne", "anne@aarhus.dk", "en"),
        ('Kim "KJ" Nørgaard', "kim@aarhus.dk", "da"),
        ("Ольга Петрова", "olga@aarhus.dk", "en"),
    ]
    assert people[2].manager_name == "李 小龙"
    with wf.db.reading() as conn:
        links = conn.execute(select(PARTICIPANTS.c.jti_link).order_by(PARTICIPANTS.c.id)).all()
    assert [link for (link,) in links] == [None, "https://jti.example/k", None]


def test_blank_lines_and_empty_trailing_columns_are_ignored(wf: Workflow) -> None:
    make_cohort(wf)
    data = (
        "navn;e-mail;kommune;leder;leder e-mail;;\n"
        "Ib Ørn;ib@vejle.dk;Vejle;Ulla Ås;ulla@vejle.dk;;\n"
        ";;;;;;\n"
        "\n"
    ).encode()
    report = wf.import_participants("H1", data)
    assert report.count == 1
    assert wf.participants()[0].manager_email == "ulla@vejle.dk"


# -- files that are refused -----------------------------------------------------------------------


def test_a_latin1_file_is_refused_with_one_clear_line_and_nothing_is_written(
    wf: Workflow, tmp_path: Path
) -> None:
    make_cohort(wf)
    path = tmp_path / "hold.csv"
    path.write_bytes(
        (
            "name;email;municipality;manager_name;manager_email\n"
            "Lars Holm;lars@odense.dk;Odense;Mette Berg;mette@odense.dk\n"
            "Mads Kæmpe;mads@odense.dk;Odense;Mette Berg;mette@odense.dk\n"
        ).encode("latin-1")
    )
    with pytest.raises(InvalidInput) as caught:
        wf.import_participants("H1", path)
    assert str(caught.value) == (
        f"{path} is not UTF-8 (byte 0xE6 at line 3); save it as 'CSV UTF-8' and try again"
    )
    assert counts(wf.db) == (0, 0, 0)


def test_every_bad_row_is_reported_with_line_and_column_and_nothing_is_written(
    wf: Workflow,
) -> None:
    make_cohort(wf)
    enrol(wf, email="soren@example.dk")
    before = counts(wf.db)
    data = danish_file(
        "Lars Holm;lars@odense.dk;Odense;;Mette Kjær;mette@odense.dk;",  # 2: fine
        "Anne Berg;anne(at)odense.dk;Odense;;Mette Kjær;mette@odense.dk;",  # 3
        "Bo Ravn;bo@odense.dk;;;Mette Kjær;mette@odense.dk;",  # 4
        "Ida Lund;ida@odense.dk;Odense;;Mette Kjær;mette@odense.dk;fr",  # 5
        "Lars Holm;LARS@odense.dk;Odense;;Mette Kjær;mette@odense.dk;",  # 6
        "Per Falk;per@odense.dk;Odense;;Mette Kjær;;",  # 7
        "Søren Ærø;soren@example.dk;Odense;;Mette Kjær;mette@odense.dk;",  # 8
        ";eva@odense.dk;Odense;;Mette Kjær;mette.odense.dk;",  # 9: two problems
    )
    lines = rejected_lines(wf, data)
    assert lines == [
        "line 3, column E-mail: is not a valid email address: 'anne(at)odense.dk' has no @",
        "line 4, column Kommune: is missing",
        "line 5, column Sprog: is unknown ('fr'); use da or en",
        "line 6, column E-mail: lars@odense.dk is also on line 2",
        "line 7, column Leders e-mail: is missing",
        "line 8, column E-mail: soren@example.dk is already enrolled in cohort H1",
        "line 9, column Navn: is missing",
        "line 9, column Leders e-mail: is not a valid email address: 'mette.odense.dk' has no @",
        "8 problem(s) in the file; nothing was imported",
    ]
    assert counts(wf.db) == before


def test_unknown_repeated_and_missing_columns_are_named(wf: Workflow) -> None:
    make_cohort(wf)
    data = b"Navn;E-mail;Telefon;Kommune;Mail\nIb;ib@x.dk;12345678;Vejle;ib@x.dk\n"
    assert rejected_lines(wf, data) == [
        "line 1, column Telefon: unknown column; the columns are: navn, e-mail, kommune, "
        "arbejdsplads, nærmeste leder, leders e-mail, sprog, jti-link (or in English)",
        "line 1, column Mail: the same column as 'E-mail' (email); keep one of them",
        "line 1, column manager_name: missing column; add one named 'nærmeste leder' / "
        "'manager_name'",
        "line 1, column manager_email: missing column; add one named 'leders e-mail' / "
        "'manager_email'",
        "4 problem(s) in the file; nothing was imported",
    ]
    assert counts(wf.db) == (0, 0, 0)


def test_cells_that_do_not_fit_are_refused(wf: Workflow) -> None:
    make_cohort(wf)
    data = danish_file(
        f"{'A' * 201};a@x.dk;Odense;;Mette Kjær;mette@odense.dk;",
        "Nul\x00Tegn;b@x.dk;Odense;;Mette Kjær;mette@odense.dk;",
        "Cai Holm;c@x.dk;Odense;;Mette Kjær;mette@odense.dk;da;ekstra",
    )
    assert rejected_lines(wf, data) == [
        "line 2, column Navn: is 201 characters long; at most 200 fit",
        "line 3, column Navn: contains a control character (U+0000); remove it",
        "line 4: 8 cells, but the header names 7 columns",
        "3 problem(s) in the file; nothing was imported",
    ]
    assert counts(wf.db) == (0, 0, 0)


def test_a_stray_quote_is_reported_with_its_line_not_swallowed(wf: Workflow) -> None:
    make_cohort(wf)
    data = danish_file(
        "Lars Holm;lars@odense.dk;Odense;;Mette Kjær;mette@odense.dk;",
        '"Anne Berg;anne@odense.dk;Odense;;Mette Kjær;mette@odense.dk;',
        "Bo Ravn;bo@odense.dk;Odense;;Mette Kjær;mette@odense.dk;",
    )
    assert rejected_lines(wf, data) == [
        "line 3: the file cannot be read as CSV: unexpected end of data",
        "1 problem(s) in the file; nothing was imported",
    ]
    assert counts(wf.db) == (0, 0, 0)


def test_a_value_under_a_nameless_column_is_refused(wf: Workflow) -> None:
    make_cohort(wf)
    data = (
        "\n;;\n"
        "navn;e-mail;;kommune;leder;leders e-mail\n"
        "Ib Ørn;ib@vejle.dk;;Vejle;Ulla Ås;ulla@vejle.dk\n"
        "Eva Sø;eva@vejle.dk;hemmelig;Vejle;Ulla Ås;ulla@vejle.dk\n"
    ).encode()
    assert rejected_lines(wf, data) == [
        "line 5, column #3: a value in a column the header gives no name",
        "1 problem(s) in the file; nothing was imported",
    ]


def test_enrolment_after_day_one_is_refused(wf: Workflow, clock: FixedClock) -> None:
    make_cohort(wf)
    clock.set(datetime(2027, 3, 1, 12, 0))
    assert rejected_lines(wf, danish_file(DANISH_ROWS[0])) == [
        f"cohort H1 started on {DAYS[0].isoformat()}; enrolment closes before teaching day 1",
        "1 problem(s) in the file; nothing was imported",
    ]
    assert counts(wf.db) == (0, 0, 0)


def test_an_unknown_cohort_or_an_empty_file_is_refused(wf: Workflow) -> None:
    make_cohort(wf)
    with pytest.raises(NotFound, match="no cohort with code 'X9'"):
        wf.import_participants("X9", danish_file(*DANISH_ROWS))
    with pytest.raises(InvalidInput, match="the file is empty"):
        wf.import_participants("H1", codecs.BOM_UTF8 + b"\r\n")
    with pytest.raises(InvalidInput, match="the file is empty"):
        wf.import_participants("H1", b",,\n,\n")
    with pytest.raises(InvalidInput, match="has a header but no participants"):
        wf.import_participants("H1", danish_file())
    assert counts(wf.db) == (0, 0, 0)


def test_a_second_import_of_the_same_file_is_refused_as_a_whole(wf: Workflow) -> None:
    make_cohort(wf)
    wf.import_participants("H1", danish_file(*DANISH_ROWS))
    before = counts(wf.db)
    lines = rejected_lines(
        wf, danish_file(*DANISH_ROWS, "Ny Person;ny@odense.dk;Odense;;Bo;bo@odense.dk;")
    )
    assert lines[:3] == [
        "line 2, column E-mail: soren@odense.dk is already enrolled in cohort H1",
        "line 3, column E-mail: aase@odense.dk is already enrolled in cohort H1",
        "line 4, column E-mail: zoe@odense.dk is already enrolled in cohort H1",
    ]
    assert counts(wf.db) == before


def test_dry_run_checks_everything_and_writes_nothing(wf: Workflow) -> None:
    make_cohort(wf)
    report = wf.import_participants("H1", danish_file(*DANISH_ROWS), dry_run=True)
    assert report.dry_run
    assert [row.email for row in report.rows] == [
        "soren@odense.dk",
        "aase@odense.dk",
        "zoe@odense.dk",
    ]
    assert report.ids == ()
    assert counts(wf.db) == (0, 0, 0)
    with pytest.raises(ImportRejected):
        wf.import_participants("H1", danish_file(*DANISH_ROWS, DANISH_ROWS[0]), dry_run=True)


def test_an_email_enrolled_while_the_file_is_imported_refuses_the_whole_file(
    wf: Workflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_cohort(wf)
    checked = importer._checked

    def enrolled_meanwhile(
        conn: Connection, table: Any, cohort: Any, today: Any, *, keep: int
    ) -> Any:
        rows = checked(conn, table, cohort, today, keep=keep)
        insert_participant(
            conn,
            cohort,
            wf.now(),
            name="Åse Bøgh-Møller",
            email="aase@odense.dk",
            municipality="Odense",
            workplace=None,
            language="da",
            manager_name="Jørgen Lærke",
            manager_email="jorgen@odense.dk",
            jti_link=None,
        )
        return rows

    monkeypatch.setattr(importer, "_checked", enrolled_meanwhile)
    assert rejected_lines(wf, danish_file(*DANISH_ROWS)) == [
        "someone enrolled a participant in cohort H1 with an email from this file while it "
        "was being imported; nothing was imported, try again",
        "1 problem(s) in the file; nothing was imported",
    ]
    assert counts(wf.db) == (0, 0, 0)


def test_the_rows_written_through_the_driver_are_those_sqlalchemy_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bulk writes go straight to the driver with values converted by the column types; every
    stored value must be what an ordinary SQLAlchemy executemany stores."""

    def imported(name: str) -> dict[str, list[tuple[Any, ...]]]:
        database = Database(f"sqlite:///{tmp_path / name}")
        upgrade(database)
        wf = Workflow(database, clock=FixedClock(START), actor="tester")
        make_cohort(wf, jti_link="https://jti.example/h1")
        enrol(wf)
        rows = ["Ib Ørn;ib@vejle.dk;Vejle;;Ulla Ås;ulla@vejle.dk;en", *DANISH_ROWS]
        wf.import_participants("H1", danish_file(*rows), name="hold.csv")
        with database.reading() as conn:
            written = {
                table.name: [tuple(row) for row in conn.execute(select(table).order_by(table.c.id))]
                for table in (PARTICIPANTS, AUDIT, DEADLINES, OUTBOX)
            }
        database.dispose()
        return written

    in_bulk = imported("bulk.db")

    def through_sqlalchemy(conn: Connection, statement: Any, rows: list[Any]) -> int:
        return conn.execute(statement, rows).rowcount if rows else 0

    monkeypatch.setattr(records, "execute_many", through_sqlalchemy)
    monkeypatch.setattr(importer, "execute_many", through_sqlalchemy)
    assert in_bulk == imported("by-step.db")
    assert len(in_bulk["participants"]) == 5 and len(in_bulk["outbox"]) == 10


# -- the command ----------------------------------------------------------------------------------


@pytest.fixture
def cohort_cli(lps: Cli) -> Cli:
    days = ",".join(day.isoformat() for day in DAYS)
    result = lps("cohort", "create", "H1", "--name", "Hold 1", "--days", days, "--allow-holiday")
    assert result.exit_code == 0, result.output
    return lps


def test_cli_imports_a_file_and_says_what_it_did(
    cohort_cli: Cli, database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "tilmeldte.csv"
    path.write_bytes(danish_file(*DANISH_ROWS))
    result = cohort_cli("participant", "import", "H1", str(path))
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"Imported 3 participant(s) into H1 from {path} (ids 1-3); 6 welcome mail(s) queued.\n"
    )
    listing = cohort_cli("participant", "list", "--cohort", "H1", "--json")
    assert [p["name"] for p in json.loads(listing.output)] == [
        "Søren Ærø",
        "Åse Bøgh-Møller",
        "Zoë O'Brien",
    ]
    assert cohort_cli("audit", "verify").exit_code == 0


def test_cli_dry_run_lists_who_would_be_enrolled(
    cohort_cli: Cli, database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "tilmeldte.csv"
    path.write_bytes(danish_file(*DANISH_ROWS))
    result = cohort_cli("participant", "import", "H1", str(path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Åse Bøgh-Møller" in result.output
    assert result.output.endswith(
        "Dry run: 3 participant(s) would be enrolled in H1 (semicolon-separated); "
        "nothing was written.\n"
    )
    assert counts(database) == (0, 0, 0)


def test_cli_reads_standard_input(cohort_cli: Cli, database: Database) -> None:
    result = cohort_cli(
        "participant",
        "import",
        "H1",
        "-",
        "--json",
        input=danish_file(DANISH_ROWS[0]).decode("utf-8"),
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["source"] == "standard input"
    assert report["participants"][0]["name"] == "Søren Ærø"
    assert counts(database)[0] == 1


def test_cli_rejected_file_exits_1_with_every_problem(
    cohort_cli: Cli, database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "fejl.csv"
    path.write_bytes(
        danish_file(
            "Anne Berg;anne(at)odense.dk;Odense;;Mette Kjær;mette@odense.dk;",
            "Bo Ravn;bo@odense.dk;;;Mette Kjær;mette@odense.dk;",
        )
    )
    result = cohort_cli("participant", "import", "H1", str(path))
    assert result.exit_code == 1
    assert result.output == (
        "Error: line 2, column E-mail: is not a valid email address: 'anne(at)odense.dk' has no @\n"
        "Error: line 3, column Kommune: is missing\n"
        "Error: 2 problem(s) in the file; nothing was imported\n"
    )
    assert "Traceback" not in result.output
    assert counts(database) == (0, 0, 0)


def test_cli_encoding_error_exits_1(cohort_cli: Cli, database: Database, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("navn;e-mail\nBjørn;b@x.dk\n".encode("cp1252"))
    result = cohort_cli("participant", "import", "H1", str(path))
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {path} is not UTF-8 (byte 0xF8 at line 2); save it as 'CSV UTF-8' and try again\n"
    )
    assert counts(database) == (0, 0, 0)


def test_cli_usage_errors_exit_2(cohort_cli: Cli, tmp_path: Path) -> None:
    missing = cohort_cli("participant", "import", "H1", str(tmp_path / "findes-ikke.csv"))
    assert missing.exit_code == 2
    assert "No such file or directory" in missing.output
    assert cohort_cli("participant", "import", "H1").exit_code == 2
    assert cohort_cli("participant", "import").exit_code == 2


def test_cli_unknown_cohort_exits_1(cohort_cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "tilmeldte.csv"
    path.write_bytes(danish_file(*DANISH_ROWS))
    result = cohort_cli("participant", "import", "X9", str(path))
    assert result.exit_code == 1
    assert result.output == "Error: no cohort with code 'X9'; see `lps cohort list`\n"


# -- hostile files --------------------------------------------------------------------------------

CELLS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["Søren Ærø", "a@b.dk", "x@y.dk", "Odense", "da", "en", "", '"', "\r\n", "=1+1", "\x00"]
    ),
    st.emails(),
)
HEADERS = st.lists(
    st.one_of(
        st.sampled_from(
            ["navn", "e-mail", "kommune", "nærmeste leder", "leders e-mail", "sprog", "jti-link"]
        ),
        st.text(max_size=8),
    ),
    min_size=1,
    max_size=8,
)


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=200))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    header = draw(HEADERS)
    rows = draw(st.lists(st.lists(CELLS, max_size=9), max_size=6))
    text = "\n".join(delimiter.join(cells) for cells in [header, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    return text.encode(encoding, errors="replace")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=csv_files())
def test_random_files_are_imported_whole_or_refused_without_writing(
    sqlite_url: str, data: bytes
) -> None:
    database = Database(sqlite_url)
    upgrade(database)
    wf = Workflow(database, clock=FixedClock(START), actor="tester")
    if not wf.cohorts():
        make_cohort(wf)
    before = counts(database)
    try:
        report = wf.import_participants("H1", data)
    except LpsError as refused:
        assert refused.lines() and all(line.strip() for line in refused.lines())
        assert counts(database) == before
    else:
        assert report.count > 0
        assert counts(database)[0] == before[0] + report.count
    finally:
        database.dispose()
