"""Rows as the engine reads them, and the unit of work that writes one participant's step."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cache, cached_property
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import LargeBinary, Result, Row, and_, bindparam, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.base import Executable

from states.facts import Facts
from states.programme import (
    BUILTIN,
    DEFINITION_VERSION,
    FINAL_STATES,
    INITIAL_STATE,
    NOTICES_OUTLIVING_PATH,
    CohortPlan,
    Programme,
    Situation,
)
from states.rules import TIMED_RULE_BY_NAME, DueMoment, timed_rule_by_name
from workflow.attachments import Attachment
from workflow.audit import GENESIS, entry_hash, facts_digest, key_id, note_digest
from workflow.models import (
    APPROVALS,
    ATTACHMENTS,
    AUDIT,
    COHORTS,
    DEADLINES,
    DIGEST_CHECKS,
    LINKS,
    OUTBOX,
    PARTICIPANTS,
    UTCDateTime,
)
from workflow.programmes import programme_of

__all__ = [
    "LINK_DONE",
    "TABLES",
    "CohortRow",
    "ParticipantRow",
    "Step",
    "enrolled_row",
    "enrolment_values",
    "execute_many",
    "insert_ignoring_duplicates",
    "load_cohorts",
    "write_steps",
]


TABLES = {
    table.name: table
    for table in (
        COHORTS,
        PARTICIPANTS,
        AUDIT,
        DEADLINES,
        OUTBOX,
        DIGEST_CHECKS,
        LINKS,
        ATTACHMENTS,
    )
}


@dataclass(frozen=True)
class CohortRow:
    id: int
    code: str
    name: str
    days: tuple[date, ...]
    venue: str | None
    admin_email: str | None
    max_absences: int
    send_hour: int
    jti_link: str | None
    articles: list[dict[str, str]]
    schedule_sequence: int
    self_service: str = "off"
    link_days: int = 28
    programme: str = DEFINITION_VERSION
    closed: frozenset[date] = frozenset()
    # Dates beyond the programme's last day, kept for participants who stay on a version with
    # more days when the cohort moves to one with fewer.
    later_days: tuple[date, ...] = ()
    _versions: dict[str, CohortRow] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @cached_property
    def plan(self) -> CohortPlan:
        return CohortPlan(
            self.code,
            self.days,
            self.max_absences,
            self.send_hour,
            programme_of(self.programme),
            self.closed,
        )

    @property
    def rules(self) -> Programme:
        """The programme version this cohort runs."""
        return programme_of(self.programme) or BUILTIN

    @property
    def stored_days(self) -> tuple[date, ...]:
        """Every date the cohort's row holds, its own teaching days first."""
        return self.days + self.later_days

    def as_version(self, version: str) -> CohortRow:
        """The cohort as a participant on ``version`` sees it: that version's rules, texts and
        number of days, the cohort's dates and settings."""
        if version == self.programme:
            return self
        found = self._versions.get(version)
        if found is None:
            found = self._versions[version] = _on_version(self, version)
        return found

    @classmethod
    def from_row(cls, row: Row[Any]) -> CohortRow:
        m = row
        stored = tuple(
            day
            for day in (m.day_1, m.day_2, m.day_3, m.day_4, m.day_5, m.day_6, m.day_7, m.day_8)
            if day is not None
        )
        count = (programme_of(m.programme) or BUILTIN).definition.day_count
        return cls(
            id=m.id,
            code=m.code,
            name=m.name,
            days=stored[:count],
            later_days=stored[count:],
            venue=m.venue,
            admin_email=m.admin_email,
            max_absences=m.max_absences,
            send_hour=m.send_hour,
            jti_link=m.jti_link,
            articles=list(m.articles or []),
            schedule_sequence=m.schedule_sequence,
            self_service=m.self_service,
            link_days=m.link_days,
            programme=m.programme,
            closed=frozenset(date.fromisoformat(day) for day in m.closed_days or ()),
        )


def _on_version(cohort: CohortRow, version: str) -> CohortRow:
    count = (programme_of(version) or BUILTIN).definition.day_count
    stored = cohort.stored_days
    return replace(cohort, programme=version, days=stored[:count], later_days=stored[count:])


@dataclass(frozen=True)
class ParticipantRow:
    id: int
    cohort_id: int
    name: str
    email: str
    municipality: str
    workplace: str | None
    language: str
    manager_name: str
    manager_email: str
    jti_link: str | None
    state: str
    version: int
    definition_version: str
    facts: Facts
    audit_seq: int
    audit_head: str
    network_group: int | None
    deferred_from_id: int | None
    created_at: datetime
    erased_at: datetime | None
    updated_at: datetime

    @property
    def rules(self) -> Programme:
        """The programme version this participant's path was last written under: their
        cohort's, unless they had finished when the cohort moved to another."""
        return programme_of(self.definition_version) or BUILTIN

    @classmethod
    def from_row(cls, row: Row[Any]) -> ParticipantRow:
        if row._fields == _PARTICIPANT_COLUMNS:
            return cls._from_columns(row)
        participant = object.__new__(cls)
        fields = participant.__dict__
        for name in _PARTICIPANT_FIELDS:
            fields[name] = getattr(row, name)
        fields["facts"] = Facts.from_json(row.facts)
        return participant

    @classmethod
    def from_rows(cls, result: Result[Any]) -> Iterator[ParticipantRow]:
        """Each row of ``result`` as :meth:`from_row` reads it, its columns looked at once."""
        whole = tuple(result.keys()) == _PARTICIPANT_COLUMNS
        return map(cls._from_columns if whole else cls.from_row, result)

    @classmethod
    def _from_columns(cls, row: Row[Any]) -> ParticipantRow:
        # Filled in directly: a frozen dataclass's __init__ sets each of its twenty fields
        # through object.__setattr__, which costs as much as reading the row. A row of the
        # table's own columns in their order (``select(PARTICIPANTS)``) is taken whole; reading
        # twenty attributes of a row one by one costs as much again.
        participant = object.__new__(cls)
        fields = participant.__dict__
        fields.update(zip(_PARTICIPANT_COLUMNS, row, strict=True))
        fields["facts"] = Facts.from_json(fields["facts"])
        return participant


_PARTICIPANT_FIELDS = tuple(name for name in ParticipantRow.__dataclass_fields__ if name != "facts")
_PARTICIPANT_COLUMNS = tuple(PARTICIPANTS.c.keys())
# Every column is a field and every field a column, so a whole row fills a participant exactly.
assert set(_PARTICIPANT_COLUMNS) == set(ParticipantRow.__dataclass_fields__)


def enrolment_values(
    cohort_id: int,
    now: datetime,
    *,
    name: str,
    email: str,
    municipality: str,
    workplace: str | None,
    language: str,
    manager_name: str,
    manager_email: str,
    jti_link: str | None,
    deferred_from: int | None = None,
    programme: str = DEFINITION_VERSION,
) -> dict[str, Any]:
    """The participants row of a new enrolment, before its first step writes to it."""
    return {
        "cohort_id": cohort_id,
        "name": name,
        "email": email,
        "municipality": municipality,
        "workplace": workplace,
        "language": language,
        "manager_name": manager_name,
        "manager_email": manager_email,
        "jti_link": jti_link,
        "state": INITIAL_STATE,
        "version": 0,
        "definition_version": programme,
        "facts": {},
        "audit_seq": 0,
        "audit_head": "",
        "deferred_from_id": deferred_from,
        "created_at": now,
        "updated_at": now,
    }


def enrolled_row(participant_id: int, values: dict[str, Any]) -> ParticipantRow:
    """The row :func:`enrolment_values` inserted, as the engine reads it; its audit chain
    starts at the genesis hash."""
    return ParticipantRow(
        id=participant_id,
        cohort_id=values["cohort_id"],
        name=values["name"],
        email=values["email"],
        municipality=values["municipality"],
        workplace=values["workplace"],
        language=values["language"],
        manager_name=values["manager_name"],
        manager_email=values["manager_email"],
        jti_link=values["jti_link"],
        state=INITIAL_STATE,
        version=0,
        definition_version=values["definition_version"],
        facts=Facts(),
        audit_seq=0,
        audit_head=GENESIS,
        network_group=None,
        deferred_from_id=values["deferred_from_id"],
        created_at=values["created_at"],
        erased_at=None,
        updated_at=values["updated_at"],
    )


def load_cohorts(conn: Connection, ids: set[int]) -> dict[int, CohortRow]:
    rows = conn.execute(select(COHORTS).where(COHORTS.c.id.in_(ids))).all()
    return {row.id: CohortRow.from_row(row) for row in rows}


@dataclass
class Step:
    """Everything one participant's step writes, gathered before one transaction writes it.

    The state, the facts, the version, the audit entries, the deadlines, the outbox rows and
    the shared files they carry go to the database together, or none of them do.
    """

    row: ParticipantRow
    cohort: CohortRow
    now: datetime
    actor: str
    state: str = ""
    facts: Facts = field(default_factory=Facts)
    seq: int = 0
    head: str = ""
    audit: list[dict[str, Any]] = field(default_factory=list)
    deadlines: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    # The shared files the outbox rows name, by digest (ATTACHMENTS rows).
    attachments: dict[str, Attachment] = field(default_factory=dict)
    resolved_deadlines: list[tuple[int, str, str]] = field(default_factory=list)
    host_deadline: DueMoment | None = None
    # The later cohort a deferral moves the participant to, enrolled in the same transaction.
    moves_to: str | None = None
    # How the step came: cli, link or scheduler (the audit entries' channel).
    channel: str = "cli"
    # The personal links the step's mails carry (LINKS rows).
    links: list[dict[str, Any]] = field(default_factory=list)
    # The facts the audit entries sealed and their document, written with the row unredone.
    _sealed_facts: tuple[Facts | None, dict[str, Any]] = field(
        default=(None, {}), init=False, repr=False
    )

    def __post_init__(self) -> None:
        # A participant follows the version their path is on, which is not their cohort's
        # when a migration left them where they were.
        self.cohort = self.cohort.as_version(self.row.definition_version)
        self.state = self.row.state
        self.facts = self.row.facts
        self.seq = self.row.audit_seq
        self.head = self.row.audit_head

    def situation(self) -> Situation:
        return Situation(self.state, self.facts, self.cohort.plan, self.row.municipality, self.now)

    @property
    def changed(self) -> bool:
        return bool(self.audit or self.resolved_deadlines or self.outbox or self.links)

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    def record(
        self,
        event: str,
        from_state: str | None,
        to_state: str,
        note: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append one audit entry; :meth:`seal` chains it when the step is written."""
        self.seq += 1
        entry = {
            "participant_id": self.row.id,
            "seq": self.seq,
            "at": self.now,
            "actor": self.actor,
            "event": event,
            "from_state": from_state,
            "to_state": to_state,
            "note": note,
            "note_digest": note_digest(note),
            "data": data or {},
            "channel": self.channel,
        }
        self.audit.append(entry)
        return entry

    def seal(self, role: str, key: str | None) -> None:
        """Chain the step's entries to the participant's head, each covering the facts the
        step leaves, the database ``role`` that writes them and, with ``key``, sealed as
        an HMAC."""
        head = self.row.audit_head or GENESIS
        self._sealed_facts = (self.facts, self.facts.to_json())
        facts = facts_digest(self._sealed_facts[1])
        for entry in self.audit:
            entry.update(prev_hash=head, role=role, facts_digest=facts, key_id=key_id(key))
            head = entry["hash"] = entry_hash(
                prev_hash=head,
                participant_id=entry["participant_id"],
                seq=entry["seq"],
                at=entry["at"],
                actor=entry["actor"],
                event=entry["event"],
                from_state=entry["from_state"],
                to_state=entry["to_state"],
                digest=entry["note_digest"],
                data=entry["data"],
                role=role,
                facts=facts,
                key=key,
                channel=entry["channel"],
            )
        self.head = head

    def schedule(
        self,
        moments: Iterable[DueMoment],
        *,
        skip_passed: bool = False,
        passed_reason: str = "due before the participant was enrolled",
    ) -> None:
        """Add deadline rows. With ``skip_passed`` (at enrolment), a reminder whose moment came
        before the participant existed is recorded as skipped rather than sent late: the
        welcome mail already gives the dates. Rules that fire a trigger always stay pending."""
        rules = timed_rule_by_name(self.cohort.rules)
        for moment in moments:
            rule = rules.get(moment.rule) or TIMED_RULE_BY_NAME[moment.rule]
            passed = skip_passed and moment.due_at < self.now and rule.fires is None
            self.deadlines.append(
                {
                    "participant_id": self.row.id,
                    "rule": moment.rule,
                    "occurrence": moment.occurrence,
                    "due_at": moment.due_at,
                    "expires_at": moment.expires_at,
                    "status": "skipped" if passed else "pending",
                    "resolved_at": self.now if passed else None,
                    "outcome": passed_reason if passed else None,
                }
            )


def insert_ignoring_duplicates(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert rows, skipping any whose unique key is already there (idempotent queueing)."""
    if not rows:
        return
    execute_many(conn, _insert_ignoring(table.name, conn.dialect.name), rows)


@cache
def _insert_ignoring(table_name: str, dialect: str) -> Executable:
    table = TABLES[table_name]
    # Imported here: a process only ever loads the dialect of its own database.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table).on_conflict_do_nothing()
    return table.insert()  # pragma: no cover - only SQLite and PostgreSQL are supported


# Types whose equal values are stored alike (a moment whatever its zone; the same bytes): a
# batch repeats them (the step's moment, a cohort's deadlines, one calendar attachment), so
# each distinct value is converted once.
_STORED_ALIKE_WHEN_EQUAL = (UTCDateTime, LargeBinary)


class _Converted(dict[Any, Any]):
    """One column's values as the driver takes them, each converted on first use."""

    def __init__(self, convert: Callable[[Any], Any]):
        super().__init__()
        self.convert = convert

    def __missing__(self, value: Any) -> Any:
        converted = self[value] = self.convert(value)
        return converted


@dataclass(frozen=True)
class _DriverStatement:
    sql: str
    names: tuple[str, ...]
    processors: tuple[tuple[Callable[[Any], Any] | None, bool], ...]
    positional: bool


_DRIVER_STATEMENTS: dict[tuple[int, str, tuple[str, ...]], tuple[Any, _DriverStatement | None]] = {}


def _driver_statement(
    conn: Connection, statement: Executable, keys: tuple[str, ...]
) -> _DriverStatement | None:
    """The statement compiled for the driver, or ``None`` when the rows do not hold every
    value it binds (a column default SQLAlchemy would fill in)."""
    cache_key = (id(statement), conn.dialect.name, keys)
    cached = _DRIVER_STATEMENTS.get(cache_key)
    if cached is not None and cached[0] is statement:
        return cached[1]
    dialect = conn.dialect
    compiled = cast(Any, statement).compile(
        dialect=dialect, column_keys=list(keys), for_executemany=True
    )
    names = tuple(compiled.positiontup or compiled.binds)
    if not set(names) <= set(keys):
        _DRIVER_STATEMENTS[cache_key] = (statement, None)
        return None
    processors = []
    for name in names:
        kind = compiled.binds[name].type
        processors.append(
            (
                kind.dialect_impl(dialect).bind_processor(dialect),
                isinstance(kind, _STORED_ALIKE_WHEN_EQUAL),
            )
        )
    prepared = _DriverStatement(compiled.string, names, tuple(processors), compiled.positional)
    # The statement is held by the entry, so its id cannot be reused while cached.
    _DRIVER_STATEMENTS[cache_key] = (statement, prepared)
    return prepared


def execute_many(conn: Connection, statement: Executable, rows: list[dict[str, Any]]) -> int:
    """Run ``statement`` once per row (dicts with the same keys) in one call to the driver;
    returns the number of rows affected.

    The SQL is compiled by the database's dialect and every value converted by its column's
    type, so what is stored is what :meth:`Connection.execute` would store; only the
    per-row bookkeeping of a SQLAlchemy ``executemany``, which costs more than the database's
    own work for a batch of thousands, is skipped."""
    if not rows:
        return 0
    keys = tuple(rows[0])
    first = rows[0].keys()
    prepared = _driver_statement(conn, statement, keys)
    if prepared is None or any(row.keys() != first for row in rows):
        return conn.execute(statement, rows).rowcount
    columns: list[Iterable[Any]] = []
    for name, (convert, alike) in zip(prepared.names, prepared.processors, strict=True):
        values = map(itemgetter(name), rows)
        if convert is None:
            columns.append(values)
        elif alike:
            columns.append(map(_Converted(convert).__getitem__, values))
        else:
            columns.append(map(convert, values))
    driver_rows: list[Any] = list(zip(*columns, strict=True))
    if not prepared.positional:
        driver_rows = [dict(zip(prepared.names, row, strict=True)) for row in driver_rows]
    return conn.exec_driver_sql(prepared.sql, driver_rows).rowcount


def _sealing(conn: Connection) -> tuple[str, str | None]:
    """The role that writes on ``conn`` and the audit key its entries are sealed with. On
    PostgreSQL the role is ``session_user``, which the database stamps on each entry itself;
    on SQLite, which authenticates nobody, the operating-system user."""
    if conn.dialect.name == "postgresql":
        # Asked each time: a pooled connection may since have become another role's.
        role = conn.exec_driver_sql("SELECT session_user").scalar_one()
    else:
        role = _os_user()
    return str(role), conn.get_execution_options().get("lps_audit_key")


@cache
def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def write_steps(conn: Connection, steps: list[Step]) -> list[Step]:
    """Write every step in the current transaction. Returns the steps whose participant was
    changed by someone else since it was read; nothing of those is written."""
    changed = [step for step in steps if step.changed]
    if any(step.audit for step in changed):
        role, key = _sealing(conn)
        for step in changed:
            step.seal(role, key)
    conflicts: list[Step] = []
    written = changed
    row_by_row = len(changed) <= 1
    if not row_by_row:
        # One executemany per statement for the batch; only if some row's version moved
        # underneath us do we roll back to the savepoint and find the culprits row by row.
        savepoint = conn.begin_nested()
        updated = 0
        for statement, group in _by_update(changed).items():
            updated += execute_many(conn, statement, [_participant_params(s) for s in group])
        if updated == len(changed):
            savepoint.commit()
        else:
            savepoint.rollback()
            row_by_row = True
    if row_by_row:
        written = []
        for step in changed:
            statement = _update_for(step)
            if conn.execute(statement, _participant_params(step)).rowcount == 1:
                written.append(step)
            else:
                conflicts.append(step)
    execute_many(conn, _INSERT_AUDIT, [entry for step in written for entry in step.audit])
    deadline_rows = [row for step in written for row in step.deadlines]
    insert_ignoring_duplicates(conn, DEADLINES, deadline_rows)
    resolved = [
        {"b_id": deadline_id, "b_status": status, "b_outcome": outcome, "b_at": step.now}
        for step in written
        for deadline_id, status, outcome in step.resolved_deadlines
    ]
    execute_many(conn, _RESOLVE_DEADLINE, resolved)
    for step in written:
        if step.host_deadline is not None:
            _upsert_host_letter(conn, step)
        if step.finished:
            _cancel_pending(conn, step)
    insert_ignoring_duplicates(conn, ATTACHMENTS, _attachment_rows(written))
    insert_ignoring_duplicates(conn, OUTBOX, [row for step in written for row in step.outbox])
    execute_many(conn, _INSERT_LINK, [row for step in written for row in step.links])
    for step in written:
        _close_links(conn, step)
    return conflicts


def _attachment_rows(steps: list[Step]) -> list[dict[str, Any]]:
    """Each distinct shared file the steps' messages carry, once: a batch of one cohort's
    enrolments names the same calendar in every welcome."""
    rows: dict[str, dict[str, Any]] = {}
    for step in steps:
        for digest, file in step.attachments.items():
            if digest not in rows:
                rows[digest] = {
                    "digest": digest,
                    "content_type": file.content_type,
                    "data": file.data,
                    "created_at": step.now,
                }
    return list(rows.values())


_INSERT_AUDIT = AUDIT.insert()
_INSERT_LINK = LINKS.insert()
_RESOLVE_DEADLINE = (
    update(DEADLINES)
    .where(DEADLINES.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        outcome=bindparam("b_outcome"),
        resolved_at=bindparam("b_at"),
    )
)


def _participant_update(*, with_facts: bool) -> Any:
    values: dict[str, Any] = {
        "state": bindparam("p_state"),
        "version": bindparam("p_new_version"),
        "audit_seq": bindparam("p_seq"),
        "audit_head": bindparam("p_head"),
        "updated_at": bindparam("p_at"),
    }
    if with_facts:
        values["facts"] = bindparam("p_facts")
    return (
        update(PARTICIPANTS)
        .where(
            and_(
                PARTICIPANTS.c.id == bindparam("p_id"),
                PARTICIPANTS.c.version == bindparam("p_version"),
            )
        )
        .values(values)
    )


_UPDATE_PARTICIPANT = _participant_update(with_facts=True)
# A step that only notifies leaves the facts as they were read: no need to write them again.
_UPDATE_PARTICIPANT_KEEPING_FACTS = _participant_update(with_facts=False)


def _update_for(step: Step) -> Any:
    if step.facts is step.row.facts:
        return _UPDATE_PARTICIPANT_KEEPING_FACTS
    return _UPDATE_PARTICIPANT


def _by_update(steps: list[Step]) -> dict[Any, list[Step]]:
    groups: dict[Any, list[Step]] = {}
    for step in steps:
        groups.setdefault(_update_for(step), []).append(step)
    return groups


def _participant_params(step: Step) -> dict[str, Any]:
    params = {
        "p_id": step.row.id,
        "p_version": step.row.version,
        "p_state": step.state,
        "p_new_version": step.row.version + 1,
        "p_seq": step.seq,
        "p_head": step.head,
        "p_at": step.now,
    }
    if step.facts is not step.row.facts:
        sealed, doc = step._sealed_facts
        params["p_facts"] = doc if sealed is step.facts else step.facts.to_json()
    return params


def _upsert_host_letter(conn: Connection, step: Step) -> None:
    moment = step.host_deadline
    assert moment is not None
    existing = conn.execute(
        select(DEADLINES.c.id, DEADLINES.c.status).where(
            DEADLINES.c.participant_id == step.row.id, DEADLINES.c.rule == moment.rule
        )
    ).first()
    if existing is None:
        conn.execute(
            DEADLINES.insert(),
            [
                {
                    "participant_id": step.row.id,
                    "rule": moment.rule,
                    "occurrence": moment.occurrence,
                    "due_at": moment.due_at,
                    "expires_at": moment.expires_at,
                    "status": "pending",
                }
            ],
        )
    elif existing.status == "pending":
        conn.execute(
            update(DEADLINES).where(DEADLINES.c.id == existing.id).values(due_at=moment.due_at)
        )


def _cancel_pending(conn: Connection, step: Step) -> None:
    conn.execute(
        update(DEADLINES)
        .where(DEADLINES.c.participant_id == step.row.id, DEADLINES.c.status == "pending")
        .values(status="cancelled", resolved_at=step.now, outcome=f"participant {step.state}")
    )
    conn.execute(
        update(OUTBOX)
        .where(
            OUTBOX.c.participant_id == step.row.id,
            OUTBOX.c.status == "pending",
            OUTBOX.c.rule.not_in(NOTICES_OUTLIVING_PATH),
        )
        .values(status="dropped", last_error=f"participant {step.state} before delivery")
    )


# Which fact records the step a link asks for; a link closes once its fact is there.
LINK_DONE: dict[str, Callable[[Facts], bool]] = {
    "manager_conversation": lambda facts: facts.manager_conversation is not None,
    "jti": lambda facts: facts.jti_completed is not None,
    "host": lambda facts: facts.host is not None,
    "career_visit": lambda facts: facts.career_visit is not None,
    "closing": lambda facts: (
        facts.closing_conversation is not None or facts.closing_declined is not None
    ),
}


def _close_links(conn: Connection, step: Step) -> None:
    """Close the participant's open links that the step made pointless: all of them when the
    path ended, else those whose step is now recorded (by anyone, through any channel)."""
    open_statuses = ("active", "submitted")
    if step.finished:
        if step.row.state in FINAL_STATES:
            return
        conn.execute(
            update(LINKS)
            .where(LINKS.c.participant_id == step.row.id, LINKS.c.status.in_(open_statuses))
            .values(status="revoked", closed_at=step.now, closed_reason=f"participant {step.state}")
        )
        conn.execute(
            update(APPROVALS)
            .where(APPROVALS.c.participant_id == step.row.id, APPROVALS.c.status == "pending")
            .values(status="cancelled", decided_at=step.now, reason=f"participant {step.state}")
        )
        return
    if step.facts is step.row.facts:
        return
    done = [
        purpose
        for purpose, recorded in LINK_DONE.items()
        if recorded(step.facts) and not recorded(step.row.facts)
    ]
    if done:
        conn.execute(
            update(LINKS)
            .where(
                LINKS.c.participant_id == step.row.id,
                LINKS.c.purpose.in_(done),
                LINKS.c.status.in_(open_statuses),
            )
            .values(status="used", closed_at=step.now, closed_reason="recorded")
        )
