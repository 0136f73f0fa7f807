"""Names in any script are enrolled, but the certificate's font cannot draw every one: then
the certificate mail says that its PDF is not attached, and the administrator is told, by the
command and by mail, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import cast

from conftest import DAYS, Cli, enrol, make_cohort
from helpers import read_eml
from pypdf import PdfReader

from notifications.delivery import EmlChannel
from workflow.clock import FixedClock
from workflow.engine import StepRequest, Workflow

D1, D5 = DAYS[0], DAYS[4]


def _certify_but_the_speech(wf: Workflow, clock: FixedClock, pid: int) -> None:
    clock.set(datetime.combine(D1 - timedelta(days=14), time(10)))
    wf.advance(pid, StepRequest("invite_jti"))
    for obligation in ("manager_conversation", "jti", "career_visit"):
        wf.waive(pid, obligation, "Aftalt med kursussekretariatet")
    for day in DAYS:
        clock.set(datetime.combine(day, time(10)))
        wf.advance(pid, StepRequest("register_day"))


def _mails(folder: Path) -> dict[str, EmailMessage]:
    """The certificate mails in ``folder`` by the role in their key."""
    found = {}
    for path in folder.glob("certificate-*.eml"):
        message = read_eml(path)
        found[str(message["X-LPS-Key"]).split(":")[2]] = message
    return found


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return cast(str, body.get_content())


def test_a_certificate_mail_without_its_pdf_says_so_and_the_administrator_is_told(
    wf: Workflow, clock: FixedClock, lps: Cli, tmp_path: Path
) -> None:
    make_cohort(wf, name="Forår 2027")
    pid = enrol(wf, name="中文 Ærø", email="soren@example.dk")
    _certify_but_the_speech(wf, clock, pid)
    lps.now = datetime.combine(D5, time(15)).isoformat()

    result = lps("advance", str(pid), "deliver_speech")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-2:] == [
        "queued certificate → participant, manager without the certificate PDF: "
        "the certificate for 中文 Ærø cannot be printed: "
        "its font has no letter for 中 (U+4E2D), 文 (U+6587)",
        "queued certificate → admin: the certificate PDF is missing; make it another way",
    ]
    folder = tmp_path / "mail"
    clock.set(datetime.combine(D5, time(16)))
    wf.remind(channel=EmlChannel(folder))
    mails = _mails(folder)
    assert sorted(mails) == ["admin", "manager", "participant"]
    for message in mails.values():
        assert [part.get_filename() for part in message.iter_attachments()] == []
    assert (
        "Kursusbeviset er ikke vedhæftet denne mail, fordi det ikke kunne laves som PDF. "
        "Kursussekretariatet sender det til dig på anden vis."
    ) in _text(mails["participant"])
    assert (
        "Kursusbeviset er ikke vedhæftet denne mail, fordi det ikke kunne laves som PDF. "
        "Kursussekretariatet sender det til 中文 Ærø på anden vis."
    ) in _text(mails["manager"])
    admin = mails["admin"]
    assert str(admin["To"]) == "Kursussekretariatet <kursus@kommune.dk>"
    assert str(admin["Subject"]) == "Kursusbeviset til 中文 Ærø mangler som PDF"
    assert (
        "Kursusbeviset til 中文 Ærø (soren@example.dk), hold Forår 2027 (H1), kunne ikke "
        "laves som PDF: skrifttypen har ikke tegnene 中 (U+4E2D), 文 (U+6587)."
    ) in " ".join(_text(admin).split())
    # The certificate command says the same, and writes nothing.
    result = lps("certificate", str(pid), "--output", str(tmp_path / "bevis.pdf"))
    assert (result.exit_code, result.output) == (
        1,
        "Error: the certificate for 中文 Ærø cannot be printed: its font has no letter for "
        "中 (U+4E2D), 文 (U+6587)\n",
    )
    assert not (tmp_path / "bevis.pdf").exists()


def test_a_certificate_mail_with_its_pdf_goes_to_participant_and_manager_only(
    wf: Workflow, clock: FixedClock, tmp_path: Path
) -> None:
    make_cohort(wf, name="Forår 2027")
    pid = enrol(wf, name="Nguyễn Thị Lan", email="lan@example.dk")
    _certify_but_the_speech(wf, clock, pid)
    clock.set(datetime.combine(D5, time(15)))
    result = wf.advance(pid, StepRequest("deliver_speech"))
    assert result.notifications == ["certificate → participant, manager"]
    clock.set(datetime.combine(D5, time(16)))
    wf.remind(channel=EmlChannel(tmp_path))
    mails = _mails(tmp_path)
    assert sorted(mails) == ["manager", "participant"]
    for message in mails.values():
        [pdf] = list(message.iter_attachments())
        assert pdf.get_filename() == f"kursusbevis-{pid}.pdf"
        content = cast(bytes, pdf.get_content())
        assert "Nguyễn Thị Lan" in PdfReader(io.BytesIO(content)).pages[0].extract_text()
        assert "ikke vedhæftet" not in _text(message)
