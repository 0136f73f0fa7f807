"""What the sweep tests (test_sweep_*.py) share: the mail a real SMTP server received, the
mornings the sweep runs on, and steps and rows of one participant.

Every expectation is read off PROGRAMME.md ("Timed rules and notifications"): who gets which
message on which day, once, and never about something already done.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time
from email.message import EmailMessage
from typing import Any

from conftest import DAYS
from smtp_server import Received, SmtpSink
from sqlalchemy import select

from notifications.delivery import SmtpChannel
from states.programme import LOCAL_TZ
from workflow.clock import FixedClock
from workflow.engine import StepRequest, Workflow
from workflow.records import DEADLINES
from workflow.sweep import SweepReport

ADMIN = "kursus@kommune.dk"

D1, D2, D3, D4, D5 = DAYS


@dataclass(frozen=True)
class Mail:
    """One message as the SMTP server received it, with the day of the sweep that sent it."""

    day: date
    to: str
    rule: str
    occurrence: str
    key: str
    message_id: str
    subject: str
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())

    @property
    def html(self) -> str:
        part = self.message.get_body(("html",))
        assert part is not None
        return str(part.get_content())


def mail_of(received: Received, day: date) -> Mail:
    message = received.message
    assert len(received.rcpt_tos) == 1, "one recipient per message"
    key = str(message["X-LPS-Key"])
    return Mail(
        day=day,
        to=received.rcpt_tos[0].lower(),
        rule=str(message["X-LPS-Rule"]),
        occurrence=key.rsplit(":", 1)[1],
        key=key,
        message_id=str(message["Message-ID"]),
        subject=str(message["Subject"]),
        message=message,
    )


class Mornings:
    """Moves the clock and runs the sweep against the SMTP server, noting what arrived when."""

    def __init__(self, wf: Workflow, clock: FixedClock, sink: SmtpSink):
        self.wf = wf
        self.clock = clock
        self.sink = sink
        self.channel = SmtpChannel.from_url(sink.url)
        self.mails: list[Mail] = []

    def sweep(self, moment: datetime) -> SweepReport:
        self.clock.set(moment)
        before = len(self.sink.received)
        report = self.wf.remind(channel=self.channel)
        day = moment.date() if moment.tzinfo is None else moment.astimezone(LOCAL_TZ).date()
        self.mails += [mail_of(r, day) for r in self.sink.received[before:]]
        return report

    def new_since(self, count: int) -> list[Mail]:
        return self.mails[count:]


def at(day: date, hour: int = 9, minute: int = 5) -> datetime:
    """Copenhagen wall-clock time (the clock fixture reads naive moments so)."""
    return datetime.combine(day, time(hour, minute))


def d(text: str) -> date:
    return date.fromisoformat(text)


def step(wf: Workflow, who: str | int, trigger: str, **kw: Any) -> None:
    wf.advance(who, StepRequest(trigger, **kw))


def set_host(wf: Workflow, who: str | int, email: str, municipality: str) -> None:
    name = "Vært " + email.split("@")[0].title()
    wf.set_host(who, name=name, email=email, role="leader", municipality=municipality)


def deadline_rows(wf: Workflow, participant_id: int) -> dict[tuple[str, int], Any]:
    with wf.db.reading() as conn:
        rows = conn.execute(
            select(DEADLINES).where(DEADLINES.c.participant_id == participant_id)
        ).all()
    return {(r.rule, r.occurrence): r for r in rows}


def diff(expected: Counter[Any], actual: Counter[Any]) -> str:
    missing = sorted((expected - actual).elements())
    extra = sorted((actual - expected).elements())
    lines = [f"missing: {m}" for m in missing] + [f"unexpected: {e}" for e in extra]
    return "\n".join(lines)


def walk_to_certified(
    wf: Workflow,
    clock: FixedClock,
    pid: int,
    goals: tuple[str, ...],
    mornings: Mornings | None = None,
) -> None:
    """Enrolled to certified on the cohort's days; with ``mornings``, a sweep at 09:05 on
    each teaching day."""
    clock.set(at(d("2027-01-05"), 11, 0))
    step(wf, pid, "hold_manager_conversation", goals=goals)
    step(wf, pid, "invite_jti", early=True)
    step(wf, pid, "complete_jti")
    set_host(wf, pid, "hanne@example.dk", "Odense")
    for number, day in enumerate(DAYS, start=1):
        if mornings is not None:
            mornings.sweep(at(day))
        clock.set(at(day, 11, 0))
        step(wf, pid, "register_day")
        if number == 3:
            step(wf, pid, "hold_career_visit")
    step(wf, pid, "deliver_speech")
    assert wf.participant(pid).state == "certified"
