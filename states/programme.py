"""The "Leder på spring" programme: states, triggers, named guards, obligations and skips.

This module is the programme's specification in code. Every guard is a pure function of the
participant's recorded facts, the cohort's dates and the clock; it returns ``None`` when the
rule holds and, when it is broken, one sentence an administrator understands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from states.definition import Definition, builtin_definition
from states.errors import Refusal
from states.facts import DayRecord, Facts, Waiver

__all__ = [
    "ABSENCE_REASON",
    "ACTIVE_STATES",
    "AFTER_CERTIFICATION",
    "ANSWER_AFTER_INVITE",
    "BEFORE_DAY_ONE",
    "BUILTIN",
    "DAY_FIVE_ATTENDED",
    "DAY_HAS_COME",
    "DAY_THEMES",
    "DEFINITION_VERSION",
    "FINAL_STATES",
    "GOALS",
    "HOST_MUNICIPALITY",
    "HOST_REGISTERED",
    "INITIAL_STATE",
    "INVITED",
    "JTI_NEW",
    "JTI_WINDOW",
    "LATER_COHORT",
    "LOCAL_TZ",
    "MANAGER_CONVERSATION_NEW",
    "NOTICES_OUTLIVING_PATH",
    "NOT_FUTURE",
    "OBLIGATIONS",
    "OBLIGATIONS_MET",
    "OBLIGATION_BY_NAME",
    "OBLIGATION_DEFINITIONS",
    "OBLIGATION_LABELS",
    "ONE_AT_A_TIME",
    "PASS_THROUGHS",
    "PATH_ORDER",
    "PATH_STATES",
    "REASON",
    "REASON_REQUIRED",
    "SIXTY_DAYS",
    "SPEECH_NEW",
    "STATES",
    "STATE_BY_NAME",
    "STATE_NAMES",
    "STEP_NOTICES",
    "TIMED_TRIGGERS",
    "TRANSITIONS",
    "TRIGGERS",
    "VISIT_FROM_DAY_ONE",
    "VISIT_NEW",
    "CohortPlan",
    "Effect",
    "G",
    "Guard",
    "GuardCheck",
    "Obligation",
    "PassThrough",
    "Programme",
    "Situation",
    "State",
    "StepArgs",
    "StepNotice",
    "Transition",
    "apply_waiver",
    "attendance_met",
    "blocking_obligations",
    "compose",
    "guard_refusals",
    "normalise_trigger",
    "not_possible_reason",
    "obligation_due",
    "obligation_met",
    "obligation_status",
    "outstanding",
    "pass_through_for",
    "path_ended",
    "refusals",
    "replay",
    "same_municipality",
    "transition_for",
    "unwaived_absences",
    "waiver_refusal",
]


DEFINITION_VERSION = "leder-paa-spring/1"
LOCAL_TZ = ZoneInfo("Europe/Copenhagen")


@dataclass(frozen=True)
class State:
    name: str
    label_da: str
    label_en: str
    final: bool = False
    left_path: bool = False


INITIAL_STATE = "enrolled"


@dataclass(frozen=True)
class CohortPlan:
    """The cohort's dates and settings that the rules depend on."""

    code: str
    days: tuple[date, ...]
    max_absences: int = 0
    send_hour: int = 9
    # The version of the programme the cohort runs; ``None`` is the built-in one.
    programme: Programme | None = None
    # The cohort's own closure days; the programme's are added in ``closures``.
    closed: frozenset[date] = frozenset()

    def day(self, number: int) -> date:
        return self.days[number - 1]

    @property
    def rules(self) -> Programme:
        """The programme this cohort follows."""
        return self.programme or BUILTIN

    @cached_property
    def closures(self) -> frozenset[date]:
        """Days no timed message goes out beside weekends and public holidays: the
        programme's closure days and the cohort's own."""
        return self.rules.definition.closures | self.closed


@dataclass(frozen=True)
class Situation:
    """What a guard may look at: one participant, their cohort, and the time."""

    state: str
    facts: Facts
    cohort: CohortPlan
    municipality: str
    now: datetime

    @cached_property
    def today(self) -> date:
        return self.now.astimezone(LOCAL_TZ).date()

    @property
    def next_day_number(self) -> int:
        return len(self.facts.days) + 1


@dataclass(frozen=True)
class StepArgs:
    """What the administrator said along with a trigger."""

    on: date | None = None
    goals: tuple[str, ...] = ()
    absent: bool = False
    reason: str | None = None
    note: str | None = None
    early: bool = False
    internship: bool | None = None
    target: CohortPlan | None = None
    automatic: bool = False

    def day(self, situation: Situation) -> date:
        return self.on or situation.today


GuardCheck = Callable[[Situation, StepArgs], "str | None"]


@dataclass(frozen=True)
class Guard:
    """A named programme rule; ``check`` returns why it is broken, or ``None``.

    ``needs_input`` marks a rule about what the administrator must type along with the trigger
    (a learning goal, a reason, the later cohort): `lps triggers` leaves it out, since it says
    nothing about whether the step is possible. ``blocks`` names the obligations that stand in
    the way when the rule is broken.
    """

    name: str
    check: GuardCheck
    needs_input: bool = False
    blocks: Callable[[Situation], list[str]] = field(default=lambda situation: [])


REASON_REQUIRED = Refusal("a reason is required", asks="reason")


def _fmt(day: date) -> str:
    return day.isoformat()


# -- Obligations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Obligation:
    """Something every participant must have done (or had waived) before ``certify``.

    ``met_by`` is the fact that meets it (an attribute of :class:`Facts`, recorded by the
    trigger ``recorded_by``); ``due_day``/``due_offset`` say when: that many days from that
    teaching day. Attendance is met by the teaching days themselves, so it has ``met_by=None``
    and is decided by :func:`attendance_met`.
    """

    name: str
    label_da: str
    label_en: str
    recorded_by: str
    due_day: int
    due_offset: int = 0
    met_by: str | None = None

    def due(self, cohort: CohortPlan) -> date:
        return cohort.day(self.due_day) + timedelta(days=self.due_offset)

    def met(self, facts: Facts, cohort: CohortPlan) -> bool:
        if self.met_by is None:
            return attendance_met(facts, cohort)
        return getattr(facts, self.met_by) is not None


def attendance_met(facts: Facts, cohort: CohortPlan) -> bool:
    """Every teaching day registered, with no more absences than the cohort allows."""
    return len(facts.days) == len(cohort.days) and facts.absences <= cohort.max_absences


def obligation_due(name: str, cohort: CohortPlan) -> date:
    """The calendar day by which an obligation should be met; ``KeyError`` if unknown."""
    return cohort.rules.obligation_by_name[name].due(cohort)


def unwaived_absences(facts: Facts) -> int:
    covered = facts.waivers["attendance"].absences_covered if "attendance" in facts.waivers else 0
    return max(0, facts.absences - covered)


def obligation_met(name: str, facts: Facts, cohort: CohortPlan) -> bool:
    """Whether the fact that meets an obligation is recorded (waivers aside)."""
    return cohort.rules.obligation_by_name[name].met(facts, cohort)


def obligation_status(name: str, facts: Facts, cohort: CohortPlan) -> str:
    """``met``, ``waived`` or ``open``."""
    if obligation_met(name, facts, cohort):
        return "met"
    if name == "attendance":
        if unwaived_absences(facts) <= cohort.max_absences and "attendance" in facts.waivers:
            return "waived" if len(facts.days) == len(cohort.days) else "open"
        return "open"
    return "waived" if name in facts.waivers else "open"


def outstanding(facts: Facts, cohort: CohortPlan) -> list[tuple[str, date]]:
    """Obligations neither met nor waived, with their due dates, earliest first."""
    rows = [
        (name, obligation_due(name, cohort))
        for name in cohort.rules.obligations
        if obligation_status(name, facts, cohort) == "open"
    ]
    return sorted(rows, key=lambda row: row[1])


def waiver_refusal(name: str, facts: Facts, cohort: CohortPlan) -> str | None:
    """Why an obligation cannot be waived now, or ``None``."""
    names = cohort.rules.obligations
    if name not in names:
        return f"unknown obligation '{name}'; choose one of: {', '.join(names)}"
    if obligation_met(name, facts, cohort):
        return f"obligation {name} is already met; there is nothing to waive"
    if name == "attendance":
        if unwaived_absences(facts) <= cohort.max_absences:
            return Refusal(
                "obligation attendance has no absence to waive; register the absent day first",
                asks="absent",
            )
        return None
    if name in facts.waivers:
        return f"obligation {name} is already waived ({facts.waivers[name].reason})"
    return None


def apply_waiver(name: str, facts: Facts, reason: str, today: date) -> Facts:
    waivers = dict(facts.waivers)
    waivers[name] = Waiver(on=today, reason=reason, absences_covered=facts.absences)
    return facts.with_changes(waivers=waivers)


# -- Guards -----------------------------------------------------------------------------------


def _date_not_in_future(sit: Situation, args: StepArgs) -> str | None:
    if args.on is not None and args.on > sit.today:
        return f"the date {_fmt(args.on)} is in the future (today is {_fmt(sit.today)})"
    return None


def _at_least_one_goal(sit: Situation, args: StepArgs) -> str | None:
    if args.automatic:
        return None
    if not args.goals:
        return Refusal("at least one learning goal is required", asks="goal")
    if any(not goal.strip() for goal in args.goals):
        return "a learning goal cannot be empty"
    return None


def _not_recorded(attribute: str, label: str) -> GuardCheck:
    def check(sit: Situation, args: StepArgs) -> str | None:
        recorded = getattr(sit.facts, attribute)
        if recorded is not None and not args.automatic:
            return f"the {label} is already recorded (on {_fmt(recorded)})"
        return None

    return check


def _jti_send_window(sit: Situation, args: StepArgs) -> str | None:
    window = sit.cohort.rules.definition.jti_window_days
    opens = sit.cohort.day(1) - timedelta(days=window)
    if sit.today < opens and not args.early:
        return Refusal(
            f"the JTI and articles go out from {_fmt(opens)} ({window} days before day 1)",
            asks="early",
        )
    return None


def _invited(sit: Situation, args: StepArgs) -> str | None:
    if sit.facts.jti_invited is None:
        return "the JTI has not been sent yet (invite_jti)"
    return None


def _answered_after_invitation(sit: Situation, args: StepArgs) -> str | None:
    invited = sit.facts.jti_invited
    answered = args.day(sit)
    if invited is not None and answered < invited:
        return (
            f"the JTI cannot be answered on {_fmt(answered)}, before it was sent ({_fmt(invited)})"
        )
    return None


def _day_has_come(sit: Situation, args: StepArgs) -> str | None:
    number = sit.next_day_number
    if number > len(sit.cohort.days):
        return f"all {_count(len(sit.cohort.days))} teaching days are already registered"
    day = sit.cohort.day(number)
    if sit.today < day:
        return f"teaching day {number} is on {_fmt(day)}; it can be registered from that date"
    return None


def _reason_if_absent(sit: Situation, args: StepArgs) -> str | None:
    if args.absent and not (args.reason and args.reason.strip()):
        return Refusal("an absent day needs a reason", asks="reason")
    return None


def _host_registered(sit: Situation, args: StepArgs) -> str | None:
    if sit.facts.host is None:
        return "no host is registered; register one with `lps host set` first"
    return None


def _host_in_own_municipality(sit: Situation, args: StepArgs) -> str | None:
    host = sit.facts.host
    if host is not None and not same_municipality(host.municipality, sit.municipality):
        return (
            f"the host is in {host.municipality}, but the participant is in {sit.municipality}: "
            "the career visit must be in the participant's own municipality"
        )
    return None


def _visit_from_day_one(sit: Situation, args: StepArgs) -> str | None:
    visited = args.day(sit) if not args.automatic else sit.facts.career_visit
    first = sit.cohort.day(1)
    if visited is not None and visited < first:
        return f"the career visit date {_fmt(visited)} is before teaching day 1 ({_fmt(first)})"
    return None


def _count(number: int) -> str:
    words = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight")
    return words[number] if number < len(words) else str(number)


def _day_five_attended(sit: Situation, args: StepArgs) -> str | None:
    last = len(sit.cohort.days)
    record = sit.facts.days.get(last)
    if record is None or not record.attended:
        return (
            f"teaching day {last} is not registered as attended; the speech is given on day {last}"
        )
    return None


def _obligations_met(sit: Situation, args: StepArgs) -> str | None:
    open_ones = outstanding(sit.facts, sit.cohort)
    if open_ones:
        names = ", ".join(name for name, _ in open_ones)
        return f"obligations not met or waived: {names}"
    return None


def _after_certification(sit: Situation, args: StepArgs) -> str | None:
    certified = sit.facts.certified
    held = args.day(sit)
    if certified is not None and held < certified:
        return (
            f"the closing conversation date {_fmt(held)} is before the certificate "
            f"was issued ({_fmt(certified)})"
        )
    return None


def _sixty_days_after_certification(sit: Situation, args: StepArgs) -> str | None:
    certified = sit.facts.certified
    if certified is None:
        return "the participant is not certified"
    rule = sit.cohort.rules.definition.rule("auto_complete")
    opens = certified + timedelta(days=rule.at.offset if rule is not None else 60)
    if sit.today < opens:
        return (
            f"without a closing conversation the path completes on its own from {_fmt(opens)}; "
            "hold it (hold_closing_conversation) or decline it (decline_closing_conversation)"
        )
    return None


def _reason_required(sit: Situation, args: StepArgs) -> str | None:
    if not (args.reason and args.reason.strip()):
        return REASON_REQUIRED
    return None


def _before_day_one(sit: Situation, args: StepArgs) -> str | None:
    first = sit.cohort.day(1)
    if sit.today >= first:
        return f"a deferral must come before teaching day 1 ({_fmt(first)})"
    return None


def _later_cohort(sit: Situation, args: StepArgs) -> str | None:
    target = args.target
    if target is None:
        return Refusal("name the later cohort to move to", asks="to")
    if target.code == sit.cohort.code or target.day(1) <= sit.cohort.day(1):
        return (
            f"cohort {target.code} starts {_fmt(target.day(1))}, "
            f"not after cohort {sit.cohort.code} ({_fmt(sit.cohort.day(1))})"
        )
    if target.day(1) <= sit.today:
        return f"cohort {target.code} has already started ({_fmt(target.day(1))})"
    return None


def same_municipality(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def _outstanding_names(sit: Situation) -> list[str]:
    return [name for name, _ in outstanding(sit.facts, sit.cohort)]


G = Guard
GOALS = G("at_least_one_goal", _at_least_one_goal, needs_input=True)
NOT_FUTURE = G("date_not_in_future", _date_not_in_future)
MANAGER_CONVERSATION_NEW = G(
    "manager_conversation_not_recorded",
    _not_recorded("manager_conversation", "manager conversation"),
)
JTI_WINDOW = G("jti_send_window", _jti_send_window)
INVITED = G("jti_invited", _invited)
ANSWER_AFTER_INVITE = G("answered_after_invitation", _answered_after_invitation)
JTI_NEW = G("jti_not_recorded", _not_recorded("jti_completed", "JTI answer"))
DAY_HAS_COME = G("day_has_come", _day_has_come)
ABSENCE_REASON = G("reason_for_absence", _reason_if_absent)
HOST_REGISTERED = G("host_registered", _host_registered)
HOST_MUNICIPALITY = G("host_in_own_municipality", _host_in_own_municipality)
VISIT_FROM_DAY_ONE = G("visit_from_day_one", _visit_from_day_one)
VISIT_NEW = G("career_visit_not_recorded", _not_recorded("career_visit", "career visit"))
DAY_FIVE_ATTENDED = G("day_five_attended", _day_five_attended, blocks=lambda sit: ["attendance"])
SPEECH_NEW = G("speech_not_recorded", _not_recorded("speech", "speech"))
OBLIGATIONS_MET = G("obligations_met", _obligations_met, blocks=_outstanding_names)
AFTER_CERTIFICATION = G("after_certification", _after_certification)
SIXTY_DAYS = G("sixty_days_after_certification", _sixty_days_after_certification)
REASON = G("reason_required", _reason_required, needs_input=True)
BEFORE_DAY_ONE = G("before_day_one", _before_day_one)
LATER_COHORT = G("later_cohort", _later_cohort, needs_input=True)


# -- Effects: how a trigger changes the recorded facts ----------------------------------------


Effect = Callable[[Situation, StepArgs], Facts]


def _keep(sit: Situation, args: StepArgs) -> Facts:
    return sit.facts


def _record_manager_conversation(sit: Situation, args: StepArgs) -> Facts:
    if args.automatic:
        return sit.facts
    return sit.facts.with_changes(
        manager_conversation=args.day(sit),
        goals=tuple(goal.strip() for goal in args.goals),
    )


def _record_date(attribute: str) -> Effect:
    def effect(sit: Situation, args: StepArgs) -> Facts:
        if args.automatic and getattr(sit.facts, attribute) is not None:
            return sit.facts
        return sit.facts.with_changes(**{attribute: args.day(sit)})

    return effect


def _record_today(attribute: str) -> Effect:
    def effect(sit: Situation, args: StepArgs) -> Facts:
        return sit.facts.with_changes(**{attribute: sit.today})

    return effect


def _record_day(sit: Situation, args: StepArgs) -> Facts:
    number = sit.next_day_number
    days = dict(sit.facts.days)
    days[number] = DayRecord(
        on=sit.cohort.day(number),
        attended=not args.absent,
        reason=args.reason.strip() if args.absent and args.reason else None,
    )
    return sit.facts.with_changes(days=days)


def _record_closing(sit: Situation, args: StepArgs) -> Facts:
    return sit.facts.with_changes(
        closing_conversation=args.day(sit),
        agreements=args.note,
        internship=args.internship,
    )


def _record_decline(sit: Situation, args: StepArgs) -> Facts:
    return sit.facts.with_changes(closing_declined=sit.today, completed=sit.today)


# -- Transitions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    """One arrow of the programme. ``dest`` is ``None`` where a late or early fact is recorded
    without moving the participant.

    ``audit`` adds what the audit entry records of the step beyond the trigger's arguments;
    ``schedules`` names the anchor (see :mod:`states.rules`) whose timed rules start once the
    step is taken; ``note_from`` are the arguments written as the entry's note;
    ``moves_to_target`` enrols the participant in the later cohort the step names (a
    deferral), so it is taken for one participant at a time.
    """

    trigger: str
    sources: tuple[str, ...]
    dest: str | None
    guards: tuple[Guard, ...] = ()
    effect: Effect = _keep
    skip: str | None = None
    audit: Callable[[Situation, StepArgs, Facts], dict[str, object]] | None = None
    schedules: str | None = None
    note_from: tuple[str, ...] = ("reason", "note")
    moves_to_target: bool = False


def _day_registered(sit: Situation, args: StepArgs, facts: Facts) -> dict[str, object]:
    return {"day": len(facts.days), "attended": not args.absent}


_MANAGER_CONVERSATION = (GOALS, NOT_FUTURE, MANAGER_CONVERSATION_NEW)
_JTI_ANSWER = (INVITED, NOT_FUTURE, ANSWER_AFTER_INVITE, JTI_NEW)
_DAY = (DAY_HAS_COME, ABSENCE_REASON)
_VISIT = (HOST_REGISTERED, HOST_MUNICIPALITY, NOT_FUTURE, VISIT_FROM_DAY_ONE, VISIT_NEW)


def _register_day(source: str, dest: str, skip: str | None = None) -> Transition:
    return Transition(
        trigger="register_day",
        sources=(source,),
        dest=dest,
        guards=_DAY,
        effect=_record_day,
        skip=skip,
        audit=_day_registered,
    )


# -- Automatic pass-through -------------------------------------------------------------------


@dataclass(frozen=True)
class PassThrough:
    """When the path reaches ``state`` and ``ready`` holds, ``trigger`` fires by itself."""

    state: str
    trigger: str
    ready: Callable[[Situation], bool]
    note: Callable[[Situation], str]


def _visit_recorded(sit: Situation) -> bool:
    return sit.facts.career_visit is not None


def _conversation_recorded(sit: Situation) -> bool:
    return sit.facts.manager_conversation is not None


def _certifiable(sit: Situation) -> bool:
    return not refusals("certify", sit, StepArgs(automatic=True))


def _conversation_note(s: Situation) -> str:
    if not s.facts.manager_conversation:
        return ""
    return (
        "passed through automatically: manager conversation recorded on "
        f"{_fmt(s.facts.manager_conversation)}"
    )


def _visit_note(s: Situation) -> str:
    if not s.facts.career_visit:
        return ""
    return f"passed through automatically: career visit recorded on {_fmt(s.facts.career_visit)}"


def _certified_note(s: Situation) -> str:
    return "certified automatically: every obligation met or waived"


# -- A programme composed from its definition --------------------------------------------------


def _day_label(number: int) -> tuple[str, str]:
    return f"Undervisningsdag {number}", f"Teaching day {number}"


_STEP_STATES: dict[str, tuple[str, str, str]] = {
    "manager_conversation_held": (
        "",
        "Samtale med nærmeste leder afholdt",
        "Manager conversation held",
    ),
    "jti_invited": ("jti", "JTI og artikler udsendt", "JTI and articles sent"),
    "jti_completed": ("jti", "JTI besvaret", "JTI answered"),
    "career_visit_held": ("career_visit", "Karrieresamtale afholdt", "Career visit held"),
    "speech_delivered": ("speech", "Lederindlæg holdt", "Leadership speech delivered"),
    "closing_conversation_held": (
        "closing_conversation",
        "Afsluttende samtale afholdt",
        "Closing conversation held",
    ),
}


def _compose_states(definition: Definition) -> tuple[State, ...]:
    has = definition.has
    names = ["enrolled", "manager_conversation_held"]
    if has("jti"):
        names += ["jti_invited", "jti_completed"]
    for number in range(1, definition.day_count + 1):
        if has("career_visit") and number == definition.career_visit_before_day:
            names.append("career_visit_held")
        names.append(f"day_{number}")
    if has("speech"):
        names.append("speech_delivered")
    names.append("certified")
    if has("closing_conversation"):
        names.append("closing_conversation_held")
    names += ["completed", "withdrawn", "deferred"]
    defaults = {
        "enrolled": ("Tilmeldt", "Enrolled"),
        "certified": ("Kursusbevis udstedt", "Certificate issued"),
        "completed": ("Afsluttet", "Completed"),
        "withdrawn": ("Udmeldt", "Withdrawn"),
        "deferred": ("Udsat", "Deferred"),
    }
    states = []
    for name in names:
        label = definition.label(name)
        if label is None:
            if name in _STEP_STATES:
                label = _STEP_STATES[name][1:]
            elif name.startswith("day_"):
                label = _day_label(int(name[4:]))
            else:
                label = defaults[name]
        final = name in ("completed", "withdrawn", "deferred")
        states.append(State(name, label[0], label[1], final, name in ("withdrawn", "deferred")))
    return tuple(states)


def _compose_transitions(
    definition: Definition, states: tuple[State, ...]
) -> tuple[Transition, ...]:
    has = definition.has
    names = [state.name for state in states]
    last = f"day_{definition.day_count}"
    before_visit = definition.career_visit_before_day
    on_path = names[names.index("manager_conversation_held") + 1 : names.index("certified")]
    days_on = [name for name in on_path if name.startswith("day_") or name == "career_visit_held"]
    active = tuple(state.name for state in states if not state.final)
    found: list[Transition] = [
        Transition(
            trigger="hold_manager_conversation",
            sources=("enrolled",),
            dest="manager_conversation_held",
            guards=_MANAGER_CONVERSATION,
            effect=_record_manager_conversation,
            note_from=("note",),
        ),
        Transition(
            trigger="hold_manager_conversation",
            sources=tuple(on_path),
            dest=None,
            guards=_MANAGER_CONVERSATION,
            effect=_record_manager_conversation,
            note_from=("note",),
        ),
    ]
    if has("jti"):
        found += [
            Transition(
                trigger="invite_jti",
                sources=("enrolled",),
                dest="jti_invited",
                guards=(JTI_WINDOW,),
                effect=_record_today("jti_invited"),
                skip="manager_conversation",
            ),
            Transition(
                trigger="invite_jti",
                sources=("manager_conversation_held",),
                dest="jti_invited",
                guards=(JTI_WINDOW,),
                effect=_record_today("jti_invited"),
            ),
            Transition(
                trigger="complete_jti",
                sources=("jti_invited",),
                dest="jti_completed",
                guards=_JTI_ANSWER,
                effect=_record_date("jti_completed"),
            ),
            Transition(
                trigger="complete_jti",
                sources=tuple(n for n in on_path if n not in ("jti_invited", "jti_completed")),
                dest=None,
                guards=_JTI_ANSWER,
                effect=_record_date("jti_completed"),
            ),
            _register_day("jti_invited", "day_1", skip="jti"),
            _register_day("jti_completed", "day_1"),
        ]
    else:
        found += [
            _register_day("enrolled", "day_1", skip="manager_conversation"),
            _register_day("manager_conversation_held", "day_1"),
        ]
    for number in range(2, definition.day_count + 1):
        if has("career_visit") and number == before_visit:
            found.append(_register_day(f"day_{number - 1}", f"day_{number}", skip="career_visit"))
            found.append(_register_day("career_visit_held", f"day_{number}"))
        else:
            found.append(_register_day(f"day_{number - 1}", f"day_{number}"))
    if has("career_visit"):
        visit_from = f"day_{before_visit - 1}"
        found += [
            Transition(
                trigger="hold_career_visit",
                sources=(visit_from,),
                dest="career_visit_held",
                guards=_VISIT,
                effect=_record_date("career_visit"),
            ),
            Transition(
                trigger="hold_career_visit",
                sources=tuple(
                    n
                    for n in (*days_on, "speech_delivered")
                    if n in names and n not in (visit_from, "career_visit_held")
                ),
                dest=None,
                guards=_VISIT,
                effect=_record_date("career_visit"),
            ),
        ]
    if has("speech"):
        found.append(
            Transition(
                trigger="deliver_speech",
                sources=(last,),
                dest="speech_delivered",
                guards=(DAY_FIVE_ATTENDED, NOT_FUTURE, SPEECH_NEW),
                effect=_record_date("speech"),
            )
        )
    found.append(
        Transition(
            trigger="certify",
            sources=("speech_delivered", last) if has("speech") else (last,),
            dest="certified",
            guards=(OBLIGATIONS_MET,),
            effect=_record_today("certified"),
            schedules="certified",
        )
    )
    if has("closing_conversation"):
        found += [
            Transition(
                trigger="hold_closing_conversation",
                sources=("certified",),
                dest="closing_conversation_held",
                guards=(NOT_FUTURE, AFTER_CERTIFICATION),
                effect=_record_closing,
            ),
            Transition(
                trigger="complete",
                sources=("closing_conversation_held",),
                dest="completed",
                effect=_record_today("completed"),
            ),
        ]
    found.append(
        Transition(
            trigger="complete",
            sources=("certified",),
            dest="completed",
            guards=(SIXTY_DAYS,),
            effect=_record_today("completed"),
        )
    )
    if has("closing_conversation"):
        found.append(
            Transition(
                trigger="decline_closing_conversation",
                sources=("certified",),
                dest="completed",
                effect=_record_decline,
            )
        )
    before_day_one = tuple(names[: names.index("day_1")])
    found += [
        Transition(trigger="withdraw", sources=active, dest="withdrawn", guards=(REASON,)),
        Transition(
            trigger="defer",
            sources=before_day_one,
            dest="deferred",
            guards=(REASON, BEFORE_DAY_ONE, LATER_COHORT),
            moves_to_target=True,
        ),
    ]
    return tuple(found)


def _compose_obligations(definition: Definition) -> tuple[Obligation, ...]:
    met_by = {
        "manager_conversation": ("hold_manager_conversation", "manager_conversation"),
        "jti": ("complete_jti", "jti_completed"),
        "career_visit": ("hold_career_visit", "career_visit"),
        "attendance": ("register_day", None),
        "speech": ("deliver_speech", "speech"),
    }
    return tuple(
        Obligation(
            name=name,
            label_da=da,
            label_en=en,
            recorded_by=met_by[name][0],
            met_by=met_by[name][1],
            due_day=due.day,
            due_offset=due.offset,
        )
        for name, due, da, en in definition.obligations
    )


def _compose_pass_throughs(definition: Definition) -> tuple[PassThrough, ...]:
    found = [
        PassThrough(
            "enrolled", "hold_manager_conversation", _conversation_recorded, _conversation_note
        )
    ]
    if definition.has("career_visit"):
        visit_from = f"day_{definition.career_visit_before_day - 1}"
        found.append(PassThrough(visit_from, "hold_career_visit", _visit_recorded, _visit_note))
    found.append(
        PassThrough(f"day_{definition.day_count}", "certify", _certifiable, _certified_note)
    )
    if definition.has("speech"):
        found.append(PassThrough("speech_delivered", "certify", _certifiable, _certified_note))
    return tuple(found)


@dataclass(frozen=True, eq=False)
class Programme:
    """One version of the programme, composed from its :class:`Definition`: its states,
    arrows, obligations and automatic steps. Compared and hashed by identity: there is one
    per version."""

    definition: Definition
    states: tuple[State, ...]
    transitions: tuple[Transition, ...]
    obligation_definitions: tuple[Obligation, ...]
    pass_throughs: tuple[PassThrough, ...]

    @property
    def version(self) -> str:
        return self.definition.version

    @cached_property
    def state_by_name(self) -> dict[str, State]:
        return {state.name: state for state in self.states}

    @cached_property
    def state_names(self) -> tuple[str, ...]:
        return tuple(state.name for state in self.states)

    @cached_property
    def path_order(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.state_names)}

    @cached_property
    def final_states(self) -> frozenset[str]:
        return frozenset(state.name for state in self.states if state.final)

    @cached_property
    def active_states(self) -> tuple[str, ...]:
        return tuple(name for name in self.state_names if name not in self.final_states)

    @cached_property
    def path_states(self) -> tuple[str, ...]:
        return tuple(state.name for state in self.states if not state.left_path)

    @cached_property
    def triggers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.trigger for t in self.transitions))

    @cached_property
    def timed_triggers(self) -> frozenset[str]:
        return frozenset({"invite_jti", "complete"} & set(self.triggers))

    @cached_property
    def obligation_by_name(self) -> dict[str, Obligation]:
        return {o.name: o for o in self.obligation_definitions}

    @cached_property
    def obligations(self) -> tuple[str, ...]:
        return tuple(self.obligation_by_name)

    @cached_property
    def obligation_labels(self) -> dict[str, tuple[str, str]]:
        return {o.name: (o.label_da, o.label_en) for o in self.obligation_definitions}

    @cached_property
    def day_themes(self) -> tuple[tuple[str, str], ...]:
        return self.definition.days

    @cached_property
    def transition_index(self) -> dict[tuple[str, str], Transition]:
        return {(t.trigger, source): t for t in self.transitions for source in t.sources}

    def transition_for(self, trigger: str, state: str) -> Transition | None:
        """The arrow ``trigger`` follows from ``state``, if any."""
        return self.transition_index.get((trigger, state))


def compose(definition: Definition) -> Programme:
    """The programme a definition describes, built from the building blocks in this module."""
    states = _compose_states(definition)
    return Programme(
        definition=definition,
        states=states,
        transitions=_compose_transitions(definition, states),
        obligation_definitions=_compose_obligations(definition),
        pass_throughs=_compose_pass_throughs(definition),
    )


BUILTIN = compose(builtin_definition())
DEFINITION_VERSION = BUILTIN.version
STATES: tuple[State, ...] = BUILTIN.states
STATE_BY_NAME = BUILTIN.state_by_name
STATE_NAMES = BUILTIN.state_names
FINAL_STATES = BUILTIN.final_states
# The states of the path itself, in order: every state but those of leaving it.
PATH_STATES = BUILTIN.path_states
ACTIVE_STATES = BUILTIN.active_states
PATH_ORDER = BUILTIN.path_order
DAY_THEMES: tuple[tuple[str, str], ...] = BUILTIN.day_themes
OBLIGATION_DEFINITIONS: tuple[Obligation, ...] = BUILTIN.obligation_definitions
OBLIGATION_BY_NAME = BUILTIN.obligation_by_name
OBLIGATIONS: tuple[str, ...] = BUILTIN.obligations
OBLIGATION_LABELS: dict[str, tuple[str, str]] = BUILTIN.obligation_labels
TRANSITIONS: tuple[Transition, ...] = BUILTIN.transitions
TRIGGERS: tuple[str, ...] = BUILTIN.triggers
# Triggers that name one participant's later cohort: never taken for a whole cohort at once.
ONE_AT_A_TIME = frozenset(t.trigger for t in TRANSITIONS if t.moves_to_target)
TIMED_TRIGGERS = BUILTIN.timed_triggers
PASS_THROUGHS: tuple[PassThrough, ...] = BUILTIN.pass_throughs


def transition_for(
    trigger: str, state: str, programme: Programme | None = None
) -> Transition | None:
    """The arrow ``trigger`` follows from ``state``, if any (in the built-in programme unless
    another is given)."""
    return (programme or BUILTIN).transition_for(trigger, state)


def path_ended(state: str, programme: Programme | None = None) -> str | None:
    """``the participant is withdrawn (withdrawn); the path has ended`` for a final state,
    ``None`` for a state the path goes on from."""
    found = programme or BUILTIN
    if state not in found.final_states:
        return None
    label = found.state_by_name[state].label_en.lower()
    return f"the participant is {label} ({state}); the path has ended"


def not_possible_reason(trigger: str, state: str, programme: Programme | None = None) -> str:
    """Why ``trigger`` cannot happen from ``state``: the state and what must happen first."""
    found = programme or BUILTIN
    ended = path_ended(state, found)
    if ended is not None:
        return f"{trigger} is not possible: {ended}"
    if state not in found.path_order:
        return f"{trigger} is not possible: state {state} is not part of {found.version}"
    sources = sorted(
        {s for t in found.transitions if t.trigger == trigger for s in t.sources},
        key=found.path_order.__getitem__,
    )
    earliest = sources[0]
    if found.path_order[state] < found.path_order[earliest]:
        needed = [t.trigger for t in found.transitions if t.dest == earliest]
        return (
            f"{trigger} is not possible in state {state}; "
            f"first: {' or '.join(dict.fromkeys(needed))} (to reach {earliest})"
        )
    return f"{trigger} is not possible in state {state}; it is possible from {', '.join(sources)}"


def refusals(
    trigger: str, situation: Situation, args: StepArgs, *, probe: bool = False
) -> list[str]:
    """Every rule that stands in the way of ``trigger`` now (empty: it may fire). A ``probe``
    leaves out the rules about input the administrator has not typed yet."""
    found = situation.cohort.rules
    if trigger not in found.triggers:
        known = ", ".join(found.triggers)
        if trigger in TRIGGERS:
            return [f"{trigger} is not part of programme {found.version}; its triggers: {known}"]
        return [f"unknown trigger '{trigger}'; choose one of: {known}"]
    transition = found.transition_for(trigger, situation.state)
    if transition is None:
        return [not_possible_reason(trigger, situation.state, found)]
    return guard_refusals(transition, situation, args, probe=probe)


def guard_refusals(
    transition: Transition, situation: Situation, args: StepArgs, *, probe: bool = False
) -> list[str]:
    """Why each of ``transition``'s guards is broken, in the order they are declared."""
    return [
        message
        for guard in transition.guards
        if not (probe and guard.needs_input) and (message := guard.check(situation, args))
    ]


def blocking_obligations(trigger: str, situation: Situation) -> list[str]:
    """Obligations (by name) that stand in the way of ``trigger``: those named by each broken
    guard of the trigger's arrows."""
    transitions = situation.cohort.rules.transitions
    guards = dict.fromkeys(g for t in transitions if t.trigger == trigger for g in t.guards)
    names: list[str] = []
    for guard in guards:
        if guard.check(situation, StepArgs()) is not None:
            names += guard.blocks(situation)
    return list(dict.fromkeys(names))


def pass_through_for(situation: Situation) -> PassThrough | None:
    """The automatic step due now: its fact is recorded and its rules still hold."""
    for rule in situation.cohort.rules.pass_throughs:
        if (
            rule.state == situation.state
            and rule.ready(situation)
            and not refusals(rule.trigger, situation, StepArgs(automatic=True))
        ):
            return rule
    return None


# -- Notifications sent on a step -------------------------------------------------------------


@dataclass(frozen=True)
class StepNotice:
    """A message a step sends: ``rule`` to ``recipients`` when ``when`` holds for the step's
    arguments. ``occurrence`` tells repeated notices apart (one per absent day);
    ``extras`` is what the message quotes of the arguments; ``attachment`` names the file it
    carries, made by the attachment maker of that name that the engine is given;
    ``outlives_path`` keeps it queued when the participant's path ends before it is sent."""

    rule: str
    recipients: tuple[str, ...]
    when: Callable[[StepArgs], bool] = field(default=lambda args: True)
    occurrence: Callable[[Facts], int] = field(default=lambda facts: 0)
    extras: Callable[[StepArgs], dict[str, object]] | None = None
    attachment: str | None = None
    outlives_path: bool = False


STEP_NOTICES: dict[str, tuple[StepNotice, ...]] = {
    "enrol": (StepNotice("welcome", ("participant", "manager"), attachment="teaching_days"),),
    "invite_jti": (StepNotice("jti_invitation", ("participant",)),),
    "register_day": (
        StepNotice(
            "absence_notice",
            ("participant", "manager"),
            when=lambda args: args.absent,
            occurrence=lambda facts: len(facts.days),
        ),
    ),
    "certify": (
        StepNotice(
            "certificate",
            ("participant", "manager"),
            attachment="certificate",
            outlives_path=True,
        ),
    ),
    "withdraw": (
        StepNotice(
            "withdrawal_notice",
            ("participant", "manager", "admin"),
            extras=lambda args: {"reason": args.reason or ""},
            outlives_path=True,
        ),
    ),
}


NOTICES_OUTLIVING_PATH: tuple[str, ...] = tuple(
    notice.rule for notices in STEP_NOTICES.values() for notice in notices if notice.outlives_path
)


def normalise_trigger(name: str) -> str:
    """Accept kebab-case spellings of trigger and obligation names."""
    return name.strip().replace("-", "_").lower()


def replay(
    events: list[tuple[str, str | None, str | None]],
    programme: Programme | None = None,
    *,
    start: str | None = None,
    first: int = 1,
) -> str | None:
    """Replay audited (event, from_state, to_state) rows; return the final state or raise
    ``ValueError`` naming the first entry that does not follow the programme. ``start`` is
    the state before the first row (``None``: not enrolled yet), ``first`` its number."""
    found = programme or BUILTIN
    state: str | None = start
    for index, (event, from_state, to_state) in enumerate(events, start=first):
        if from_state != state:
            raise ValueError(f"entry {index} ({event}) starts from {from_state}, expected {state}")
        if to_state is None or to_state not in found.state_by_name:
            raise ValueError(f"entry {index} ({event}) ends in unknown state {to_state!r}")
        if state is not None and to_state != state:
            transition = found.transition_for(event, state)
            if transition is None or transition.dest != to_state:
                raise ValueError(f"entry {index}: {event} cannot lead from {state} to {to_state}")
        elif state is None and to_state != INITIAL_STATE:
            raise ValueError(f"entry {index} ({event}) must enrol into {INITIAL_STATE}")
        state = to_state
    return state
