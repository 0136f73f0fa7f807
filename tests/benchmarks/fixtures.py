"""Building large databases fast, straight through the driver, in the shape the engine writes.

Rows go in with ``executemany`` over generators on SQLite (``synchronous=OFF`` while building)
and with ``COPY`` on PostgreSQL. Values are formatted once per distinct value, not per row,
because a 4-million-row audit table is otherwise dominated by Python formatting.
"""

from __future__ import annotations

import itertools
import json
import math
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.benchmarks.common import sqlite_path

LOCAL_START = datetime(2027, 1, 4, 10, 0)  # Copenhagen wall-clock time, as in tests/conftest.py
DAYS = (
    date(2027, 3, 1),
    date(2027, 3, 15),
    date(2027, 3, 29),
    date(2027, 4, 12),
    date(2027, 4, 26),
)
MUNICIPALITIES = (
    "København",
    "Aarhus",
    "Odense",
    "Aalborg",
    "Esbjerg",
    "Randers",
    "Kolding",
    "Horsens",
    "Vejle",
    "Roskilde",
    "Herning",
    "Silkeborg",
    "Næstved",
    "Frederiksberg",
    "Viborg",
    "Køge",
    "Holstebro",
    "Slagelse",
    "Svendborg",
    "Hjørring",
)
ACTOR = "bench"
TABLES = ("cohorts", "participants", "audit_entries", "deadlines", "outbox")


def local(moment: datetime) -> datetime:
    """A Copenhagen wall-clock moment as aware UTC."""
    from states.programme import LOCAL_TZ

    return moment.replace(tzinfo=LOCAL_TZ).astimezone(UTC)


# -- the raw writer ---------------------------------------------------------------------------


class Bulk:
    """A driver connection for building: one transaction, big batches."""

    def __init__(self, url: str):
        self.url = url
        self.sqlite = url.startswith("sqlite")
        self.conn: Any
        if self.sqlite:
            self.conn = sqlite3.connect(sqlite_path(url), isolation_level=None)
            self.conn.execute("PRAGMA synchronous=OFF")
            self.conn.execute("PRAGMA foreign_keys=OFF")
            self.conn.execute("BEGIN")
        else:
            import psycopg

            self.conn = psycopg.connect(url)
        self.explicit_ids: set[str] = set()

    # values in the form the engine's column types store them
    def moment(self, value: datetime | None) -> Any:
        if value is None:
            return None
        naive = value.astimezone(UTC).replace(tzinfo=None)
        return naive.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else naive

    def day(self, value: date) -> Any:
        return value.isoformat() if self.sqlite else value

    def json(self, doc: Any) -> str:
        return json.dumps(doc) if self.sqlite else json.dumps(doc, ensure_ascii=False)

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        skip_existing: bool = False,
    ) -> None:
        """Insert rows; with ``skip_existing``, rows whose unique key is taken are left out."""
        if "id" in columns:
            self.explicit_ids.add(table)
        names = ", ".join(columns)
        if self.sqlite:
            marks = ", ".join("?" for _ in columns)
            verb = "INSERT OR IGNORE" if skip_existing else "INSERT"
            self.conn.executemany(f"{verb} INTO {table} ({names}) VALUES ({marks})", rows)
            return
        if skip_existing:
            marks = ", ".join("%s" for _ in columns)
            with self.conn.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING",
                    list(rows),
                )
            return
        with (
            self.conn.cursor() as cursor,
            cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if self.sqlite:
            self.conn.execute(sql, tuple(params))
        else:
            self.conn.execute(sql.replace("?", "%s"), tuple(params))

    def __enter__(self) -> Bulk:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def abort(self) -> None:
        """Give up: roll back and let go of the connection, so that its locks do not block
        dropping the fixture."""
        if self.sqlite:
            self.conn.execute("ROLLBACK")
        else:
            self.conn.rollback()
        self.conn.close()

    def close(self) -> None:
        if self.sqlite:
            self.conn.execute("COMMIT")
            self.conn.close()
            return
        for table in self.explicit_ids:
            self.conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        self.conn.commit()
        # Vacuum and analyse now, as autovacuum would soon after such a load: otherwise it
        # runs during the measurements and competes with them for the CPU.
        self.conn.autocommit = True
        self.conn.execute(f"VACUUM (ANALYZE) {', '.join(TABLES)}")
        self.conn.close()


# -- populations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One audit entry of every participant's trail."""

    event: str
    from_state: str | None
    to_state: str
    at: datetime  # aware
    data: dict[str, Any] = field(default_factory=dict)
    actor: str = ACTOR


@dataclass(frozen=True)
class Population:
    """``participants`` people in ``cohorts`` cohorts (all with the same five days), each in
    ``state`` with ``facts``, an audit trail of ``trail``, and the cohort deadlines: pending
    when due after ``now``, resolved when due before it."""

    participants: int
    cohorts: int
    state: str
    facts: dict[str, Any]
    trail: tuple[Entry, ...]
    now: datetime  # aware
    admins: int = 10
    real_hashes: bool = True
    certified_on: date | None = None

    @property
    def per_cohort(self) -> int:
        return math.ceil(self.participants / self.cohorts)

    def cohort_of(self, participant_id: int) -> int:
        return (participant_id - 1) // self.per_cohort + 1

    @staticmethod
    def code(cohort_id: int) -> str:
        return f"K{cohort_id:05d}"


def jti_invited_trail() -> tuple[Entry, ...]:
    """Enrolled on the programme's start date, manager conversation held, JTI sent at D1-14."""
    return (
        Entry("enrol", None, "enrolled", local(LOCAL_START), {"notified": ["welcome"]}),
        Entry(
            "hold_manager_conversation",
            "enrolled",
            "manager_conversation_held",
            local(datetime(2027, 1, 25, 10, 0)),
        ),
        Entry(
            "invite_jti",
            "manager_conversation_held",
            "jti_invited",
            local(datetime(2027, 2, 15, 9, 0)),
            {"notified": ["jti_invitation"]},
            "scheduler",
        ),
    )


JTI_INVITED_FACTS = {
    "manager_conversation": "2027-01-25",
    "goals": ["Tydelighed i beslutninger", "Autoritet"],
    "jti_invited": "2027-02-15",
}


def jti_invited(participants: int, cohorts: int, now: datetime) -> Population:
    return Population(
        participants=participants,
        cohorts=cohorts,
        state="jti_invited",
        facts=JTI_INVITED_FACTS,
        trail=jti_invited_trail(),
        now=now,
    )


def build(url: str, population: Population) -> None:
    """Write the population into the (migrated, empty) database at ``url``."""
    with Bulk(url) as bulk:
        _build(bulk, population)


def _build(bulk: Bulk, population: Population) -> None:
    from states.programme import DEFINITION_VERSION, CohortPlan
    from states.rules import certified_deadlines, cohort_deadlines
    from workflow.audit import GENESIS, entry_hash, note_digest

    p = population
    created = bulk.moment(local(LOCAL_START) - timedelta(days=30))
    bulk.insert(
        "cohorts",
        (
            "id",
            "code",
            "name",
            "day_1",
            "day_2",
            "day_3",
            "day_4",
            "day_5",
            "venue",
            "admin_email",
            "max_absences",
            "send_hour",
            "jti_link",
            "articles",
            "schedule_sequence",
            "created_at",
        ),
        (
            (
                cohort,
                p.code(cohort),
                f"Leder på spring, hold {cohort}",
                *(bulk.day(d) for d in DAYS),
                MUNICIPALITIES[cohort % len(MUNICIPALITIES)] + " Rådhus",
                f"kursus{cohort % p.admins}@kommune.dk" if p.admins else None,
                0,
                9,
                "https://jti.example/q",
                bulk.json([{"title": "Fra specialist til leder", "url": "https://a.example/1"}]),
                0,
                created,
            )
            for cohort in range(1, p.cohorts + 1)
        ),
    )
    digest = note_digest(None)
    plan = CohortPlan("K", DAYS, 0, 9)
    # The chain of every participant differs only by id; hashes are computed per participant
    # when asked for (the bulk-step and sweep fixtures), else a fixed dummy value is stored.
    heads: dict[int, list[str]] = {}

    def chain(participant_id: int) -> list[str]:
        if not p.real_hashes:
            return ["d" * 64] * len(p.trail)
        hashes = []
        previous = GENESIS
        for seq, entry in enumerate(p.trail, start=1):
            previous = entry_hash(
                prev_hash=previous,
                participant_id=participant_id,
                seq=seq,
                at=entry.at,
                actor=entry.actor,
                event=entry.event,
                from_state=entry.from_state,
                to_state=entry.to_state,
                digest=digest,
                data=entry.data,
            )
            hashes.append(previous)
        return hashes

    for participant_id in range(1, p.participants + 1):
        heads[participant_id] = chain(participant_id)
    facts = bulk.json(p.facts)
    enrolled_at = bulk.moment(p.trail[0].at)
    updated_at = bulk.moment(p.trail[-1].at)
    bulk.insert(
        "participants",
        (
            "id",
            "cohort_id",
            "name",
            "email",
            "municipality",
            "workplace",
            "language",
            "manager_name",
            "manager_email",
            "jti_link",
            "state",
            "version",
            "definition_version",
            "facts",
            "audit_seq",
            "audit_head",
            "created_at",
            "updated_at",
        ),
        (
            (
                pid,
                p.cohort_of(pid),
                f"Deltager Ærø {pid}",
                f"deltager{pid}@kommune.dk",
                MUNICIPALITIES[pid % len(MUNICIPALITIES)],
                "Borgerservice",
                "en" if pid % 10 == 0 else "da",
                f"Leder Kjær {pid}",
                f"leder{pid}@kommune.dk",
                None,
                p.state,
                len(p.trail),
                DEFINITION_VERSION,
                facts,
                len(p.trail),
                heads[pid][-1],
                enrolled_at,
                updated_at,
            )
            for pid in range(1, p.participants + 1)
        ),
    )
    entries = [
        (
            seq,
            bulk.moment(e.at),
            e.actor,
            e.event,
            e.from_state,
            e.to_state,
            digest,
            bulk.json(e.data),
        )
        for seq, e in enumerate(p.trail, start=1)
    ]

    def audit_rows() -> Iterator[tuple[Any, ...]]:
        for pid in range(1, p.participants + 1):
            hashes = heads[pid]
            previous = GENESIS
            for (seq, at, actor, event, source, dest, note_dig, data), new in zip(
                entries, hashes, strict=True
            ):
                yield (
                    pid,
                    seq,
                    at,
                    actor,
                    event,
                    source,
                    dest,
                    None,
                    note_dig,
                    data,
                    previous,
                    new,
                )
                previous = new

    bulk.insert(
        "audit_entries",
        (
            "participant_id",
            "seq",
            "at",
            "actor",
            "event",
            "from_state",
            "to_state",
            "note",
            "note_digest",
            "data",
            "prev_hash",
            "hash",
        ),
        audit_rows(),
    )
    moments = list(cohort_deadlines(plan))
    if p.certified_on is not None:
        moments += list(certified_deadlines(p.certified_on, plan))
    shapes = []
    for moment in moments:
        pending = moment.due_at > p.now
        shapes.append(
            (
                moment.rule,
                moment.occurrence,
                bulk.moment(moment.due_at),
                bulk.moment(moment.expires_at),
                "pending" if pending else "done",
                None if pending else bulk.moment(moment.due_at),
                None if pending else "queued",
            )
        )
    bulk.insert(
        "deadlines",
        (
            "participant_id",
            "rule",
            "occurrence",
            "due_at",
            "expires_at",
            "status",
            "resolved_at",
            "outcome",
        ),
        ((pid, *shape) for pid, shape in itertools.product(range(1, p.participants + 1), shapes)),
    )


def make_due(url: str, rule: str, occurrence: int, participants: int) -> None:
    """Put the deadline (``rule``, ``occurrence``) of the first ``participants`` people back to
    pending, so that the next sweep finds it due."""
    with Bulk(url) as bulk:
        bulk.execute(
            "UPDATE deadlines SET status = 'pending', resolved_at = NULL, outcome = NULL "
            "WHERE rule = ? AND occurrence = ? AND participant_id <= ?",
            (rule, occurrence, participants),
        )
