"""Programme versions on a real database (SQLite and PostgreSQL): a variant installed from a
file runs its own path, rules, texts, certificate and calendar; versions never change."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import DAYS, START, Cli, make_cohort
from helpers import fails, ok
from programme_helpers import four_days_no_visit
from pypdf import PdfReader
from smtp_server import SmtpSink
from sweep_helpers import Mornings, at, step

from states.definition import BUILTIN_TOML
from workflow.clock import FixedClock
from workflow.engine import Workflow
from workflow.verify import verify_audit

D1, D2, D3, D4, _ = DAYS
SHORT = (D1, D2, D3, D4)


def written(folder: Path, text: str, name: str = "programme.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_variant_with_four_days_and_no_career_visit_walks_to_completion(
    wf: Workflow, clock: FixedClock, sink: SmtpSink, tmp_path: Path
) -> None:
    assert wf.install_programme(written(tmp_path / "kort", four_days_no_visit())).new
    make_cohort(wf, "K1", SHORT, programme="kort/1")
    pid = wf.enrol(
        "K1",
        name="Anne Andersen",
        email="anne@odense.dk",
        municipality="Odense",
        manager_name="Mette Leder",
        manager_email="mette@odense.dk",
    ).participant.id
    assert wf.participant(pid).as_json()["programme"] == "kort/1"
    mornings = Mornings(wf, clock, sink)
    clock.set(at(START.date() + timedelta(days=1), 11, 0))
    step(wf, pid, "hold_manager_conversation", goals=("Lede møder",))

    day = START.date() + timedelta(days=1)
    while wf.participant(pid).state != "completed":
        assert day < D4 + timedelta(days=100), wf.participant(pid).state
        mornings.sweep(at(day))
        state = wf.participant(pid).state
        clock.set(at(day, 11, 0))
        if state == "jti_invited":
            step(wf, pid, "complete_jti")
        if day in SHORT:
            step(wf, pid, "register_day")
        if day == D4:
            step(wf, pid, "deliver_speech")
            assert wf.participant(pid).state == "certified"
        day += timedelta(days=1)

    states = [to for _, _, to in ((e.event, e.from_state, e.to_state) for e in wf.history(pid))]
    assert list(dict.fromkeys(states)) == [
        "enrolled",
        "manager_conversation_held",
        "jti_invited",
        "jti_completed",
        "day_1",
        "day_2",
        "day_3",
        "day_4",
        "speech_delivered",
        "certified",
        "completed",
    ]
    sent = Counter(
        (m.rule, m.to, m.occurrence) for m in mornings.mails if m.to != "kursus@kommune.dk"
    )
    assert all(count == 1 for count in sent.values()), sent
    assert sorted({(rule, to) for rule, to, _ in sent}) == [
        ("certificate", "anne@odense.dk"),
        ("certificate", "mette@odense.dk"),
        ("closing_reminder", "anne@odense.dk"),
        ("closing_reminder", "mette@odense.dk"),
        ("day_reminder", "anne@odense.dk"),
        ("homework_reminder", "anne@odense.dk"),
        ("jti_invitation", "anne@odense.dk"),
        ("speech_reminder", "anne@odense.dk"),
        ("welcome", "anne@odense.dk"),
        ("welcome", "mette@odense.dk"),
    ]
    assert sorted(o for rule, _, o in sent if rule == "day_reminder") == ["1", "2", "3", "4"]
    speech = next(m for m in mornings.mails if m.rule == "speech_reminder")
    assert speech.day == D4 - timedelta(days=7)
    # The certificate lists the variant's four days and their themes.
    _, pdf = wf.certificate(pid)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Dag 4" in text and "Dag 5" not in text
    calendar = wf.calendar("K1").decode()
    assert calendar.count("Undervisningsdag") == 4 or calendar.count("BEGIN:VEVENT") >= 4
    report = wf.report("K1")
    assert [cell.name for cell in report.rows[0].obligations] == [
        "manager_conversation",
        "jti",
        "attendance",
        "speech",
    ]
    assert "career_visit_held" not in wf.programme_text("kort/1", "mermaid")
    assert verify_audit(wf.db).ok


def test_check_names_every_problem_by_line_and_writes_nothing(lps: Cli, tmp_path: Path) -> None:
    text = BUILTIN_TOML.replace('version = "leder-paa-spring/1"', 'version = "brudt/1"')
    text = text.replace('theme = { da = "Dig som leder", en = "You as a leader" }', "")
    text = text.replace('at = "D3-3"', 'at = "D9-3"')
    path = written(tmp_path, text)
    lines = text.splitlines()
    day = next(i for i, line in enumerate(lines, 1) if line.startswith("[[day]]  # D2"))
    rule = lines.index('at = "D9-3"') + 1
    for command in ("check", "install"):
        result = fails(lps, "programme", command, str(path))
        assert result.stderr.splitlines() == [
            f"Error: {path}: line {day}: day[1].theme: is missing; "
            'write { da = "...", en = "..." }',
            f"Error: {path}: line {rule}: rule.homework_reminder.at: 'D9-3' names teaching day "
            "9, but the programme has 5 days",
        ]
    assert "brudt/1" not in ok(lps, "programme", "list").output


def test_a_file_of_ten_megabytes_is_refused_unread(lps: Cli, tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    with path.open("w") as out:
        out.write(BUILTIN_TOML)
        out.write(("# " + "x" * 1000 + "\n") * 10_000)
    result = fails(lps, "programme", "install", str(path))
    assert result.stderr.startswith(f"Error: {path}: is {path.stat().st_size} bytes;")


def test_templates_beside_the_file_are_checked_and_then_used(
    lps: Cli, wf: Workflow, tmp_path: Path
) -> None:
    folder = tmp_path / "egen"
    text = BUILTIN_TOML.replace('version = "leder-paa-spring/1"', 'version = "egen/1"')
    path = written(folder, text)
    written(folder / "templates" / "da", "Velkommen, {{ participant.name }}", "welcome.subject.txt")
    result = fails(lps, "programme", "check", str(path))
    assert result.stderr.splitlines() == [
        f"Error: {path}: templates: da/welcome.subject.txt has no en/welcome.subject.txt: every "
        "message is written in da and en"
    ]
    written(
        folder / "templates" / "en",
        "Welcome {{ participant.nickname }} {{ secret }}",
        "welcome.subject.txt",
    )
    result = fails(lps, "programme", "check", str(path))
    assert "en/welcome.subject.txt: unknown placeholder secret" in result.stderr
    # A field a part of the message does not have would fail when the mail is queued.
    written(folder / "templates" / "en", "Welcome {{ participant['nickname'] }}", "welcome.txt")
    written(folder / "templates" / "da", "Velkommen {{ manager.name }}", "welcome.txt")
    nickname = "Welcome {{ participant.nickname }}"
    written(folder / "templates" / "en", nickname, "welcome.subject.txt")
    result = fails(lps, "programme", "check", str(path))
    assert result.stderr.splitlines() == [
        f"Error: {path}: templates: en/{name}: unknown placeholder participant.nickname; "
        "participant has: email, language, municipality, name, workplace"
        for name in ("welcome.subject.txt", "welcome.txt")
    ]
    (folder / "templates" / "en" / "welcome.txt").unlink()
    (folder / "templates" / "da" / "welcome.txt").unlink()
    written(folder / "templates" / "en", "Welcome, {{ participant.name }}", "welcome.subject.txt")
    assert ok(lps, "programme", "install", str(path)).output == "Installed programme egen/1.\n"
    make_cohort(wf, "E1", programme="egen/1")
    enrolled = wf.enrol(
        "E1",
        name="Bo Bech",
        email="bo@aarhus.dk",
        municipality="Aarhus",
        manager_name="Jens",
        manager_email="jens@aarhus.dk",
    )
    assert enrolled.participant.definition_version == "egen/1"
    subjects = {m.subject for m in wf.outbox() if m.rule == "welcome"}
    assert subjects == {"Velkommen, Bo Bech"}


def test_a_version_never_changes_and_the_same_file_again_is_a_no_op(
    lps: Cli, tmp_path: Path
) -> None:
    path = written(tmp_path / "a", four_days_no_visit())
    assert ok(lps, "programme", "install", str(path)).output == "Installed programme kort/1.\n"
    assert ok(lps, "programme", "install", str(path)).output == (
        "Programme kort/1 is already installed from this file; nothing to do.\n"
    )
    other = written(tmp_path / "b", four_days_no_visit().replace("send_hour = 9", "send_hour = 8"))
    assert fails(lps, "programme", "install", str(other)).stderr == (
        "Error: programme kort/1 is already installed with a different definition; a version "
        "never changes: give the file a new version (e.g. the next number)\n"
    )
    changed_builtin = written(
        tmp_path / "c", BUILTIN_TOML.replace("send_hour = 9", "send_hour = 8")
    )
    assert (
        "is the built-in programme and never changes"
        in fails(lps, "programme", "install", str(changed_builtin)).stderr
    )


def test_the_built_in_programme_shows_as_a_file_that_installs_as_it_is(
    lps: Cli, tmp_path: Path
) -> None:
    shown = ok(lps, "programme", "show", "leder-paa-spring/1", "--format", "toml").output
    assert shown == BUILTIN_TOML
    path = written(tmp_path, shown.replace("leder-paa-spring/1", "leder-paa-spring/2"))
    ok(lps, "programme", "install", str(path))
    assert ok(lps, "programme", "diff", "leder-paa-spring/1", "leder-paa-spring/2").output == (
        "leder-paa-spring/1 and leder-paa-spring/2 do not differ.\n"
    )
    data = ok(lps, "programme", "show", "leder-paa-spring/2", "--format", "json").output
    assert '"version": "leder-paa-spring/2"' in data


def test_list_default_diff_and_a_cohort_on_the_default(lps: Cli, tmp_path: Path) -> None:
    ok(lps, "programme", "install", str(written(tmp_path, four_days_no_visit())))
    assert (
        ok(lps, "programme", "default", "kort/1").output == "New cohorts follow programme kort/1.\n"
    )
    days = ",".join(d.isoformat() for d in SHORT)
    ok(lps, "cohort", "create", "K1", "--name", "Kort", "--days", days, "--allow-holiday")
    ok(
        lps,
        "participant",
        "add",
        "K1",
        "--name",
        "Anne",
        "--email",
        "anne@odense.dk",
        "--municipality",
        "Odense",
        "--manager-name",
        "Mette",
        "--manager-email",
        "m@odense.dk",
    )
    listing = ok(lps, "programme", "list", "--json").output
    assert '"version": "kort/1"' in listing
    rows = {row["version"]: row for row in json.loads(listing)}
    assert rows["kort/1"]["default"] and rows["kort/1"]["participants"] == 1
    assert not rows["leder-paa-spring/1"]["default"]
    assert fails(
        lps,
        "cohort",
        "create",
        "K2",
        "--name",
        "x",
        "--days",
        days,
        "--allow-holiday",
        "--programme",
        "nej/1",
    ).stderr == (
        "Error: programme nej/1 is not installed; installed: leder-paa-spring/1, kort/1 "
        "(install one with `lps programme install FILE`)\n"
    )
    changes = ok(lps, "programme", "diff", "leder-paa-spring/1", "kort/1").output.splitlines()
    assert changes[:3] == [
        'day D5: "Min vej mod ledelse, fortsat" → (none)',
        "step career_visit: on → off",
        "state career_visit_held: removed",
    ]
    assert "rule speech_reminder: D5-7, expires D5, on → D4-7, expires D4, on" in changes
    assert "obligation attendance: due D5 → due D4" in changes


@pytest.mark.parametrize("fmt", ["toml", "json", "mermaid"])
def test_show_without_a_version_shows_the_default(lps: Cli, fmt: str) -> None:
    assert ok(lps, "programme", "show", "--format", fmt).output


def test_a_cohort_takes_its_send_hour_and_absences_from_its_programme(
    lps: Cli, tmp_path: Path
) -> None:
    text = four_days_no_visit().replace("send_hour = 9", "send_hour = 8")
    ok(
        lps,
        "programme",
        "install",
        str(written(tmp_path, text.replace("max_absences = 0", "max_absences = 1"))),
    )
    days = ",".join(d.isoformat() for d in SHORT)
    created = json.loads(
        ok(
            lps,
            "cohort",
            "create",
            "K1",
            "--name",
            "Kort",
            "--days",
            days,
            "--programme",
            "kort/1",
            "--allow-holiday",
            "--json",
        ).stdout
    )
    assert (created["send_hour"], created["max_absences"], created["programme"]) == (8, 1, "kort/1")
    drawn = ok(lps, "diagram", "--programme", "kort/1").output
    assert "day_4 : Undervisningsdag 4" in drawn and "career_visit_held" not in drawn
    assert "career_visit_held" in ok(lps, "diagram").output


def test_every_field_a_template_may_ask_for_is_in_the_mail_it_renders(
    wf: Workflow, tmp_path: Path
) -> None:
    """The fields ``programme check`` lets a template use are the ones a queued mail has."""
    from notifications.render import KNOWN_FIELDS

    folder = tmp_path / "felter"
    text = BUILTIN_TOML.replace('version = "leder-paa-spring/1"', 'version = "felter/1"')
    path = written(folder, text)
    asks = " ".join(
        f"[{part}.{name}={{{{ {part}.{name} }}}}]"
        for part, names in sorted(KNOWN_FIELDS.items())
        for name in sorted(names)
    )
    for language in ("da", "en"):
        written(folder / "templates" / language, f"Felter {asks}", "welcome.txt")
    wf.install_programme(path)
    make_cohort(wf, "F1", programme="felter/1", venue="Aarhus Rådhus")
    wf.enrol(
        "F1",
        name="Bo Bech",
        email="bo@aarhus.dk",
        municipality="Aarhus",
        manager_name="Jens",
        manager_email="jens@aarhus.dk",
    )
    (welcome, *_) = [m for m in wf.outbox() if m.rule == "welcome"]
    body = wf.message(welcome.id).text
    assert "[participant.name=Bo Bech]" in body
    assert "[manager.email=jens@aarhus.dk]" in body
    assert "[cohort.venue=Aarhus Rådhus]" in body
    assert "[recipient.role=manager]" in body
    assert [
        f"{part}.{name}"
        for part, names in KNOWN_FIELDS.items()
        for name in names
        if f"[{part}.{name}=" not in body
    ] == []
