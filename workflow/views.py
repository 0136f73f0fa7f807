"""What the engine returns to its callers: read-only views of cohorts, participants, audit
entries, triggers, steps and outgoing messages, and the functions that build them from rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from states.facts import Facts
from states.programme import (
    BUILTIN,
    DEFINITION_VERSION,
    FINAL_STATES,
    STATE_BY_NAME,
    obligation_due,
    obligation_status,
)
from workflow.programmes import known_versions, programme_of
from workflow.records import CohortRow, ParticipantRow

__all__ = [
    "OUTBOX_STATUSES",
    "AuditView",
    "BulkResult",
    "CohortChange",
    "CohortView",
    "ObligationView",
    "OutboxView",
    "ParticipantView",
    "StepResult",
    "TriggerView",
    "audit_view",
    "cohort_view",
    "participant_view",
]


@dataclass(frozen=True)
class CohortView:
    code: str
    name: str
    days: tuple[date, ...]
    venue: str | None
    admin_email: str | None
    max_absences: int
    send_hour: int
    jti_link: str | None
    articles: list[dict[str, str]]
    participants: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    self_service: str = "off"
    link_days: int = 28
    programme: str = DEFINITION_VERSION

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "programme": self.programme,
            "name": self.name,
            "days": [d.isoformat() for d in self.days],
            "venue": self.venue,
            "admin_email": self.admin_email,
            "max_absences": self.max_absences,
            "send_hour": self.send_hour,
            "jti_link": self.jti_link,
            "articles": self.articles,
            "self_service": self.self_service,
            "link_days": self.link_days,
            "participants": self.participants,
            "by_state": self.by_state,
        }


@dataclass(frozen=True)
class CohortChange:
    """A cohort after :meth:`Workflow.update_cohort`, and the fields that changed."""

    cohort: CohortView
    changed: tuple[str, ...]


@dataclass(frozen=True)
class ObligationView:
    name: str
    status: str
    due: date
    overdue: bool
    waiver_reason: str | None = None


def _state_label(version: str, state: str) -> str:
    """A state's Danish label in the participant's programme version."""
    found = programme_of(version) if version in known_versions() else None
    return (found or BUILTIN).state_by_name.get(state, STATE_BY_NAME[state]).label_da


@dataclass(frozen=True)
class ParticipantView:
    id: int
    name: str
    email: str
    cohort: str
    municipality: str
    workplace: str | None
    language: str
    manager_name: str
    manager_email: str
    state: str
    version: int
    definition_version: str
    obligations: list[ObligationView]
    next_due: tuple[str, datetime] | None
    facts: Facts
    network_group: int | None = None

    @property
    def state_label(self) -> str:
        return _state_label(self.definition_version, self.state)

    @property
    def outstanding(self) -> list[str]:
        return [o.name for o in self.obligations if o.status == "open"]

    @property
    def overdue(self) -> list[ObligationView]:
        return [o for o in self.obligations if o.overdue]

    def as_json(self) -> dict[str, Any]:
        host = self.facts.host
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "cohort": self.cohort,
            "municipality": self.municipality,
            "workplace": self.workplace,
            "language": self.language,
            "manager": {"name": self.manager_name, "email": self.manager_email},
            "host": None
            if host is None
            else {
                "name": host.name,
                "email": host.email,
                "role": host.role,
                "municipality": host.municipality,
            },
            "state": self.state,
            "state_label": self.state_label,
            "version": self.version,
            "programme": self.definition_version,
            "definition_version": self.definition_version,
            "outstanding": self.outstanding,
            "overdue": [o.name for o in self.overdue],
            "obligations": {
                o.name: {
                    "status": o.status,
                    "due": o.due.isoformat(),
                    "overdue": o.overdue,
                    **({"waiver_reason": o.waiver_reason} if o.waiver_reason else {}),
                }
                for o in self.obligations
            },
            "next_due": None
            if self.next_due is None
            else {"rule": self.next_due[0], "at": self.next_due[1].isoformat()},
            "learning_goals": list(self.facts.goals),
            "facts": self.facts.to_json(),
            "network_group": self.network_group,
        }


@dataclass(frozen=True)
class AuditView:
    seq: int
    at: datetime
    actor: str
    event: str
    from_state: str | None
    to_state: str
    note: str | None
    data: dict[str, Any]
    role: str | None = None
    """The authenticated database role that wrote the entry (``actor`` is whom it says it
    acted for); ``None`` before it was recorded, or before the step is written."""
    # cli, link or scheduler; None for entries written before the channel was kept.
    channel: str | None = None

    @property
    def summary(self) -> str:
        """The note, or for a notification the rule and whom it went to
        (``day_reminder #1 to participant, manager``)."""
        rule, recipients = self.data.get("rule"), self.data.get("recipients")
        if self.note or not isinstance(rule, str) or not isinstance(recipients, list):
            return self.note or ""
        occurrence = self.data.get("occurrence")
        number = f" #{occurrence}" if isinstance(occurrence, int) and occurrence else ""
        return f"{rule}{number} to {', '.join(map(str, recipients))}"

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "role": self.role,
            "event": self.event,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "note": self.note,
            "data": self.data,
            "channel": self.channel,
        }


@dataclass(frozen=True)
class TriggerView:
    trigger: str
    possible: bool
    reasons: list[str]
    obligations: list[str]


@dataclass(frozen=True)
class TriggersView:
    """Every trigger for one participant; ``ended`` says why none can be, when their path
    has ended (and then is the one thing worth saying)."""

    participant_id: int
    name: str
    state: str
    ended: str | None
    triggers: list[TriggerView]


@dataclass(frozen=True)
class StepResult:
    participant: ParticipantView
    entries: list[AuditView]
    notifications: list[str]
    dry_run: bool = False


@dataclass(frozen=True)
class BulkResult:
    advanced: list[tuple[int, str, str]]
    refused: dict[str, list[str]]
    skipped: int


@dataclass(frozen=True)
class OutboxView:
    id: int
    participant_id: int | None
    rule: str
    occurrence: str
    recipient: str
    subject: str
    status: str
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()
        }


@dataclass(frozen=True)
class MessageView:
    """One outbox message in its wire form: ``data`` is the RFC 5322 bytes (LF line ends,
    as in an ``.eml`` file); ``headers`` its header fields decoded, without the MIME ones;
    ``text`` the plain-text part; ``attachments`` (file name, content type) pairs."""

    id: int
    status: str
    sent_at: datetime | None
    last_error: str | None
    headers: tuple[tuple[str, str], ...]
    text: str
    attachments: tuple[tuple[str, str], ...]
    data: bytes


OUTBOX_STATUSES = ("pending", "sent", "failed", "dropped")


def cohort_view(row: CohortRow, counts: dict[str, int]) -> CohortView:
    return CohortView(
        code=row.code,
        name=row.name,
        days=row.days,
        venue=row.venue,
        admin_email=row.admin_email,
        max_absences=row.max_absences,
        send_hour=row.send_hour,
        jti_link=row.jti_link,
        articles=row.articles,
        participants=sum(counts.values()),
        by_state={s: counts[s] for s in row.rules.state_names if s in counts},
        self_service=row.self_service,
        link_days=row.link_days,
        programme=row.programme,
    )


def participant_view(
    row: ParticipantRow,
    cohort: CohortRow,
    next_due: tuple[str, datetime] | None,
    today: date,
) -> ParticipantView:
    cohort = cohort.as_version(row.definition_version)
    plan = cohort.plan
    active = row.state not in FINAL_STATES
    obligations = []
    for name in plan.rules.obligations:
        status = obligation_status(name, row.facts, plan)
        due = obligation_due(name, plan)
        waiver = row.facts.waivers.get(name)
        obligations.append(
            ObligationView(
                name,
                status,
                due,
                overdue=active and status == "open" and due < today,
                waiver_reason=waiver.reason if waiver else None,
            )
        )
    return ParticipantView(
        id=row.id,
        name=row.name,
        email=row.email,
        cohort=cohort.code,
        municipality=row.municipality,
        workplace=row.workplace,
        language=row.language,
        manager_name=row.manager_name,
        manager_email=row.manager_email,
        state=row.state,
        version=row.version,
        definition_version=row.definition_version,
        obligations=obligations,
        next_due=next_due if active else None,
        facts=row.facts,
        network_group=row.network_group,
    )


def audit_view(m: Any) -> AuditView:
    return AuditView(
        seq=m["seq"],
        at=m["at"],
        actor=m["actor"],
        event=m["event"],
        from_state=m["from_state"],
        to_state=m["to_state"],
        note=m["note"],
        data=dict(m["data"] or {}),
        role=m.get("role"),
        channel=m.get("channel"),
    )
