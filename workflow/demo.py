"""A demo cohort walked through the whole programme on a simulated clock.

The simulation starts about five months before "now" and moves a day at a time, running the
sweep each morning as the scheduler would, so that the demo ends today with a realistic
history: reminders sent, a skipped JTI recorded late, an absent day waived, an early career
visit passed through, a withdrawal, a deferral and an automatic completion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from states.programme import LOCAL_TZ
from states.workdays import AFTER, working_day
from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import StepRequest, Workflow
from workflow.errors import LpsError
from workflow.migrate import upgrade
from workflow.settings import Settings

if TYPE_CHECKING:
    from notifications.delivery import Channel

__all__ = [
    "DOMAIN",
    "PEOPLE",
    "DemoExists",
    "DemoPerson",
    "Narrate",
    "run_demo",
]


Narrate = Callable[[str], None]

CODE, LATER_CODE = "DEMO-1", "DEMO-1B"
# Reserved for examples (RFC 2606): the demo's mail can never reach a real mailbox.
DOMAIN = "example.org"


class DemoExists(LpsError):
    """The database already holds the demo cohort; a second one is not added."""

    def __init__(self, code: str, where: str, remove: str):
        self.code = code
        super().__init__(
            f"The demo cohort {code} already exists in {where}; nothing was added. {remove}"
        )


@dataclass(frozen=True)
class DemoPerson:
    name: str
    email: str
    municipality: str
    workplace: str
    manager: str
    language: str = "da"


PEOPLE = (
    DemoPerson("Søren Ærø", "soren.aero", "Odense", "Hjemmeplejen Vest", "Mette Kjær"),
    DemoPerson("Mai Nguyễn", "mai.nguyen", "Aarhus", "Borgerservice", "Jens Holm"),
    DemoPerson("Łukasz Şükrü", "lukasz.sukru", "Vejle", "Teknik og Miljø", "Ida Berg", "en"),
    DemoPerson("Anne Højgaard", "anne.hojgaard", "Odense", "Dagtilbud Syd", "Per Lund"),
    DemoPerson("Ole Åberg", "ole.aberg", "Aarhus", "Jobcenter", "Lene Vang"),
    DemoPerson("Fatima Østergaard", "fatima.ostergaard", "Vejle", "Skoleområdet", "Kim Dahl"),
)


def _monday_on_or_after(day: date) -> date:
    return day + timedelta(days=(7 - day.weekday()) % 7)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LOCAL_TZ)


def run_demo(
    url: str,
    *,
    end: datetime,
    narrate: Narrate,
    channel: Channel,
    actor: str = "demo",
    settings: Settings | None = None,
) -> str:
    """Create the schema if needed, then walk a demo cohort up to ``end``, delivering its
    mail through ``channel``. Returns its code; raises :class:`DemoExists` when the database
    already holds it."""
    database = Database(url)
    upgrade(database)
    today = end.astimezone(LOCAL_TZ).date()
    day_1 = _monday_on_or_after(today - timedelta(days=125))
    # Teaching days fall on working days: a Monday that is a holiday gives way to Tuesday.
    days = [working_day(day_1 + timedelta(days=14 * n), AFTER) for n in range(5)]
    start = day_1 - timedelta(days=30)
    clock = FixedClock(_at(start, 10))
    wf = Workflow(database, clock=clock, actor=actor, settings=settings)

    existing = {c.code for c in wf.cohorts()} & {CODE, LATER_CODE}
    if existing:
        if database.sqlite_path is not None:
            where, remove = (
                str(database.sqlite_path),
                f"Remove {database.sqlite_path} to start again.",
            )
        else:
            where, remove = database.display_url, "Use an empty database to start again."
        raise DemoExists(min(existing), where, remove)
    code, later_code = CODE, LATER_CODE
    domain = DOMAIN

    wf.create_cohort(
        code,
        name="Leder på spring (demo)",
        days=days,
        venue="Kommunernes Hus, Weidekampsgade 10, København S",
        admin_email=f"kursus@{domain}",
        jti_link=f"https://jti.{DOMAIN}/survey",
        articles=[
            {"title": "Fra medarbejder til leder", "url": f"https://{DOMAIN}/artikel-1"},
            {"title": "Ledelsesrummet i kommunen", "url": f"https://{DOMAIN}/artikel-2"},
        ],
    )
    later_day_1 = _monday_on_or_after(today + timedelta(days=35))
    wf.create_cohort(
        later_code,
        name="Leder på spring (demo, næste hold)",
        days=[working_day(later_day_1 + timedelta(days=14 * n), AFTER) for n in range(5)],
        venue="Kommunernes Hus, Weidekampsgade 10, København S",
        admin_email=f"kursus@{domain}",
    )
    narrate(f"Cohort {code}: teaching days " + ", ".join(d.isoformat() for d in days))

    ids: dict[str, int] = {}
    for person in PEOPLE:
        result = wf.enrol(
            code,
            name=person.name,
            email=f"{person.email}@{domain}",
            municipality=person.municipality,
            workplace=person.workplace,
            manager_name=person.manager,
            manager_email=f"{person.manager.split()[0].lower()}@{domain}",
            language=person.language,
        )
        ids[person.email] = result.participant.id
    narrate(f"{start.isoformat()}: enrolled {len(PEOPLE)} participants")
    # Everyone is named by name, and by address too only where two share a name.
    shared = {p.name for p in PEOPLE if sum(q.name == p.name for q in PEOPLE) > 1}
    shown = {
        ids[p.email]: f"{p.name} <{p.email}@{domain}>" if p.name in shared else p.name
        for p in PEOPLE
    }

    def step(who: str, trigger: str, **kw: object) -> None:
        result = wf.advance(ids[who], StepRequest(trigger, **kw))  # type: ignore[arg-type]
        for entry in result.entries:
            auto = " (automatic)" if entry.data.get("automatic") else ""
            where = (
                f"→ {entry.to_state}"
                if entry.from_state != entry.to_state
                else f"recorded while in {entry.to_state}"
            )
            narrate(
                f"{clock.now().astimezone(LOCAL_TZ).date().isoformat()}: "
                f"{shown[ids[who]]}: {entry.event}{auto} {where}"
            )

    def waive(who: str, obligation: str, reason: str) -> None:
        wf.waive(ids[who], obligation, reason)
        narrate(
            f"{clock.now().astimezone(LOCAL_TZ).date().isoformat()}: "
            f"{shown[ids[who]]}: {obligation} waived ({reason})"
        )

    d = days
    # What happens on which day, at 11:00 local time (after the 09:00 sweep).
    plan: dict[date, list[Callable[[], None]]] = {
        start + timedelta(days=5): [
            lambda: step(
                "soren.aero",
                "hold_manager_conversation",
                goals=("Tydelighed i kommunikationen", "At tage beslutninger"),
            ),
            lambda: step(
                "lukasz.sukru", "hold_manager_conversation", goals=("Authority in meetings",)
            ),
            lambda: step("ole.aberg", "hold_manager_conversation", goals=("Overblik",)),
            lambda: step(
                "fatima.ostergaard",
                "hold_manager_conversation",
                goals=("Feedback <og> feedforward",),
            ),
        ],
        start + timedelta(days=8): [
            lambda: step("mai.nguyen", "hold_manager_conversation", goals=("Min rolle som leder",)),
            lambda: step("ole.aberg", "defer", reason="Travl periode i jobcentret", to=later_code),
        ],
        d[0] - timedelta(days=10): [
            lambda: step("soren.aero", "complete_jti"),
            lambda: step("lukasz.sukru", "complete_jti"),
            lambda: step("fatima.ostergaard", "complete_jti"),
        ],
        d[0]: [lambda: _register_all(wf, code, narrate, clock)],
        d[0] + timedelta(days=3): [
            lambda: step("mai.nguyen", "complete_jti", on=d[0] + timedelta(days=2)),
            lambda: step(
                "anne.hojgaard",
                "hold_manager_conversation",
                goals=("Ledelsesrum",),
                on=d[0] - timedelta(days=20),
            ),
            lambda: step("anne.hojgaard", "complete_jti"),
        ],
        d[0] + timedelta(days=6): [
            lambda: _host(wf, ids["mai.nguyen"], "Aarhus", domain, narrate),
            lambda: _host(wf, ids["soren.aero"], "Odense", domain, narrate),
            lambda: _host(wf, ids["anne.hojgaard"], "Odense", domain, narrate),
            lambda: _host(wf, ids["fatima.ostergaard"], "Vejle", domain, narrate),
        ],
        d[0] + timedelta(days=9): [lambda: step("mai.nguyen", "hold_career_visit")],
        d[1]: [
            lambda: step("mai.nguyen", "register_day", absent=True, reason="Syg"),
            lambda: _register_all(wf, code, narrate, clock, except_refs=[str(ids["mai.nguyen"])]),
        ],
        d[1] + timedelta(days=2): [
            lambda: step("lukasz.sukru", "withdraw", reason="New job outside the municipality"),
            lambda: waive("mai.nguyen", "attendance", "Dagen indhentet ved individuel samtale"),
        ],
        d[2]: [lambda: _register_all(wf, code, narrate, clock)],
        d[2] + timedelta(days=4): [
            lambda: step("soren.aero", "hold_career_visit"),
            lambda: step("fatima.ostergaard", "hold_career_visit"),
        ],
        d[3]: [lambda: _register_all(wf, code, narrate, clock)],
        d[3] + timedelta(days=3): [lambda: step("anne.hojgaard", "hold_career_visit")],
        d[4]: [
            lambda: _register_all(wf, code, narrate, clock),
            lambda: step("soren.aero", "deliver_speech"),
            lambda: step("mai.nguyen", "deliver_speech"),
            lambda: step("anne.hojgaard", "deliver_speech"),
            lambda: step("fatima.ostergaard", "deliver_speech"),
        ],
        d[4] + timedelta(days=20): [
            lambda: step(
                "soren.aero",
                "hold_closing_conversation",
                note="Praktik i hjemmeplejen i foråret",
                internship=True,
            ),
            lambda: step("soren.aero", "complete"),
            lambda: step("fatima.ostergaard", "decline_closing_conversation"),
        ],
    }

    day = start
    sent = 0
    while day <= today:
        clock.set(_at(day, 9, 5))
        if day > start:
            report = wf.remind(channel=channel)
            sent += report.delivered
            for decision in report.decisions:
                if decision.outcome == "fired":
                    who = shown.get(decision.participant_id, decision.email)
                    narrate(f"{day.isoformat()}: scheduler: {decision.rule} for {who}")
        clock.set(_at(day, 11))
        for action in plan.get(day, []):
            if _at(day, 11) <= end:
                action()
        day += timedelta(days=1)
    clock.set(end)
    sent += wf.remind(channel=channel).delivered
    narrate(f"{sent} messages delivered during the simulation")
    return code


def _register_all(
    wf: Workflow,
    code: str,
    narrate: Narrate,
    clock: FixedClock,
    except_refs: list[str] | None = None,
) -> None:
    result = wf.advance_cohort(code, StepRequest("register_day"), except_refs=except_refs or ())
    day = clock.now().astimezone(LOCAL_TZ).date().isoformat()
    narrate(f"{day}: teaching day registered for {len(result.advanced)} participants")


def _host(
    wf: Workflow, participant_id: int, municipality: str, domain: str, narrate: Narrate
) -> None:
    view = wf.set_host(
        participant_id,
        name=f"Erfaren leder i {municipality}",
        email=f"vaert.{municipality.lower()}@{domain}",
        role="leader",
        municipality=municipality,
    )
    narrate(f"host registered for {view.name}")
