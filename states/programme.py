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

from states.facts import DayRecord, Facts, Waiver

DEFINITION_VERSION = "leder-paa-spring/1"
LOCAL_TZ = ZoneInfo("Europe/Copenhagen")


@dataclass(frozen=True)
class State:
    name: str
    label_da: str
    label_en: str
    final: bool = False


STATES: tuple[State, ...] = (
    State("enrolled", "Tilmeldt", "Enrolled"),
    State(
        "manager_conversation_held",
        "Samtale med nærmeste leder afholdt",
        "Manager conversation held",
    ),
    State("jti_invited", "JTI og artikler udsendt", "JTI and articles sent"),
    State("jti_completed", "JTI besvaret", "JTI answered"),
    State("day_1", "Undervisningsdag 1", "Teaching day 1"),
    State("day_2", "Undervisningsdag 2", "Teaching day 2"),
    State("day_3", "Undervisningsdag 3", "Teaching day 3"),
    State("career_visit_held", "Karrieresamtale afholdt", "Career visit held"),
    State("day_4", "Undervisningsdag 4", "Teaching day 4"),
    State("day_5", "Undervisningsdag 5", "Teaching day 5"),
    State("speech_delivered", "Lederindlæg holdt", "Leadership speech delivered"),
    State("certified", "Kursusbevis udstedt", "Certificate issued"),
    State(
        "closing_conversation_held",
        "Afsluttende samtale afholdt",
        "Closing conversation held",
    ),
    State("completed", "Afsluttet", "Completed", final=True),
    State("withdrawn", "Udmeldt", "Withdrawn", final=True),
    State("deferred", "Udsat", "Deferred", final=True),
)
STATE_BY_NAME = {state.name: state for state in STATES}
STATE_NAMES = tuple(state.name for state in STATES)
FINAL_STATES = frozenset(state.name for state in STATES if state.final)
ACTIVE_STATES = tuple(name for name in STATE_NAMES if name not in FINAL_STATES)
PATH_ORDER = {name: index for index, name in enumerate(STATE_NAMES)}
INITIAL_STATE = "enrolled"

DAY_THEMES: tuple[tuple[str, str], ...] = (
    (
        "Ledelse i en kommunal kontekst",
        "Leadership in a municipal context",
    ),
    ("Dig som leder", "You as a leader"),
    ("Ledelse i spil", "Leadership in play"),
    ("Min vej mod ledelse", "My path to leadership"),
    ("Min vej mod ledelse, fortsat", "My path to leadership, continued"),
)


@dataclass(frozen=True)
class CohortPlan:
    """The cohort's dates and settings that the rules depend on."""

    code: str
    days: tuple[date, ...]
    max_absences: int = 0
    send_hour: int = 9

    def day(self, number: int) -> date:
        return self.days[number - 1]


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
    """A named programme rule; ``check`` returns why it is broken, or ``None``."""

    name: str
    check: GuardCheck


def _fmt(day: date) -> str:
    return day.isoformat()


# -- Obligations ------------------------------------------------------------------------------

OBLIGATIONS: tuple[str, ...] = (
    "manager_conversation",
    "jti",
    "career_visit",
    "attendance",
    "speech",
)
OBLIGATION_LABELS: dict[str, tuple[str, str]] = {
    "manager_conversation": ("Samtale med nærmeste leder", "Conversation with the manager"),
    "jti": ("JTI besvaret", "JTI answered"),
    "career_visit": ("Karrieresamtale", "Career visit"),
    "attendance": ("Fremmøde alle fem dage", "Attendance on all five days"),
    "speech": ("Lederindlæg", "Leadership speech"),
}


def obligation_due(name: str, cohort: CohortPlan) -> date:
    """The calendar day by which an obligation should be met."""
    if name == "manager_conversation":
        return cohort.day(1) - timedelta(days=14)
    if name == "jti":
        return cohort.day(2)
    if name == "career_visit":
        return cohort.day(4)
    if name in ("attendance", "speech"):
        return cohort.day(5)
    raise KeyError(name)


def unwaived_absences(facts: Facts) -> int:
    covered = facts.waivers["attendance"].absences_covered if "attendance" in facts.waivers else 0
    return max(0, facts.absences - covered)


def obligation_met(name: str, facts: Facts, cohort: CohortPlan) -> bool:
    """Whether the fact that meets an obligation is recorded (waivers aside)."""
    if name == "manager_conversation":
        return facts.manager_conversation is not None
    if name == "jti":
        return facts.jti_completed is not None
    if name == "career_visit":
        return facts.career_visit is not None
    if name == "speech":
        return facts.speech is not None
    if name == "attendance":
        return len(facts.days) == 5 and facts.absences <= cohort.max_absences
    raise KeyError(name)


def obligation_status(name: str, facts: Facts, cohort: CohortPlan) -> str:
    """``met``, ``waived`` or ``open``."""
    if obligation_met(name, facts, cohort):
        return "met"
    if name == "attendance":
        if unwaived_absences(facts) <= cohort.max_absences and "attendance" in facts.waivers:
            return "waived" if len(facts.days) == 5 else "open"
        return "open"
    return "waived" if name in facts.waivers else "open"


def outstanding(facts: Facts, cohort: CohortPlan) -> list[tuple[str, date]]:
    """Obligations neither met nor waived, with their due dates, earliest first."""
    rows = [
        (name, obligation_due(name, cohort))
        for name in OBLIGATIONS
        if obligation_status(name, facts, cohort) == "open"
    ]
    return sorted(rows, key=lambda row: row[1])


def waiver_refusal(name: str, facts: Facts, cohort: CohortPlan) -> str | None:
    """Why an obligation cannot be waived now, or ``None``."""
    if name not in OBLIGATIONS:
        return f"unknown obligation '{name}'; choose one of: {', '.join(OBLIGATIONS)}"
    if obligation_met(name, facts, cohort):
        return f"obligation {name} is already met; there is nothing to waive"
    if name == "attendance":
        if unwaived_absences(facts) <= cohort.max_absences:
            return (
                "obligation attendance has no absence to waive; "
                "register the absent day first (register_day --absent)"
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
        return "at least one learning goal is required (--goal TEXT)"
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
    opens = sit.cohort.day(1) - timedelta(days=14)
    if sit.today < opens and not args.early:
        return (
            f"the JTI and articles go out from {_fmt(opens)} (14 days before day 1); "
            "add --early to send them now"
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
    if number > 5:
        return "all five teaching days are already registered"
    day = sit.cohort.day(number)
    if sit.today < day:
        return f"teaching day {number} is on {_fmt(day)}; it can be registered from that date"
    return None


def _reason_if_absent(sit: Situation, args: StepArgs) -> str | None:
    if args.absent and not (args.reason and args.reason.strip()):
        return "an absent day needs a reason (--reason TEXT)"
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


def _day_five_attended(sit: Situation, args: StepArgs) -> str | None:
    record = sit.facts.days.get(5)
    if record is None or not record.attended:
        return "teaching day 5 is not registered as attended; the speech is given on day 5"
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
    opens = certified + timedelta(days=60)
    if sit.today < opens:
        return (
            f"without a closing conversation the path completes on its own from {_fmt(opens)}; "
            "hold it (hold_closing_conversation) or decline it (decline_closing_conversation)"
        )
    return None


def _reason_required(sit: Situation, args: StepArgs) -> str | None:
    if not (args.reason and args.reason.strip()):
        return "a reason is required (--reason TEXT)"
    return None


def _before_day_one(sit: Situation, args: StepArgs) -> str | None:
    first = sit.cohort.day(1)
    if sit.today >= first:
        return f"a deferral must come before teaching day 1 ({_fmt(first)})"
    return None


def _later_cohort(sit: Situation, args: StepArgs) -> str | None:
    target = args.target
    if target is None:
        return "name the later cohort to move to (--to CODE)"
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


G = Guard
GOALS = G("at_least_one_goal", _at_least_one_goal)
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
DAY_FIVE_ATTENDED = G("day_five_attended", _day_five_attended)
SPEECH_NEW = G("speech_not_recorded", _not_recorded("speech", "speech"))
OBLIGATIONS_MET = G("obligations_met", _obligations_met)
AFTER_CERTIFICATION = G("after_certification", _after_certification)
SIXTY_DAYS = G("sixty_days_after_certification", _sixty_days_after_certification)
REASON = G("reason_required", _reason_required)
BEFORE_DAY_ONE = G("before_day_one", _before_day_one)
LATER_COHORT = G("later_cohort", _later_cohort)


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
    without moving the participant."""

    trigger: str
    sources: tuple[str, ...]
    dest: str | None
    guards: tuple[Guard, ...] = ()
    effect: Effect = _keep
    skip: str | None = None


_DAY_STATES = ("day_1", "day_2", "day_3", "career_visit_held", "day_4", "day_5")
_AFTER_INVITE = ("jti_invited", "jti_completed", *_DAY_STATES, "speech_delivered")

TRANSITIONS: tuple[Transition, ...] = (
    Transition(
        "hold_manager_conversation",
        ("enrolled",),
        "manager_conversation_held",
        (GOALS, NOT_FUTURE, MANAGER_CONVERSATION_NEW),
        _record_manager_conversation,
    ),
    Transition(
        "hold_manager_conversation",
        _AFTER_INVITE,
        None,
        (GOALS, NOT_FUTURE, MANAGER_CONVERSATION_NEW),
        _record_manager_conversation,
    ),
    Transition(
        "invite_jti",
        ("enrolled",),
        "jti_invited",
        (JTI_WINDOW,),
        _record_today("jti_invited"),
        skip="manager_conversation",
    ),
    Transition(
        "invite_jti",
        ("manager_conversation_held",),
        "jti_invited",
        (JTI_WINDOW,),
        _record_today("jti_invited"),
    ),
    Transition(
        "complete_jti",
        ("jti_invited",),
        "jti_completed",
        (INVITED, NOT_FUTURE, ANSWER_AFTER_INVITE, JTI_NEW),
        _record_date("jti_completed"),
    ),
    Transition(
        "complete_jti",
        (*_DAY_STATES, "speech_delivered"),
        None,
        (INVITED, NOT_FUTURE, ANSWER_AFTER_INVITE, JTI_NEW),
        _record_date("jti_completed"),
    ),
    Transition(
        "register_day",
        ("jti_invited",),
        "day_1",
        (DAY_HAS_COME, ABSENCE_REASON),
        _record_day,
        skip="jti",
    ),
    Transition(
        "register_day", ("jti_completed",), "day_1", (DAY_HAS_COME, ABSENCE_REASON), _record_day
    ),
    Transition("register_day", ("day_1",), "day_2", (DAY_HAS_COME, ABSENCE_REASON), _record_day),
    Transition("register_day", ("day_2",), "day_3", (DAY_HAS_COME, ABSENCE_REASON), _record_day),
    Transition(
        "register_day",
        ("day_3",),
        "day_4",
        (DAY_HAS_COME, ABSENCE_REASON),
        _record_day,
        skip="career_visit",
    ),
    Transition(
        "register_day",
        ("career_visit_held",),
        "day_4",
        (DAY_HAS_COME, ABSENCE_REASON),
        _record_day,
    ),
    Transition("register_day", ("day_4",), "day_5", (DAY_HAS_COME, ABSENCE_REASON), _record_day),
    Transition(
        "hold_career_visit",
        ("day_3",),
        "career_visit_held",
        (HOST_REGISTERED, HOST_MUNICIPALITY, NOT_FUTURE, VISIT_FROM_DAY_ONE, VISIT_NEW),
        _record_date("career_visit"),
    ),
    Transition(
        "hold_career_visit",
        ("day_1", "day_2", "day_4", "day_5", "speech_delivered"),
        None,
        (HOST_REGISTERED, HOST_MUNICIPALITY, NOT_FUTURE, VISIT_FROM_DAY_ONE, VISIT_NEW),
        _record_date("career_visit"),
    ),
    Transition(
        "deliver_speech",
        ("day_5",),
        "speech_delivered",
        (DAY_FIVE_ATTENDED, NOT_FUTURE, SPEECH_NEW),
        _record_date("speech"),
    ),
    Transition(
        "certify",
        ("speech_delivered", "day_5"),
        "certified",
        (OBLIGATIONS_MET,),
        _record_today("certified"),
    ),
    Transition(
        "hold_closing_conversation",
        ("certified",),
        "closing_conversation_held",
        (NOT_FUTURE, AFTER_CERTIFICATION),
        _record_closing,
    ),
    Transition(
        "complete",
        ("closing_conversation_held",),
        "completed",
        (),
        _record_today("completed"),
    ),
    Transition("complete", ("certified",), "completed", (SIXTY_DAYS,), _record_today("completed")),
    Transition(
        "decline_closing_conversation",
        ("certified",),
        "completed",
        (),
        _record_decline,
    ),
    Transition("withdraw", ACTIVE_STATES, "withdrawn", (REASON,)),
    Transition(
        "defer",
        ("enrolled", "manager_conversation_held", "jti_invited", "jti_completed"),
        "deferred",
        (REASON, BEFORE_DAY_ONE, LATER_COHORT),
    ),
)

TRIGGERS: tuple[str, ...] = tuple(dict.fromkeys(t.trigger for t in TRANSITIONS))
TIMED_TRIGGERS = frozenset({"invite_jti", "complete"})


def transition_for(trigger: str, state: str) -> Transition | None:
    """The arrow ``trigger`` follows from ``state``, if any."""
    return _TRANSITION_INDEX.get((trigger, state))


_TRANSITION_INDEX: dict[tuple[str, str], Transition] = {
    (t.trigger, source): t for t in TRANSITIONS for source in t.sources
}


def not_possible_reason(trigger: str, state: str) -> str:
    """Why ``trigger`` cannot happen from ``state``: the state and what must happen first."""
    label = STATE_BY_NAME[state].label_en.lower()
    if state in FINAL_STATES:
        return (
            f"{trigger} is not possible: the participant is {label} ({state}); the path has ended"
        )
    sources = sorted(
        {s for t in TRANSITIONS if t.trigger == trigger for s in t.sources},
        key=PATH_ORDER.__getitem__,
    )
    earliest = sources[0]
    if PATH_ORDER[state] < PATH_ORDER[earliest]:
        needed = [t.trigger for t in TRANSITIONS if t.dest == earliest]
        return (
            f"{trigger} is not possible in state {state}; "
            f"first: {' or '.join(dict.fromkeys(needed))} (to reach {earliest})"
        )
    return f"{trigger} is not possible in state {state}; it is possible from {', '.join(sources)}"


def refusals(trigger: str, situation: Situation, args: StepArgs) -> list[str]:
    """Every rule that stands in the way of ``trigger`` now (empty: it may fire)."""
    if trigger not in TRIGGERS:
        return [f"unknown trigger '{trigger}'; choose one of: {', '.join(TRIGGERS)}"]
    transition = transition_for(trigger, situation.state)
    if transition is None:
        return [not_possible_reason(trigger, situation.state)]
    return [msg for guard in transition.guards if (msg := guard.check(situation, args))]


def blocking_obligations(trigger: str, situation: Situation) -> list[str]:
    """Obligations (by name) that stand in the way of ``trigger``."""
    if trigger == "certify":
        return [name for name, _ in outstanding(situation.facts, situation.cohort)]
    if trigger == "deliver_speech" and not (
        situation.facts.days.get(5) and situation.facts.days[5].attended
    ):
        return ["attendance"]
    return []


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


PASS_THROUGHS: tuple[PassThrough, ...] = (
    PassThrough(
        "enrolled",
        "hold_manager_conversation",
        _conversation_recorded,
        lambda s: (
            f"passed through automatically: manager conversation recorded on "
            f"{_fmt(s.facts.manager_conversation)}"
            if s.facts.manager_conversation
            else ""
        ),
    ),
    PassThrough(
        "day_3",
        "hold_career_visit",
        _visit_recorded,
        lambda s: (
            f"passed through automatically: career visit recorded on {_fmt(s.facts.career_visit)}"
            if s.facts.career_visit
            else ""
        ),
    ),
    PassThrough(
        "day_5",
        "certify",
        _certifiable,
        lambda s: "certified automatically: every obligation met or waived",
    ),
    PassThrough(
        "speech_delivered",
        "certify",
        _certifiable,
        lambda s: "certified automatically: every obligation met or waived",
    ),
)


def pass_through_for(situation: Situation) -> PassThrough | None:
    """The automatic step due now: its fact is recorded and its rules still hold."""
    for rule in PASS_THROUGHS:
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
    rule: str
    recipients: tuple[str, ...]
    when: Callable[[StepArgs], bool] = field(default=lambda args: True)


STEP_NOTICES: dict[str, tuple[StepNotice, ...]] = {
    "enrol": (StepNotice("welcome", ("participant", "manager")),),
    "invite_jti": (StepNotice("jti_invitation", ("participant",)),),
    "register_day": (
        StepNotice("absence_notice", ("participant", "manager"), lambda args: args.absent),
    ),
    "certify": (StepNotice("certificate", ("participant", "manager")),),
    "withdraw": (StepNotice("withdrawal_notice", ("participant", "manager", "admin")),),
}


def normalise_trigger(name: str) -> str:
    """Accept kebab-case spellings of trigger and obligation names."""
    return name.strip().replace("-", "_").lower()


def replay(events: list[tuple[str, str | None, str | None]]) -> str | None:
    """Replay audited (event, from_state, to_state) rows; return the final state or raise
    ``ValueError`` naming the first entry that does not follow the programme."""
    state: str | None = None
    for index, (event, from_state, to_state) in enumerate(events, start=1):
        if from_state != state:
            raise ValueError(f"entry {index} ({event}) starts from {from_state}, expected {state}")
        if to_state is None or to_state not in STATE_BY_NAME:
            raise ValueError(f"entry {index} ({event}) ends in unknown state {to_state!r}")
        if state is not None and to_state != state:
            transition = transition_for(event, state)
            if transition is None or transition.dest != to_state:
                raise ValueError(f"entry {index}: {event} cannot lead from {state} to {to_state}")
        elif state is None and to_state != INITIAL_STATE:
            raise ValueError(f"entry {index} ({event}) must enrol into {INITIAL_STATE}")
        state = to_state
    return state
