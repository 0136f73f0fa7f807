"""Erasure reaches the copies of a person's data outside the database: the ``.eml`` files of
the mail folder (their own are removed, other people's that quote them are rewritten), and
says which copies it cannot reach (mail delivered by SMTP), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import pytest
from conftest import Cli, enrol, make_cohort
from helpers import at, outbox, read_eml
from smtp_server import SmtpSink

from notifications.delivery import Channel, EmlChannel, SmtpChannel
from workflow.clock import FixedClock
from workflow.engine import StepRequest, Workflow

SOREN = {
    "name": "Søren Ærø",
    "email": "soren.aero@odense.dk",
    "municipality": "Odense",
    "workplace": "Borgerservice Vest",
    "manager_name": "Mette Kjær-Lund",
    "manager_email": "mette.kjaer@odense.dk",
    "jti_link": "https://jti.example/p/soren-4711",
}
WITHDRAWAL = "Nyt job i Aalborg Kommune"
SOREN_STRINGS = (
    SOREN["name"],
    SOREN["email"],
    SOREN["workplace"],
    SOREN["manager_name"],
    SOREN["manager_email"],
    SOREN["jti_link"],
    WITHDRAWAL,
    "Søren",
    "soren.aero",
)
OTHERS = (
    ("Birthe Ågård", "birthe@odense.dk", "Jobcenter Syd"),
    ("Carl Nielsen", "carl@odense.dk", "Ældreplejen Nord"),
    ("Dorte Holm", "dorte@odense.dk", "Skoleforvaltningen"),
)


@dataclass
class Cohort:
    wf: Workflow
    soren: int
    others: list[int]


def run_cohort(wf: Workflow, clock: FixedClock, channel: Channel) -> Cohort:
    """Søren and three others in one network group; the welcome, JTI invitations, the group
    announcements, the Monday digest (Søren is late) and Søren's withdrawal go out."""
    make_cohort(wf)
    soren = enrol(wf, **SOREN)
    others = [
        enrol(wf, name=name, email=email, workplace=workplace, manager_name="Ole Østergaard")
        for name, email, workplace in OTHERS
    ]
    for when in (at(date(2027, 1, 4), 11), at(date(2027, 2, 15), 9, 5)):
        clock.set(when)
        wf.remind(channel=channel)
    clock.set(at(date(2027, 2, 16)))
    wf.form_groups("H1", size=4, save=True)
    clock.set(at(date(2027, 2, 22), 9, 5))
    wf.remind(channel=channel)
    clock.set(at(date(2027, 2, 22), 11))
    wf.advance(soren, StepRequest("withdraw", reason=WITHDRAWAL))
    clock.set(at(date(2027, 2, 22), 12))
    wf.remind(channel=channel)
    return Cohort(wf, soren, others)


def quoting_soren(row: Any) -> bool:
    text = " ".join(str(row._mapping[c] or "") for c in ("subject", "body_text", "recipient"))
    return SOREN["name"] in text or SOREN["email"] in text


def readable(path: Path) -> str:
    """Everything a mail program shows of an .eml file: decoded headers, the text of every
    part and every attachment, and the raw bytes."""
    data = path.read_bytes()
    message = cast(EmailMessage, message_from_bytes(data, policy=policy.default))
    parts = [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True) or b""
        parts.append(payload.decode("utf-8", "replace"))
    parts.append(data.decode("utf-8", "replace"))
    return "\n".join(parts)


def found_in(folder: Path, strings: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for path in sorted(folder.iterdir()):
        text = readable(path).casefold()
        hits = [s for s in strings if s.casefold() in text]
        if hits:
            found[path.name] = hits
    return found


def test_erasure_removes_their_mail_files_and_rewrites_the_others_that_quote_them(
    wf: Workflow, clock: FixedClock, db_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    channel = EmlChannel(folder)
    cohort = run_cohort(wf, clock, channel)
    rows = outbox(wf)
    own = [r for r in rows if r.participant_id == cohort.soren and r.status == "sent"]
    quoting = [r for r in rows if r.participant_id != cohort.soren and quoting_soren(r)]
    assert {r.rule for r in own} >= {"welcome", "jti_invitation", "withdrawal_notice"}
    assert sorted(r.rule for r in quoting) == ["admin_digest", *["group_announcement"] * 3]
    # What the folder held before: each kind of personal data, in several files.
    before = found_in(folder, SOREN_STRINGS)
    assert sum(SOREN["workplace"] in hits for hits in before.values()) >= 4
    assert sum(WITHDRAWAL in hits for hits in before.values()) >= 2
    assert sum(SOREN["jti_link"] in hits for hits in before.values()) >= 1
    # A message file a crash left half-way, under the temporary name the channel uses.
    welcome = channel.path_for_key("welcome", f"{cohort.soren}:welcome:participant:0")
    stale = welcome.with_name(f".{welcome.name}.0123456789ab.tmp")
    stale.write_bytes(welcome.read_bytes()[:300])
    others_files = {r.id: channel.path_for_key(r.rule, r.key) for r in quoting}
    headers_before = {
        i: (m["Message-ID"], m["Date"])
        for i, m in ((i, message_from_bytes(p.read_bytes())) for i, p in others_files.items())
    }
    files_before = len(list(folder.iterdir()))

    lps = Cli(db_url, now="2027-06-01T10:00", env={"LPS_MAIL_DIR": str(folder)})
    result = lps("participant", "erase", str(cohort.soren), "--reason", "Anmodning")

    assert result.exit_code == 0, result.output
    s = cohort.soren
    assert result.output.splitlines()[1:] == [
        f"Removed {len(own) + 1} of their .eml file(s) from {folder} and rewrote "
        f"{len(quoting)} of other people's that named them.",
    ]
    assert found_in(folder, SOREN_STRINGS) == {}
    assert len(list(folder.iterdir())) == files_before - len(own) - 1
    for r in own:
        assert not channel.path_for_key(r.rule, r.key).exists()
    for row_id, path in others_files.items():
        message = read_eml(path)
        assert (message["Message-ID"], message["Date"]) == headers_before[row_id]
        assert f"Slettet deltager #{s}" in readable(path)
    birthe = next(
        path
        for r in quoting
        if r.rule == "group_announcement" and r.participant_id == cohort.others[0]
        for path in [others_files[r.id]]
    )
    shown = readable(birthe)
    assert "Carl Nielsen, Ældreplejen Nord, Odense" in shown
    assert "Dorte Holm, Skoleforvaltningen, Odense" in shown
    assert f"Slettet deltager #{s}, Odense" in shown
    # Everyone else's own files are untouched.
    assert found_in(folder, ("Birthe Ågård", "Carl Nielsen", "Dorte Holm"))


def test_erasure_by_json_says_what_it_removed(
    wf: Workflow, clock: FixedClock, db_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    cohort = run_cohort(wf, clock, EmlChannel(folder))
    own = [r for r in outbox(wf) if r.participant_id == cohort.soren and r.status == "sent"]
    lps = Cli(db_url, now="2027-06-01T10:00", env={"LPS_MAIL_DIR": str(folder)})
    result = lps("participant", "erase", str(cohort.soren), "--reason", "Anmodning", "--json")
    assert result.exit_code == 0, result.output
    mail = json.loads(result.output)["mail"]
    assert mail == {
        "folder": str(folder),
        "files_removed": len(own),
        "files_rewritten": 4,
        "unreachable": [],
    }


def test_erasure_after_smtp_delivery_says_the_delivered_copies_cannot_be_reached(
    wf: Workflow, clock: FixedClock, db_url: str, tmp_path: Path
) -> None:
    with SmtpSink() as sink:
        cohort = run_cohort(wf, clock, SmtpChannel.from_url(sink.url))
        delivered = len(sink.messages)
        url = sink.url
    rows = outbox(wf)
    held = [
        r
        for r in rows
        if r.status == "sent" and (r.participant_id == cohort.soren or quoting_soren(r))
    ]
    assert 0 < len(held) < delivered
    lps = Cli(db_url, now="2027-06-01T10:00", env={"LPS_SMTP_URL": url})

    result = lps("participant", "erase", str(cohort.soren), "--reason", "Anmodning")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [
        f"Not reached: {len(held)} sent message(s) that held their data went by SMTP "
        f"({SmtpChannel.from_url(url).url}); the copies delivered to mail servers and "
        "mailboxes cannot be erased from here.",
    ]


def test_purge_removes_the_mail_files_of_everyone_it_erases(
    wf: Workflow, clock: FixedClock, db_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    run_cohort(wf, clock, EmlChannel(folder))
    lps = Cli(db_url, now="2027-06-01T10:00", env={"LPS_MAIL_DIR": str(folder)})
    result = lps("purge", "--completed-before", "2027-06-01")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "Erased 1 participant(s) whose path ended before 2027-06-01."
    )
    assert result.output.splitlines()[1].startswith("Removed ")
    assert found_in(folder, SOREN_STRINGS) == {}


@pytest.fixture(autouse=True)
def _quiet_sweep_logging(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("ERROR")
