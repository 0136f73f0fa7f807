"""Enrolling a file of participants at once: every row is checked first, then all are written
in one transaction, or none are."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from states.programme import STEP_NOTICES
from workflow import validation
from workflow.engine import _start_path, cohort_row, enrolment_closed
from workflow.errors import ImportRejected, InvalidField, InvalidInput
from workflow.records import (
    PARTICIPANTS,
    CohortRow,
    ParticipantRow,
    Step,
    enrolled_row,
    enrolment_values,
    execute_many,
)

_INSERT_PARTICIPANT = PARTICIPANTS.insert()

if TYPE_CHECKING:
    from workflow.engine import Workflow


@dataclass(frozen=True)
class Field:
    """One column the importer understands, with the header names it accepts."""

    name: str
    required: bool
    headers: tuple[str, ...]

    @property
    def shown(self) -> str:
        return " / ".join(f"'{header}'" for header in self.headers[:2])


FIELDS: tuple[Field, ...] = (
    Field("name", True, ("navn", "name", "fulde navn", "full name")),
    Field("email", True, ("e-mail", "email", "mail", "e-mailadresse", "email address")),
    Field("municipality", True, ("kommune", "municipality")),
    Field("workplace", False, ("arbejdsplads", "workplace", "arbejdssted")),
    Field(
        "manager_name",
        True,
        (
            "nærmeste leder",
            "manager_name",
            "leder",
            "leders navn",
            "nærmeste leders navn",
            "ledernavn",
            "manager",
            "manager name",
        ),
    ),
    Field(
        "manager_email",
        True,
        (
            "leders e-mail",
            "manager_email",
            "leder e-mail",
            "leder mail",
            "leders mail",
            "nærmeste leders e-mail",
            "nærmeste leder e-mail",
            "manager e-mail",
        ),
    ),
    Field("language", False, ("sprog", "language")),
    Field("jti_link", False, ("jti-link", "jti_link", "jti")),
)
FIELD_BY_NAME = {field.name: field for field in FIELDS}

_SEPARATORS = re.compile(r"[\s_\-.]+")
# Every enrolment queues the welcome mail for the participant and their manager.
_WELCOMES = sum(len(notice.recipients) for notice in STEP_NOTICES["enrol"])
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


def header_key(header: str) -> str:
    """A header as compared: case, spaces, hyphens and underscores do not matter."""
    return _SEPARATORS.sub("", header.strip().casefold())


HEADER_FIELDS: dict[str, str] = {
    header_key(header): field.name for field in FIELDS for header in field.headers
}


@dataclass(frozen=True)
class ImportRow:
    """One participant read from the file, cleaned and checked."""

    line: int
    name: str
    email: str
    municipality: str
    workplace: str | None
    manager_name: str
    manager_email: str
    language: str
    jti_link: str | None

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ImportReport:
    """What an import enrolled, or with ``dry_run`` would enrol."""

    cohort: str
    source: str
    delimiter: str
    rows: tuple[ImportRow, ...]
    ids: tuple[int, ...]
    messages: int
    dry_run: bool

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def delimiter_name(self) -> str:
        return _DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))

    def as_json(self) -> dict[str, Any]:
        return {
            "cohort": self.cohort,
            "source": self.source,
            "delimiter": self.delimiter_name,
            "dry_run": self.dry_run,
            "count": self.count,
            "messages": self.messages,
            "participants": [
                {"id": self.ids[i] if self.ids else None, **row.as_json()}
                for i, row in enumerate(self.rows)
            ],
        }


@dataclass(frozen=True)
class CsvFile:
    """A decoded CSV file: its delimiter, the header as written per field, and the data rows
    with the line each starts on."""

    delimiter: str
    columns: dict[str, str]
    positions: dict[str, int]
    width: int
    rows: list[tuple[int, list[str]]]


# -- reading ------------------------------------------------------------------------------------


def decode(data: bytes, source: str) -> str:
    """The file's text: UTF-8, with or without a byte-order mark; anything else is refused
    with one line saying where the first foreign byte is."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInput(
            f"{source} is not UTF-8 (byte 0x{data[exc.start]:02X} at line {line}); "
            "save it as 'CSV UTF-8' and try again"
        ) from None


def sniff_delimiter(text: str) -> str:
    """Comma, semicolon or tab: whichever the header line holds most of (comma on a tie)."""
    header = next((line for line in text.split("\n") if line.strip()), "")
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] > counts[","] else ","


def read_csv(text: str, source: str) -> CsvFile:
    """Parse the text into a header and data rows; refuse unknown, repeated or missing
    columns, naming each."""
    empty = InvalidInput(
        f"{source} is empty; the first line must name the columns, e.g. "
        "navn;e-mail;kommune;nærmeste leder;leders e-mail"
    )
    if not text.strip():
        raise empty
    delimiter = sniff_delimiter(text)
    # Strict, so that a stray quote is reported instead of swallowing the rows after it.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[tuple[int, list[str]]] = []
    end = 0
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                records.append((end + 1, record))
            end = reader.line_num
    except csv.Error as exc:
        raise ImportRejected(
            [InvalidInput(f"the file cannot be read as CSV: {exc}", line=end + 1)]
        ) from None
    if not records:  # separators and blanks only
        raise empty
    header_line, header = records[0]
    columns, positions, problems = _read_header(header, header_line)
    if problems:
        raise ImportRejected(problems)
    rows = records[1:]
    if not rows:
        raise InvalidInput(f"{source} has a header but no participants below it")
    return CsvFile(delimiter, columns, positions, len(header), rows)


def _read_header(
    header: list[str], line: int
) -> tuple[dict[str, str], dict[str, int], list[InvalidInput]]:
    columns: dict[str, str] = {}
    positions: dict[str, int] = {}
    problems: list[InvalidInput] = []
    known = ", ".join(field.headers[0] for field in FIELDS)
    unknown: list[str] = []
    repeated: dict[str, list[str]] = {}
    for index, raw in enumerate(header):
        title = raw.strip().lstrip("\ufeff").strip()
        if not title:
            continue
        name = HEADER_FIELDS.get(header_key(title))
        if name is None:
            unknown.append(title)
        elif name in columns:
            repeated.setdefault(name, []).append(title)
        else:
            columns[name] = title
            positions[name] = index
    # One line for each kind of problem, however many columns have it.
    if len(unknown) == 1:
        problems.append(
            InvalidInput(
                f"unknown column; the columns are: {known} (or in English)",
                line=line,
                column=unknown[0],
            )
        )
    elif unknown:
        problems.append(
            InvalidInput(
                f"unknown columns {_some(unknown)}; the columns are: {known} (or in English)",
                line=line,
            )
        )
    for name, titles in repeated.items():
        first = f"'{columns[name]}' ({name})"
        if len(titles) == 1:
            message = f"the same column as {first}; keep one of them"
            problems.append(InvalidInput(message, line=line, column=titles[0]))
        else:
            message = f"{len(titles)} more columns the same as {first}: {_some(titles)}"
            problems.append(InvalidInput(f"{message}; keep one of them", line=line))
    for field in FIELDS:
        if field.required and field.name not in columns:
            problems.append(
                InvalidInput(
                    f"missing column; add one named {field.shown}", line=line, column=field.name
                )
            )
    return columns, positions, problems


def _some(items: list[str], shown: int = 3) -> str:
    """The first few of many items, and how many more there are."""
    if len(items) <= shown + 1:
        return ", ".join(items)
    return f"{', '.join(items[:shown])} … and {len(items) - shown:,} more"


# -- checking -----------------------------------------------------------------------------------


def check_rows(
    table: CsvFile,
    cohort: CohortRow,
    *,
    today: date,
    enrolled: set[str],
) -> tuple[list[ImportRow], list[InvalidInput]]:
    """Every row checked against the enrolment rules, the file and the cohort; returns the
    clean rows and every problem found."""
    problems: list[InvalidInput] = [
        InvalidInput(problem) for problem in enrolment_closed(cohort, today)
    ]
    seen: dict[str, int] = {}
    clean: list[ImportRow] = []
    for line, cells in table.rows:
        row, row_problems = _check_row(table, line, cells)
        if row is not None:
            if row.email in enrolled:
                row_problems.append(
                    InvalidInput(
                        f"{row.email} is already enrolled in cohort {cohort.code}",
                        line=line,
                        column=table.columns["email"],
                    )
                )
            elif row.email in seen:
                row_problems.append(
                    InvalidInput(
                        f"{row.email} is also on line {seen[row.email]}",
                        line=line,
                        column=table.columns["email"],
                    )
                )
            else:
                seen[row.email] = line
        if row_problems:
            problems += row_problems
        elif row is not None:
            clean.append(row)
    return clean, problems


def _check_row(
    table: CsvFile, line: int, cells: list[str]
) -> tuple[ImportRow | None, list[InvalidInput]]:
    problems: list[InvalidInput] = []
    if len(cells) > table.width and any(cell.strip() for cell in cells[table.width :]):
        problems.append(
            InvalidInput(
                f"{len(cells)} cells, but the header names {table.width} columns",
                line=line,
            )
        )
    used = set(table.positions.values())
    nameless = [
        f"#{index + 1}"
        for index, cell in enumerate(cells[: table.width])
        if index not in used and cell.strip()
    ]
    if len(nameless) == 1:
        problems.append(
            InvalidInput(
                "a value in a column the header gives no name", line=line, column=nameless[0]
            )
        )
    elif nameless:
        problems.append(
            InvalidInput(
                f"values in {len(nameless)} columns the header gives no name: {_some(nameless)}",
                line=line,
            )
        )
    values: dict[str, Any] = {}
    for field in FIELDS:
        position = table.positions.get(field.name)
        value = cells[position] if position is not None and position < len(cells) else ""
        # The same rule as `lps participant add` and Workflow.enrol, so that an import never
        # enrols someone they would refuse, nor refuses someone they would enrol.
        try:
            values[field.name] = validation.PARTICIPANT[field.name].clean(value)
        except InvalidField as problem:
            column = table.columns.get(field.name, field.name)
            problems.append(InvalidInput(problem.reason, line=line, column=column))
    if problems:
        return None, problems
    return ImportRow(line=line, **values), []


# -- importing ----------------------------------------------------------------------------------


def import_participants(
    workflow: Workflow,
    code: str,
    source: str | Path | bytes,
    dry_run: bool = False,
    *,
    name: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Enrol every participant in a CSV file (a path, or the file's bytes) in cohort ``code``.

    All or nothing: when any row breaks a rule, :class:`ImportRejected` names every problem by
    line and column and nothing is written. Otherwise all rows are enrolled in one
    transaction, each with the welcome mail queued as for a single enrolment. ``dry_run``
    checks everything and writes nothing. ``progress`` is called with the number of rows done.
    """
    if isinstance(source, bytes):
        data, label = source, name or "the file"
    else:
        path = Path(source)
        label = name or str(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read {label}: {exc.strerror or exc}") from None
    table = read_csv(decode(data, label), label)
    now = workflow.now()
    today = workflow.today()
    if dry_run:
        with workflow.db.reading() as conn:
            cohort = cohort_row(conn, code)
            rows = _checked(conn, table, cohort, today)
        if progress:
            progress(len(rows))
        return ImportReport(
            cohort.code, label, table.delimiter, tuple(rows), (), _WELCOMES * len(rows), True
        )
    with workflow.db.transaction() as conn:
        cohort = cohort_row(conn, code)
        rows = _checked(conn, table, cohort, today)
        participants = _insert_all(conn, cohort, rows, now)
        steps = []
        source_name = Path(label).name
        for row, participant in zip(rows, participants, strict=True):
            step = Step(participant, cohort, now, workflow.actor)
            _start_path(step, note=f"imported from {source_name}, line {row.line}")
            steps.append(step)
            if progress:
                progress(1)
        workflow._write(conn, steps)
    return ImportReport(
        cohort.code,
        label,
        table.delimiter,
        tuple(rows),
        tuple(p.id for p in participants),
        sum(len(step.outbox) for step in steps),
        False,
    )


def _checked(conn: Connection, table: CsvFile, cohort: CohortRow, today: date) -> list[ImportRow]:
    enrolled = set(
        conn.execute(
            select(PARTICIPANTS.c.email).where(PARTICIPANTS.c.cohort_id == cohort.id)
        ).scalars()
    )
    rows, problems = check_rows(table, cohort, today=today, enrolled=enrolled)
    if problems:
        raise ImportRejected(problems)
    return rows


def _insert_all(
    conn: Connection, cohort: CohortRow, rows: list[ImportRow], now: datetime
) -> list[ParticipantRow]:
    """Insert every participant and return the rows as the engine would read them back."""
    values = [
        enrolment_values(
            cohort.id,
            now,
            name=row.name,
            email=row.email,
            municipality=row.municipality,
            workplace=row.workplace,
            language=row.language,
            manager_name=row.manager_name,
            manager_email=row.manager_email,
            jti_link=row.jti_link,
        )
        for row in rows
    ]
    try:
        execute_many(conn, _INSERT_PARTICIPANT, values)
    except IntegrityError:
        raise ImportRejected(
            [
                InvalidInput(
                    f"someone enrolled a participant in cohort {cohort.code} with an email "
                    "from this file while it was being imported; nothing was imported, "
                    "try again"
                )
            ]
        ) from None
    # An email is unique within a cohort, so it finds each new row's id.
    ids = {
        email: participant_id
        for email, participant_id in conn.execute(
            select(PARTICIPANTS.c.email, PARTICIPANTS.c.id).where(
                PARTICIPANTS.c.cohort_id == cohort.id
            )
        )
    }
    return [enrolled_row(ids[row["email"]], row) for row in values]
