"""Enrolling a file of participants at once: every row is checked first, then all are written
in one transaction, or none are.

The file is read row by row, in passes, so that a large file is never held as rows: the
checking pass keeps only each email's line (for the duplicate check), and the writing pass
enrols the participants chunk by chunk inside the one transaction.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any, overload

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from states.programme import STEP_NOTICES
from workflow import validation
from workflow.collector import collector_paused
from workflow.errors import ImportRejected, InvalidField, InvalidInput
from workflow.kernel import Runtime, start_path, write
from workflow.queries import cohort_row
from workflow.records import (
    PARTICIPANTS,
    CohortRow,
    ParticipantRow,
    Step,
    enrolled_row,
    enrolment_values,
    execute_many,
)
from workflow.validation import enrolment_closed

__all__ = [
    "CHUNK",
    "FIELDS",
    "FIELD_BY_NAME",
    "HEADER_FIELDS",
    "CsvFile",
    "Field",
    "ImportReport",
    "ImportRow",
    "ImportedRows",
    "check_rows",
    "decode",
    "header_key",
    "import_participants",
    "read_csv",
    "sniff_delimiter",
]


_INSERT_PARTICIPANT = PARTICIPANTS.insert()
# Participants enrolled per batch of writes: their welcome mails, the bulk of what a batch
# holds, stay a few megabytes.
CHUNK = 500
# A file of up to this many rows is kept as it is checked, so it is read and cleaned once, its
# report holding the rows; a longer one is read again to be enrolled and again for each pass
# over its report's rows, so that an import's memory does not grow with its file.
KEPT_ROWS = 20_000


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
    rows: Sequence[ImportRow]
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
    """A CSV file: its delimiter, the header as written per field, and the data rows with the
    line each starts on (read from the file afresh on every pass)."""

    delimiter: str
    columns: dict[str, str]
    positions: dict[str, int]
    width: int
    rows: Iterable[tuple[int, list[str]]]


class _DataRows:
    """The data rows of a file, parsed again on each iteration rather than kept."""

    def __init__(self, data: bytes, source: str, delimiter: str):
        self.data, self.source, self.delimiter = data, source, delimiter

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        return islice(_records(self.data, self.source, self.delimiter), 1, None)


class ImportedRows(Sequence[ImportRow]):
    """The participants of a checked file, cleaned as the import enrolled them; read from the
    file again on each pass, so that a report of 100,000 rows does not hold them."""

    def __init__(self, table: CsvFile, length: int):
        self.table, self.length = table, length

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[ImportRow]:
        return _clean_rows(self.table)

    @overload
    def __getitem__(self, index: int) -> ImportRow: ...

    @overload
    def __getitem__(self, index: slice) -> list[ImportRow]: ...

    def __getitem__(self, index: int | slice) -> ImportRow | list[ImportRow]:
        if isinstance(index, slice):
            return list(self)[index]
        position = index + self.length if index < 0 else index
        if not 0 <= position < self.length:
            raise IndexError(index)
        return next(islice(self, position, None))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(other) == self.length and all(
                a == b for a, b in zip(self, other, strict=False)
            )
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ImportedRows({self.length} rows)"


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


def _lines(data: bytes, source: str) -> Iterator[str]:
    """The file's text line by line, each with its line end (as :mod:`csv` wants it), decoded
    as it is read; refused as :func:`decode` refuses it when it is not UTF-8."""
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    try:
        yield from stream
    except UnicodeDecodeError:
        decode(data, source)  # raises, saying where the first foreign byte is
        raise


def _head(data: bytes, source: str) -> str:
    """The text up to the end of its first line that is not blank: all that
    :func:`sniff_delimiter` looks at."""
    head: list[str] = []
    line_start = 0
    for piece in _lines(data, source):
        head.append(piece)
        if piece.endswith("\n"):
            if "".join(head[line_start:]).strip():
                break
            line_start = len(head)
    return "".join(head)


def sniff_delimiter(text: str) -> str:
    """Comma, semicolon or tab: whichever the header line holds most of (comma on a tie)."""
    header = next((line for line in text.split("\n") if line.strip()), "")
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] > counts[","] else ","


def read_csv(data: bytes, source: str) -> CsvFile:
    """Read the file's header and make sure every row below it can be read; refuse unknown,
    repeated or missing columns, naming each. The rows are read again by each pass over
    :attr:`CsvFile.rows`."""
    empty = InvalidInput(
        f"{source} is empty; the first line must name the columns, e.g. "
        "navn;e-mail;kommune;nærmeste leder;leders e-mail"
    )
    delimiter = sniff_delimiter(_head(data, source))
    records = _records(data, source, delimiter)
    first = next(records, None)
    if first is None:  # blanks, or separators and blanks only
        raise empty
    header_line, header = first
    columns, positions, problems = _read_header(header, header_line)
    # The rest of the file is read before the header is judged: a file that is not UTF-8 or
    # not CSV further down is refused as such, whatever its header says.
    rows = sum(1 for _ in records)
    if problems:
        raise ImportRejected(problems)
    if not rows:
        raise InvalidInput(f"{source} has a header but no participants below it")
    return CsvFile(delimiter, columns, positions, len(header), _DataRows(data, source, delimiter))


def _records(data: bytes, source: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Every record that is not blank, with the line it starts on."""
    lines = _lines(data, source)
    # Strict, so that a stray quote is reported instead of swallowing the rows after it.
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    end = 0
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                yield end + 1, record
            end = reader.line_num
    except csv.Error as exc:
        for _ in lines:  # a byte that is not UTF-8 further down is what to report
            pass
        raise ImportRejected(
            [InvalidInput(f"the file cannot be read as CSV: {exc}", line=end + 1)]
        ) from None


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


# -- checking -----------------------------------------------------------------------------------


def _some(items: list[str], shown: int = 3) -> str:
    """The first few of many items, and how many more there are."""
    if len(items) <= shown + 1:
        return ", ".join(items)
    return f"{', '.join(items[:shown])} … and {len(items) - shown:,} more"


def check_rows(
    table: CsvFile,
    cohort: CohortRow,
    *,
    today: date,
    enrolled: set[str],
    problems: list[InvalidInput],
) -> Iterator[ImportRow]:
    """Every row checked against the enrolment rules, the file and the cohort, as it is read;
    yields the clean rows and adds every problem found to ``problems``."""
    problems += [InvalidInput(problem) for problem in enrolment_closed(cohort, today)]
    seen: dict[str, int] = {}
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
            yield row


def _clean_rows(table: CsvFile) -> Iterator[ImportRow]:
    """The rows of a file :func:`check_rows` found clean, cleaned again as they are read."""
    for line, cells in table.rows:
        row, problems = _check_row(table, line, cells)
        if row is None:  # the file is held as bytes, so a second reading finds the same
            raise ImportRejected(problems)
        yield row


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
    runtime: Runtime,
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
    table = read_csv(data, label)
    now = runtime.now()
    today = runtime.today()
    if dry_run:
        with runtime.db.reading() as conn:
            cohort = cohort_row(conn, code)
            count, checked = _checked(conn, table, cohort, today, keep=KEPT_ROWS)
        if progress:
            progress(count)
        return ImportReport(
            cohort.code,
            label,
            table.delimiter,
            checked if checked is not None else ImportedRows(table, count),
            (),
            _WELCOMES * count,
            True,
        )
    ids: list[int] = []
    messages = 0
    source_name = Path(label).name
    with runtime.db.transaction() as conn:
        cohort = cohort_row(conn, code)
        count, checked = _checked(conn, table, cohort, today, keep=KEPT_ROWS)
        rows = iter(checked) if checked is not None else _clean_rows(table)
        # In chunks, so that only one chunk's rows, audit entries and mails are held at a
        # time; the transaction around them keeps the import all or nothing.
        while chunk := list(islice(rows, CHUNK)):
            with collector_paused():
                participants = _insert_all(conn, cohort, chunk, now)
                steps = []
                for row, participant in zip(chunk, participants, strict=True):
                    step = Step(participant, cohort, now, runtime.actor, channel=runtime.channel)
                    note = f"imported from {source_name}, line {row.line}"
                    start_path(runtime, step, note=note)
                    steps.append(step)
                write(conn, steps)
            ids += (p.id for p in participants)
            messages += sum(len(step.outbox) for step in steps)
            if progress:
                progress(len(chunk))
    return ImportReport(
        cohort.code,
        label,
        table.delimiter,
        checked if checked is not None else ImportedRows(table, count),
        tuple(ids),
        messages,
        False,
    )


def _checked(
    conn: Connection, table: CsvFile, cohort: CohortRow, today: date, *, keep: int
) -> tuple[int, list[ImportRow] | None]:
    """Check the whole file, keeping no more than each email's line and, for a file of up to
    ``keep`` rows, the clean rows; returns the number of rows and the rows kept (``None`` for
    a longer file), or raises :class:`ImportRejected` with every problem found."""
    enrolled = set(
        conn.execute(
            select(PARTICIPANTS.c.email).where(PARTICIPANTS.c.cohort_id == cohort.id)
        ).scalars()
    )
    problems: list[InvalidInput] = []
    count = 0
    kept: list[ImportRow] | None = []
    for row in check_rows(table, cohort, today=today, enrolled=enrolled, problems=problems):
        count += 1
        if kept is not None:
            if count > keep:
                kept = None
            else:
                kept.append(row)
    if problems:
        raise ImportRejected(problems)
    return count, kept


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
            programme=cohort.programme,
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
                PARTICIPANTS.c.cohort_id == cohort.id,
                PARTICIPANTS.c.email.in_([row["email"] for row in values]),
            )
        )
    }
    return [enrolled_row(ids[row["email"]], row) for row in values]
