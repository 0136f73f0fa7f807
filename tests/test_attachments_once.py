"""A cohort's calendar is stored once, not once per welcome mail: enrolling a cohort keeps one
calendar per language, every welcome still arrives with it intact and reads as it did, a mail
written before keeps its own copy and still goes, and erasing the last mail that carries a
calendar deletes it, never one still carried; on SQLite and PostgreSQL, and for a
municipality's administrator held by row-level security."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from conftest import DAYS as COHORT_DAYS
from conftest import START, Cli, as_role, enrol, make_cohort
from helpers import fails, ok
from icalendar import Calendar
from smtp_server import SmtpSink
from sqlalchemy import func, insert, select, update
from sweep_helpers import Mornings

from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import StepRequest, Workflow
from workflow.errors import ImportRejected
from workflow.migrate import alembic_config, upgrade
from workflow.models import ATTACHMENTS, OUTBOX

HEADER = "name,email,municipality,workplace,manager_name,manager_email,language"
DAYS = "2027-03-01,2027-03-15,2027-03-29,2027-04-12,2027-04-26"
SENT = START + timedelta(minutes=1)


def csv_file(rows: int, *, english_every: int = 4, bad_last: bool = False) -> bytes:
    lines = [HEADER]
    for i in range(1, rows + 1):
        email = "ikke-en-adresse" if bad_last and i == rows else f"deltager{i}@kommune.dk"
        language = "en" if i % english_every == 0 else "da"
        lines.append(
            f"Deltager {i},{email},Odense,Borgerservice,Leder {i},leder{i}@kommune.dk,{language}"
        )
    return ("\n".join(lines) + "\n").encode()


def stored(database: Database) -> dict[str, bytes]:
    """The shared files, by digest."""
    with database.reading() as conn:
        return {
            row.digest: bytes(row.data)
            for row in conn.execute(select(ATTACHMENTS.c.digest, ATTACHMENTS.c.data))
        }


def welcomes(database: Database) -> list[Any]:
    with database.reading() as conn:
        return list(
            conn.execute(
                select(OUTBOX).where(OUTBOX.c.rule == "welcome").order_by(OUTBOX.c.id)
            ).all()
        )


def calendar_of(message: Any) -> bytes:
    [part] = list(message.iter_attachments())
    assert part.get_filename() == "leder-paa-spring.ics"
    assert part.get_content_type() == "text/calendar"
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


def teaching_days(data: bytes) -> list[date]:
    """The days of the events in a calendar file."""
    calendar = Calendar.from_ical(data)
    return [event.decoded("dtstart").date() for event in calendar.walk("VEVENT")]


def withdraw(wf: Workflow, who: int) -> None:
    wf.advance(who, StepRequest("withdraw", reason="Nyt job"))


# -- stored once --------------------------------------------------------------------------------


def test_enrolling_a_cohort_stores_one_calendar_per_language_not_one_per_mail(
    wf: Workflow,
) -> None:
    make_cohort(wf)
    make_cohort(wf, "H2")
    report = wf.import_participants("H1", csv_file(40))
    assert report.count == 40
    enrol(wf, "later@example.dk", language="en")  # another unit of work, the same calendar
    enrol(wf, "other@example.dk", cohort="H2")

    files = stored(wf.db)
    rows = welcomes(wf.db)
    assert len(rows) == 2 * 42
    assert len(files) == 3, "H1 in Danish and in English, H2 in Danish"
    assert all(row.attachment is None for row in rows), "no welcome keeps its own copy"
    assert {row.attachment_digest for row in rows} == set(files)
    for digest, data in files.items():
        assert hashlib.sha256(data).hexdigest() == digest
        assert data.startswith(b"BEGIN:VCALENDAR")
    english = {row.attachment_digest for row in rows if row.recipient.startswith("Deltager 4 ")}
    managers = {row.attachment_digest for row in rows if row.recipient_role == "manager"}
    assert len(english) == 1 and not english & managers, "a manager's welcome is in Danish"


def test_an_import_refused_stores_no_calendar_either(wf: Workflow) -> None:
    make_cohort(wf)
    try:
        wf.import_participants("H1", csv_file(30, bad_last=True))
    except ImportRejected:
        pass
    else:
        raise AssertionError("the bad file was imported")
    assert welcomes(wf.db) == []
    assert stored(wf.db) == {}


# -- delivered intact ---------------------------------------------------------------------------


def test_every_welcome_arrives_with_the_calendar_intact_and_shows_as_it_was_sent(
    wf: Workflow, clock: FixedClock, sink: SmtpSink, lps: Cli
) -> None:
    make_cohort(wf)
    wf.import_participants("H1", csv_file(8))
    files = stored(wf.db)
    mornings = Mornings(wf, clock, sink)
    report = mornings.sweep(SENT)
    assert report.delivered == 16

    by_key = {row.key: row for row in welcomes(wf.db)}
    for received in sink.received:
        key = str(received.message["X-LPS-Key"])
        row = by_key[key]
        data = calendar_of(received.message)
        assert data == files[row.attachment_digest]
        assert teaching_days(data) == list(COHORT_DAYS)
        shown = lps("outbox", "show", str(row.id), "--raw")
        assert shown.exit_code == 0, shown.output
        assert shown.stdout_bytes == received.raw.replace(b"\r\n", b"\n")


def test_a_message_reads_the_same_whether_its_calendar_is_shared_or_its_own(
    wf: Workflow,
) -> None:
    make_cohort(wf)
    enrol(wf)
    [row, _] = welcomes(wf.db)
    shared_view = wf.message(row.id)
    with wf.db.transaction() as conn:
        data = conn.execute(
            select(ATTACHMENTS.c.data).where(ATTACHMENTS.c.digest == row.attachment_digest)
        ).scalar_one()
        conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == row.id)
            .values(attachment=bytes(data), attachment_digest=None)
        )
    own_view = wf.message(row.id)
    assert own_view.data == shared_view.data
    assert own_view.attachments == (("leder-paa-spring.ics", "text/calendar"),)


def test_mail_written_before_calendars_were_shared_keeps_its_copy_and_still_goes(
    database: Database, sink: SmtpSink
) -> None:
    """Back at the schema before (0009), the welcomes hold their calendar themselves, as lps
    wrote them then; after the upgrade they are delivered and shown byte for byte as before."""
    clock = FixedClock(START)
    wf = Workflow(database, clock=clock, actor="tester")
    make_cohort(wf)
    enrol(wf)
    enrol(wf, "ann@example.dk", name="Ann Lee", language="en")
    before = {row.id: wf.message(row.id).data for row in welcomes(database)}
    files = stored(database)
    config = alembic_config()
    with database.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0009")
        old = conn.exec_driver_sql(
            "SELECT count(*) FROM outbox WHERE attachment IS NOT NULL"
        ).scalar_one()
    assert old == 4
    upgrade(database)

    rows = welcomes(database)
    assert [row.attachment_digest for row in rows] == [None] * 4
    assert {hashlib.sha256(bytes(row.attachment)).hexdigest() for row in rows} == set(files)
    assert stored(database) == {}
    assert {row.id: wf.message(row.id).data for row in rows} == before

    clock.set(SENT)
    mornings = Mornings(wf, clock, sink)
    assert mornings.sweep(SENT).delivered == 4
    for received in sink.received:
        assert hashlib.sha256(calendar_of(received.message)).hexdigest() in files
    # New mail after the upgrade shares its calendar again, beside the old rows' own copies.
    enrol(wf, "birthe@example.dk", name="Birthe Ågård")
    assert len(stored(database)) == 1


# -- erased with the last mail that carries it --------------------------------------------------


def test_erasing_keeps_a_calendar_still_carried_and_deletes_the_last_copy(wf: Workflow) -> None:
    make_cohort(wf)
    soren, birthe = enrol(wf), enrol(wf, "birthe@example.dk", name="Birthe Ågård")
    [calendar] = stored(wf.db)
    for who in (soren, birthe):
        withdraw(wf, who)

    wf.erase_participant(soren, "Anmodning")
    assert list(stored(wf.db)) == [calendar], "Birthe's welcome still carries it"
    assert {row.attachment_digest for row in welcomes(wf.db)} == {None, calendar}

    wf.erase_participant(birthe, "Anmodning")
    assert stored(wf.db) == {}
    assert {row.attachment_digest for row in welcomes(wf.db)} == {None}


def test_purge_deletes_the_calendars_nobody_is_sent_any_more_and_keeps_the_rest(
    wf: Workflow, clock: FixedClock
) -> None:
    make_cohort(wf)
    danish, english = enrol(wf), enrol(wf, "ann@example.dk", name="Ann Lee", language="en")
    staying = enrol(wf, "birthe@example.dk", name="Birthe Ågård")
    files = stored(wf.db)
    assert len(files) == 2
    for who in (danish, english):
        withdraw(wf, who)
    clock.set(datetime(2027, 1, 5, 10, 0))

    report = wf.purge(date(2027, 1, 6))
    assert sorted(report.erased) == [danish, english]
    [kept] = stored(wf.db)
    assert {row.attachment_digest for row in welcomes(wf.db) if row.participant_id == staying} == {
        kept
    }

    # A file no message names, however it came to be, goes with the next purge.
    with wf.db.transaction() as conn:
        conn.execute(
            insert(ATTACHMENTS).values(
                digest=hashlib.sha256(b"x").hexdigest(),
                content_type="text/plain",
                data=b"x",
                created_at=wf.now(),
            )
        )
    assert wf.purge(date(2027, 1, 6)).erased == []
    assert list(stored(wf.db)) == [kept]
    assert wf.purge(date(2027, 1, 6), dry_run=True).candidates == []


# -- PostgreSQL roles ---------------------------------------------------------------------------


def owner_cohort(postgres_url: str, tmp_path: Path) -> Cli:
    database = Database(postgres_url)
    upgrade(database)
    database.dispose()
    owner = Cli(postgres_url, env={"LPS_MAIL_DIR": str(tmp_path / "mail")})
    ok(owner, "cohort", "create", "H1", "--name", "Hold 1", "--days", DAYS, "--allow-holiday")
    return owner


def add(cli: Cli, name: str, email: str, municipality: str) -> None:
    ok(
        cli, "participant", "add", "H1", "--name", name, "--email", email,
        "--municipality", municipality, "--manager-name", "Mette Kjær",
        "--manager-email", f"mette@{municipality.lower()}.dk",
    )  # fmt: skip


def count_files(url: str) -> int:
    database = Database(url)
    with database.reading() as conn:
        found = conn.execute(select(func.count()).select_from(ATTACHMENTS)).scalar_one()
    database.dispose()
    return int(found)


def test_a_municipality_administrator_enrols_sends_and_erases_without_touching_a_shared_one(
    postgres_url: str, make_role: Callable[[str], str], tmp_path: Path, sink: SmtpSink
) -> None:
    owner = owner_cohort(postgres_url, tmp_path)
    odense, scheduler = make_role("odense"), make_role("scheduler")
    ok(owner, "access", "grant", "municipality", odense, "--municipality", "Odense")
    ok(owner, "access", "grant", "scheduler", scheduler)
    env = {"LPS_SMTP_URL": sink.url}
    as_odense = Cli(as_role(postgres_url, odense), env=env)

    add(as_odense, "Søren Ærø", "soren@odense.dk", "Odense")
    add(owner, "Åse Øster", "aase@aarhus.dk", "Aarhus")
    assert count_files(postgres_url) == 1
    shown = ok(as_odense, "outbox", "show", "1")
    assert "Attachment: leder-paa-spring.ics (text/calendar)" in shown.stdout

    as_scheduler = Cli(as_role(postgres_url, scheduler), now=SENT.isoformat(), env=env)
    ok(as_scheduler, "remind")
    assert len(sink.received) == 4
    calendars = {calendar_of(r.message) for r in sink.received}
    assert len(calendars) == 1

    # Odense's administrator cannot see Aarhus' welcomes, which still carry the calendar.
    ok(as_odense, "advance", "1", "withdraw", "--reason", "Nyt job")
    ok(as_odense, "participant", "erase", "1", "--reason", "Anmodning")
    assert count_files(postgres_url) == 1
    ok(owner, "advance", "2", "withdraw", "--reason", "Nyt job")
    ok(owner, "participant", "erase", "2", "--reason", "Anmodning")
    assert count_files(postgres_url) == 0


def test_a_role_granted_before_the_upgrade_still_enrols_after_it(
    postgres_url: str, make_role: Callable[[str], str], tmp_path: Path
) -> None:
    owner = owner_cohort(postgres_url, tmp_path)
    odense = make_role("odense")
    ok(owner, "access", "grant", "municipality", odense, "--municipality", "Odense")
    database = Database(postgres_url)
    config = alembic_config()
    with database.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0009")
    upgrade(database)
    database.dispose()

    as_odense = Cli(as_role(postgres_url, odense))
    add(as_odense, "Søren Ærø", "soren@odense.dk", "Odense")
    assert count_files(postgres_url) == 1
    refused = fails(as_odense, "participant", "show", "2")
    assert refused.stderr.startswith("Error: no participant with id 2")
