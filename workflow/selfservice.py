"""Self-service through the personal links in the mail: what a link's page shows, what its
form records, and the approvals of cohorts that want to look first.

A submission goes through :class:`~workflow.engine.Workflow` exactly as ``lps advance`` and
``lps host set`` do, with the person behind the link as the actor (``participant:12 via
link``) and ``link`` as the channel. Opening a link reads; only :func:`submit` writes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from states.programme import FINAL_STATES, outstanding
from workflow import validation
from workflow.errors import ConcurrentChange, GuardFailed, InvalidInput, LpsError, NotFound
from workflow.kernel import Runtime, StepRequest
from workflow.kernel import change as change_step
from workflow.links import PURPOSES, actor_for, token_hash
from workflow.messages import queue
from workflow.models import APPROVALS, AUDIT, COHORTS, LINKS, PARTICIPANTS
from workflow.records import LINK_DONE, CohortRow, ParticipantRow, Step, load_cohorts

__all__ = [
    "APPROVAL_EVENTS",
    "AlreadyRecorded",
    "ApprovalView",
    "FormInvalid",
    "LinkClosed",
    "LinkPage",
    "OverviewRow",
    "Recorder",
    "Recorders",
    "Submitted",
    "approvals",
    "approve",
    "open_link",
    "parse_form",
    "reject",
    "submit",
]

# The audit events that record each purpose's step.
_EVENTS: dict[str, tuple[str, ...]] = {
    "manager_conversation": ("hold_manager_conversation",),
    "jti": ("complete_jti",),
    "host": ("set_host",),
    "career_visit": ("hold_career_visit",),
    "closing": ("hold_closing_conversation", "decline_closing_conversation"),
}
APPROVAL_EVENTS = ("reject_confirmation",)
_OPEN = ("active", "submitted")
_MAX_TRIES = 5


class LinkClosed(LpsError):
    """The token is unknown, expired or revoked: one answer for all three, naming nobody."""

    def __init__(self) -> None:
        super().__init__("this link does not work (any more)")


class FormInvalid(LpsError):
    """Fields of a form that cannot be read: ``errors`` maps each field to what is wrong
    (``missing``, ``date``, ``email``, ``choice``, ``too_long``)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{name}: {what}" for name, what in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class OverviewRow:
    """One of a manager's participants: their state and the obligations still open."""

    name: str
    state: str
    open: tuple[tuple[str, date], ...]


@dataclass(frozen=True)
class LinkPage:
    """What a link's page shows. ``status``: ``open`` (the form), ``submitted`` (waiting for
    approval), ``used`` (recorded: ``recorded``, ``recorded_at``, ``recorded_by``)."""

    status: str
    purpose: str
    role: str
    language: str
    key: str
    participant: str
    cohort: str
    self_service: str
    recorded: dict[str, Any] = field(default_factory=dict)
    recorded_at: datetime | None = None
    recorded_by: str | None = None
    overview: tuple[OverviewRow, ...] = ()


class AlreadyRecorded(LpsError):
    """The link's step was recorded (or submitted) already; ``page`` shows what and by whom."""

    def __init__(self, page: LinkPage):
        super().__init__("this step is already recorded")
        self.page = page


@dataclass(frozen=True)
class Submitted:
    """A submission's outcome: ``recorded`` at once, or ``pending`` an administrator."""

    outcome: str
    page: LinkPage


@dataclass(frozen=True)
class ApprovalView:
    """A confirmation waiting for an administrator."""

    id: int
    participant: int
    cohort: str
    step: str
    submitted_by: str
    submitted_at: datetime
    request: dict[str, Any]


# -- reading ----------------------------------------------------------------------------------


def _link_row(conn: Connection, token: str, now: datetime) -> Any:
    if not isinstance(token, str) or not re.fullmatch(r"[A-Za-z0-9_-]{20,64}", token):
        raise LinkClosed()
    row = conn.execute(select(LINKS).where(LINKS.c.token_hash == token_hash(token))).first()
    if row is None or row.status == "revoked" or now >= row.expires_at:
        raise LinkClosed()
    return row


def _participant(conn: Connection, participant_id: int) -> tuple[ParticipantRow, CohortRow]:
    found = conn.execute(select(PARTICIPANTS).where(PARTICIPANTS.c.id == participant_id)).first()
    if found is None or found.erased_at is not None:
        raise LinkClosed()
    row = ParticipantRow.from_row(found)
    cohort = load_cohorts(conn, {row.cohort_id})[row.cohort_id]
    return row, cohort.as_version(row.definition_version)


def open_link(runtime: Runtime, token: str) -> LinkPage:
    """The page of the link with ``token``; raises :class:`LinkClosed` for an unknown, expired
    or revoked one. Reads only."""
    with runtime.db.reading() as conn:
        return _page(conn, _link_row(conn, token, runtime.now()), runtime.now())


def _page(conn: Connection, link: Any, now: datetime) -> LinkPage:
    row, cohort = _participant(conn, link.participant_id)
    if row.state in FINAL_STATES and link.purpose != "overview":
        raise LinkClosed()
    status = "open"
    recorded: dict[str, Any] = {}
    at: datetime | None = None
    by: str | None = None
    purpose = link.purpose
    if purpose in LINK_DONE and LINK_DONE[purpose](row.facts):
        status = "used"
        recorded = _recorded(row, purpose)
        entry = conn.execute(
            select(AUDIT.c.at, AUDIT.c.actor, AUDIT.c.event)
            .where(AUDIT.c.participant_id == row.id, AUDIT.c.event.in_(_EVENTS[purpose]))
            .order_by(AUDIT.c.seq.desc())
            .limit(1)
        ).first()
        if entry is not None:
            at, by = entry.at, entry.actor
            if entry.event == "decline_closing_conversation":
                recorded = {"declined": True}
    elif link.status == "submitted":
        pending = conn.execute(
            select(APPROVALS)
            .where(APPROVALS.c.link_id == link.id, APPROVALS.c.status == "pending")
            .order_by(APPROVALS.c.id.desc())
        ).first()
        if pending is not None:
            status = "submitted"
            recorded, at, by = dict(pending.request), pending.submitted_at, pending.submitted_by
    overview: tuple[OverviewRow, ...] = ()
    if purpose == "overview":
        overview = _overview(conn, row, cohort, now)
    return LinkPage(
        status=status,
        purpose=purpose,
        role=link.role,
        language=link.language,
        key=link.token_hash,
        participant=row.name,
        cohort=cohort.name,
        self_service=cohort.self_service,
        recorded=recorded,
        recorded_at=at,
        recorded_by=by,
        overview=overview,
    )


def _recorded(row: ParticipantRow, purpose: str) -> dict[str, Any]:
    facts = row.facts
    if purpose == "manager_conversation":
        return {"on": facts.manager_conversation, "goals": list(facts.goals)}
    if purpose == "jti":
        return {"on": facts.jti_completed}
    if purpose == "host":
        host = facts.host
        assert host is not None
        return {
            "name": host.name,
            "email": host.email,
            "role": host.role,
            "municipality": host.municipality,
        }
    if purpose == "career_visit":
        return {"on": facts.career_visit}
    if facts.closing_declined is not None:
        return {"declined": True}
    return {
        "on": facts.closing_conversation,
        "agreements": facts.agreements or "",
        "internship": facts.internship,
    }


def _overview(
    conn: Connection, row: ParticipantRow, cohort: CohortRow, now: datetime
) -> tuple[OverviewRow, ...]:
    rows = []
    for found in conn.execute(
        select(PARTICIPANTS)
        .where(
            PARTICIPANTS.c.cohort_id == cohort.id,
            PARTICIPANTS.c.manager_email == row.manager_email,
            PARTICIPANTS.c.erased_at.is_(None),
        )
        .order_by(PARTICIPANTS.c.name, PARTICIPANTS.c.id)
    ):
        member = ParticipantRow.from_row(found)
        still = (
            ()
            if member.state in FINAL_STATES
            else tuple(outstanding(member.facts, cohort.as_version(member.definition_version).plan))
        )
        rows.append(OverviewRow(member.name, member.state, still))
    return tuple(rows)


# -- the form ---------------------------------------------------------------------------------

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FIELD_LIMIT = 2000


def parse_form(purpose: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """The values of a link's form for ``purpose``, from its fields as submitted (strings).
    Raises :class:`FormInvalid` naming each field that cannot be read."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}

    def text(name: str, *, required: bool = True) -> str:
        value = str(fields.get(name, "") or "").strip()
        if len(value) > _FIELD_LIMIT:
            errors[name] = "too_long"
        elif not value and required:
            errors[name] = "missing"
        return value

    def day(name: str) -> date | None:
        value = text(name)
        if name in errors:
            return None
        if not _ISO_DATE.fullmatch(value):
            errors[name] = "date"
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            errors[name] = "date"
            return None

    if purpose not in PURPOSES or purpose == "overview":
        raise InvalidInput(f"a {purpose} link has no form")
    if purpose == "closing":
        outcome = text("outcome")
        if outcome not in ("held", "declined"):
            errors["outcome"] = "choice" if outcome else "missing"
        values["outcome"] = outcome
        if outcome == "held":
            values["on"] = day("on")
            values["agreements"] = text("agreements", required=False)
            values["internship"] = str(fields.get("internship", "")) == "yes"
    elif purpose == "host":
        for name in ("name", "email", "municipality"):
            values[name] = text(name)
        if "email" not in errors and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", values["email"]):
            errors["email"] = "email"
        role = text("role")
        if role not in ("leader", "hr") and "role" not in errors:
            errors["role"] = "choice"
        values["role"] = role
    else:
        values["on"] = day("on")
        if purpose == "manager_conversation":
            goals = [line.strip() for line in text("goals").splitlines() if line.strip()]
            if not goals and "goals" not in errors:
                errors["goals"] = "missing"
            values["goals"] = goals
    if errors:
        raise FormInvalid(errors)
    return values


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}


def _typed(values: Mapping[str, Any]) -> dict[str, Any]:
    typed = dict(values)
    if isinstance(typed.get("on"), str):
        typed["on"] = date.fromisoformat(typed["on"])
    return typed


# -- writing ----------------------------------------------------------------------------------


class Recorder(Protocol):
    """What records a step: the engine's facade, acting as one person through one channel."""

    def advance(self, ref: str | int, request: StepRequest, *, dry_run: bool = False) -> Any: ...

    def set_host(
        self, ref: str | int, *, name: str, email: str, role: str, municipality: str
    ) -> Any: ...


# Makes the recorder acting as ``actor`` through channel ``via``.
Recorders = Callable[[str, str], Recorder]


def _apply(recorder: Recorders, link: Any, purpose: str, values: Mapping[str, Any]) -> None:
    """Record the step as ``lps advance`` (or ``lps host set``) would, as the link's person."""
    engine = recorder(actor_for(link.person, link.participant_id), "link")
    ref = link.participant_id
    if purpose == "host":
        engine.set_host(
            ref,
            name=values["name"],
            email=values["email"],
            role=values["role"],
            municipality=values["municipality"],
        )
        return
    engine.advance(ref, _request(purpose, values))


def _request(purpose: str, values: Mapping[str, Any]) -> StepRequest:
    """The step a submitted form of ``purpose`` (other than the host's) asks for."""
    if purpose == "closing" and values["outcome"] == "declined":
        return StepRequest("decline_closing_conversation")
    trigger = PURPOSES[purpose].trigger
    assert trigger is not None
    return StepRequest(
        trigger,
        on=values.get("on"),
        goals=tuple(values.get("goals", ())),
        note=values.get("agreements") or None,
        internship=values.get("internship"),
    )


def submit(
    runtime: Runtime, recorder: Recorders, token: str, fields: Mapping[str, str]
) -> Submitted:
    """Record what a link's form says (or, in a cohort that approves, keep it for an
    administrator). Raises :class:`LinkClosed`, :class:`FormInvalid`, :class:`GuardFailed`
    (the same reasons as ``lps advance``) or :class:`AlreadyRecorded`."""
    for _ in range(_MAX_TRIES):
        with runtime.db.reading() as conn:
            link = _link_row(conn, token, runtime.now())
            page = _page(conn, link, runtime.now())
        if page.status != "open":
            raise AlreadyRecorded(page)
        values = parse_form(link.purpose, fields)
        try:
            if page.self_service == "approve":
                return _keep_for_approval(runtime, recorder, link, values)
            if page.self_service == "off":
                raise LinkClosed()
            _apply(recorder, link, link.purpose, values)
        except (GuardFailed, ConcurrentChange) as refused:
            with runtime.db.reading() as conn:
                again = _page(conn, _link_row(conn, token, runtime.now()), runtime.now())
            if again.status != "open":
                raise AlreadyRecorded(again) from None
            if isinstance(refused, GuardFailed):
                raise
            continue
        return Submitted("recorded", open_link(runtime, token))
    raise ConcurrentChange("the participant keeps changing at the same time; try again")


def _keep_for_approval(
    runtime: Runtime, recorder: Recorders, link: Any, values: dict[str, Any]
) -> Submitted:
    if link.purpose != "host":
        _apply_dry(recorder, link, values)
    now = runtime.now()
    with runtime.db.transaction() as conn:
        taken = conn.execute(
            update(LINKS)
            .where(LINKS.c.id == link.id, LINKS.c.status == "active")
            .values(status="submitted")
        ).rowcount
        if taken != 1:
            raise AlreadyRecorded(_page(conn, link, now))
        conn.execute(
            APPROVALS.insert().values(
                participant_id=link.participant_id,
                link_id=link.id,
                purpose=link.purpose,
                request=_jsonable(values),
                submitted_by=actor_for(link.person, link.participant_id),
                submitted_at=now,
                status="pending",
            )
        )
        fresh = conn.execute(select(LINKS).where(LINKS.c.id == link.id)).one()
        return Submitted("pending", _page(conn, fresh, now))


def _apply_dry(recorder: Recorders, link: Any, values: Mapping[str, Any]) -> None:
    """Check the guards now, so that a refusal is shown to the person and not the approver."""
    engine = recorder("check", "link")
    engine.advance(link.participant_id, _request(link.purpose, values), dry_run=True)


# -- approvals --------------------------------------------------------------------------------


def approvals(runtime: Runtime, cohort: str | None = None) -> list[ApprovalView]:
    """The confirmations waiting for an administrator, oldest first."""
    query = (
        select(APPROVALS, COHORTS.c.code)
        .select_from(APPROVALS.join(PARTICIPANTS).join(COHORTS))
        .where(APPROVALS.c.status == "pending")
        .order_by(APPROVALS.c.id)
    )
    with runtime.db.reading() as conn:
        if cohort is not None:
            found = conn.execute(select(COHORTS.c.id).where(COHORTS.c.code == cohort)).first()
            if found is None:
                raise NotFound(f"no cohort with code '{cohort}'; see `lps cohort list`")
            query = query.where(COHORTS.c.code == cohort)
        rows = conn.execute(query).all()
    return [
        ApprovalView(
            r.id,
            r.participant_id,
            r.code,
            r.purpose,
            r.submitted_by,
            r.submitted_at,
            dict(r.request),
        )
        for r in rows
    ]


def _pending(conn: Connection, approval_id: int) -> Any:
    row = (
        conn.execute(select(APPROVALS).where(APPROVALS.c.id == approval_id)).first()
        if 0 < approval_id < 2**31
        else None
    )
    if row is None:
        raise NotFound(f"no approval with id {approval_id}; see `lps approvals list`")
    if row.status != "pending":
        raise InvalidInput(f"approval {approval_id} is already {row.status}")
    return row


def approve(runtime: Runtime, recorder: Recorders, approval_id: int) -> ApprovalView:
    """Record a waiting confirmation as its person submitted it (the audit entry names them
    and the channel ``link``); refused as ``lps advance`` would refuse it."""
    with runtime.db.reading() as conn:
        approval = _pending(conn, approval_id)
        link = conn.execute(select(LINKS).where(LINKS.c.id == approval.link_id)).one()
    values = _typed(approval.request)
    _apply(recorder, link, approval.purpose, values)
    with runtime.db.transaction() as conn:
        conn.execute(
            update(APPROVALS)
            .where(APPROVALS.c.id == approval_id)
            .values(status="approved", decided_at=runtime.now(), decided_by=runtime.actor)
        )
    return _view(approval)


def reject(runtime: Runtime, approval_id: int, reason: str) -> ApprovalView:
    """Turn down a waiting confirmation: the person is told why by mail, in their language,
    and their link works again."""
    cleaned = validation.REASON.clean(reason)
    if not cleaned:
        raise InvalidInput("a reason is required: say why the confirmation is rejected")
    with runtime.db.reading() as conn:
        approval = _pending(conn, approval_id)
        link = conn.execute(select(LINKS).where(LINKS.c.id == approval.link_id)).one()

    def change(step: Step) -> list[str]:
        step.record(
            "reject_confirmation",
            step.state,
            step.state,
            note=cleaned,
            data={"approval": approval_id, "step": approval.purpose, "role": link.role},
        )
        return queue(
            step,
            "confirmation_rejected",
            (link.role,),
            occurrence=approval_id,
            extras={"reason": cleaned, "step": approval.purpose},
            settings=runtime.settings,
        )

    change_step(runtime, approval.participant_id, change)
    with runtime.db.transaction() as conn:
        conn.execute(
            update(APPROVALS)
            .where(APPROVALS.c.id == approval_id, APPROVALS.c.status == "pending")
            .values(
                status="rejected",
                decided_at=runtime.now(),
                decided_by=runtime.actor,
                reason=cleaned,
            )
        )
        conn.execute(
            update(LINKS)
            .where(LINKS.c.id == link.id, LINKS.c.status == "submitted")
            .values(status="active")
        )
    return _view(approval)


def _view(row: Any) -> ApprovalView:
    return ApprovalView(
        row.id,
        row.participant_id,
        "",
        row.purpose,
        row.submitted_by,
        row.submitted_at,
        dict(row.request),
    )
