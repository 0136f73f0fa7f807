"""Due moments of the timed rules, on the Copenhagen calendar, returned in UTC. No database.

The expectations below are read off PROGRAMME.md ("Time" and "Timed rules and notifications"):
a rule due on a calendar day is sent at the cohort's send hour (09:00 by default) local time; a
"D-x" rule on a weekend moves to the Friday before, a "certified + x" rule to the Monday after.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from states.facts import DayRecord, Facts, Host, Waiver
from states.programme import LOCAL_TZ, STEP_NOTICES, CohortPlan, Situation
from states.rules import (
    AFTER,
    AHEAD,
    COHORT_RULES,
    TIMED_RULE_BY_NAME,
    TIMED_RULES,
    DueMoment,
    certified_deadlines,
    cohort_deadlines,
    digest_moment,
    host_letter_deadline,
    local_moment,
    shift_weekend,
    still_applies,
)
from states.workdays import is_working_day

# Mondays, two weeks apart; the clocks go forward on Sunday 2027-03-28, between day 2 and 3.
D1, D2, D3, D4, D5 = (
    date(2027, 3, 1),
    date(2027, 3, 15),
    date(2027, 3, 29),
    date(2027, 4, 12),
    date(2027, 4, 26),
)
PLAN = CohortPlan("H1", (D1, D2, D3, D4, D5))


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LOCAL_TZ)


def by_key(moments: list[DueMoment]) -> dict[tuple[str, int], DueMoment]:
    keyed = {(m.rule, m.occurrence): m for m in moments}
    assert len(keyed) == len(moments), "one due moment per rule and occurrence"
    return keyed


# -- every timed rule of the programme, for a cohort of Mondays ------------------------------

# (rule, occurrence): the day PROGRAMME.md names, the weekday it is sent on, and the UTC moment
# of 09:00 Copenhagen that day (CET = UTC+1 until 2027-03-28, CEST = UTC+2 after).
EXPECTED_DUE = {
    # D1-21, Monday 8 February
    ("manager_conversation_reminder", 0): utc(2027, 2, 8, 8),
    # D1-14, Monday 15 February
    ("jti_invitation", 0): utc(2027, 2, 15, 8),
    # D1-7, Monday 22 February
    ("manager_conversation_escalation", 0): utc(2027, 2, 22, 8),
    ("jti_reminder", 0): utc(2027, 2, 22, 8),
    # DN-1 is a Sunday: the Friday before
    ("day_reminder", 1): utc(2027, 2, 26, 8),
    ("day_reminder", 2): utc(2027, 3, 12, 8),
    # D3-1 is Easter Sunday; Saturday, Langfredag and Skærtorsdag are days off too:
    # Wednesday 24 March
    ("day_reminder", 3): utc(2027, 3, 24, 8),
    ("day_reminder", 4): utc(2027, 4, 9, 7),
    ("day_reminder", 5): utc(2027, 4, 23, 7),
    # D2-3, Friday 12 March
    ("jti_escalation", 0): utc(2027, 3, 12, 8),
    # D3-3 is Langfredag 26 March: Wednesday 24 March (still winter time)
    ("homework_reminder", 0): utc(2027, 3, 24, 8),
    # D3 is Anden påskedag 29 March, which looks ahead too: Wednesday 24 March
    ("host_missing", 0): utc(2027, 3, 24, 8),
    # D4-7, Monday 5 April
    ("career_visit_reminder", 0): utc(2027, 4, 5, 7),
    # D4-1 is Sunday 11 April: Friday 9 April
    ("career_visit_escalation", 0): utc(2027, 4, 9, 7),
    # D5-7, Monday 19 April
    ("speech_reminder", 0): utc(2027, 4, 19, 7),
}


def test_cohort_deadlines_cover_every_cohort_rule_once_per_occurrence() -> None:
    moments = cohort_deadlines(PLAN)
    assert len(moments) == 15  # ten rules, and day_reminder once for each of the five days
    assert {key: m.due_at for key, m in by_key(moments).items()} == EXPECTED_DUE


@pytest.mark.parametrize(("key", "expected"), sorted(EXPECTED_DUE.items()), ids=str)
def test_each_rule_is_due_at_nine_local_time(key: tuple[str, int], expected: datetime) -> None:
    due = by_key(cohort_deadlines(PLAN))[key].due_at
    assert due == expected
    assert due.tzinfo is not None and due.utcoffset() == timedelta(0)
    assert due.astimezone(LOCAL_TZ).hour == 9
    assert is_working_day(due.astimezone(LOCAL_TZ).date()), "never sent on a day off"


def test_obsolete_moments_of_reminders_for_a_day() -> None:
    """A reminder for a day is obsolete once that day has begun; the homework and speech
    reminders once their day has begun; the career-visit rules once the visit is due (D4)."""
    moments = by_key(cohort_deadlines(PLAN))
    for number, day in enumerate(PLAN.days, start=1):
        assert moments["day_reminder", number].expires_at == local_moment(day, 9)
    assert moments["homework_reminder", 0].expires_at == utc(2027, 3, 29, 7)
    assert moments["speech_reminder", 0].expires_at == utc(2027, 4, 26, 7)
    for rule in ("host_missing", "career_visit_reminder", "career_visit_escalation"):
        assert moments[rule, 0].expires_at == utc(2027, 4, 12, 7), rule
    for rule in ("jti_reminder", "jti_escalation"):
        assert moments[rule, 0].expires_at == utc(2027, 3, 15, 8), rule
    # The invitation fires invite_jti: late is better than never.
    assert moments["jti_invitation", 0].expires_at is None
    for moment in moments.values():
        if moment.expires_at is not None:
            assert moment.expires_at > moment.due_at, moment.rule


# -- daylight saving ---------------------------------------------------------------------------


def test_spring_forward_rule_due_the_monday_after_is_sent_at_nine_summer_time() -> None:
    # D1-7 is Monday 2028-03-27, the day after the last Sunday of March (in 2027 that Monday
    # is Anden påskedag).
    plan = CohortPlan(
        "S28",
        (
            date(2028, 4, 3),
            date(2028, 4, 24),
            date(2028, 5, 8),
            date(2028, 5, 22),
            date(2028, 6, 12),
        ),
    )
    moments = by_key(cohort_deadlines(plan))
    assert moments["jti_reminder", 0].due_at == utc(2028, 3, 27, 7)
    assert moments["manager_conversation_escalation", 0].due_at == utc(2028, 3, 27, 7)
    # A week earlier it is still winter time: the same 09:00 is an hour later in UTC.
    assert moments["jti_invitation", 0].due_at == utc(2028, 3, 20, 8)
    assert moments["manager_conversation_reminder", 0].due_at == utc(2028, 3, 13, 8)
    # The day reminder for day 1 (Sunday 2 April) moves to Friday 31 March, summer time.
    assert moments["day_reminder", 1].due_at == utc(2028, 3, 31, 7)
    for moment in moments.values():
        assert moment.due_at.astimezone(LOCAL_TZ).hour == 9, moment.rule


def test_fall_back_rule_due_the_monday_after_is_sent_at_nine_winter_time() -> None:
    # D1-7 is Monday 2027-11-01, the day after the last Sunday of October.
    plan = CohortPlan(
        "E27",
        (
            date(2027, 11, 8),
            date(2027, 11, 22),
            date(2027, 12, 6),
            date(2027, 12, 20),
            date(2028, 1, 3),
        ),
    )
    moments = by_key(cohort_deadlines(plan))
    assert moments["jti_reminder", 0].due_at == utc(2027, 11, 1, 8)
    assert moments["manager_conversation_escalation", 0].due_at == utc(2027, 11, 1, 8)
    # A week earlier it is still summer time.
    assert moments["jti_invitation", 0].due_at == utc(2027, 10, 25, 7)
    assert moments["manager_conversation_reminder", 0].due_at == utc(2027, 10, 18, 7)
    for moment in moments.values():
        assert moment.due_at.astimezone(LOCAL_TZ).hour == 9, moment.rule


def test_local_moment_on_both_sides_of_each_change() -> None:
    assert local_moment(date(2027, 3, 27), 9) == utc(2027, 3, 27, 8)
    assert local_moment(date(2027, 3, 28), 9) == utc(2027, 3, 28, 7)
    assert local_moment(date(2027, 10, 30), 9) == utc(2027, 10, 30, 7)
    assert local_moment(date(2027, 10, 31), 9) == utc(2027, 10, 31, 8)
    assert local_moment(date(2027, 3, 29), 9, 5) == utc(2027, 3, 29, 7, 5)


def test_certified_follow_up_across_the_autumn_change() -> None:
    # Certified Friday 1 October: +30 is Sunday 31 October (the change), sent Monday 1 November
    # at 09:00 winter time.
    moments = by_key(certified_deadlines(date(2027, 10, 1), PLAN))
    assert moments["closing_reminder", 0].due_at == utc(2027, 11, 1, 8)
    # +60 is Tuesday 30 November.
    assert moments["auto_complete", 0].due_at == utc(2027, 11, 30, 8)


# -- weekends ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "direction", "expected"),
    [
        (date(2027, 3, 13), AHEAD, date(2027, 3, 12)),  # Saturday -> Friday before
        (date(2027, 3, 14), AHEAD, date(2027, 3, 12)),  # Sunday -> Friday before
        (date(2027, 3, 13), AFTER, date(2027, 3, 15)),  # Saturday -> Monday after
        (date(2027, 3, 14), AFTER, date(2027, 3, 15)),  # Sunday -> Monday after
        (date(2027, 3, 12), AHEAD, date(2027, 3, 12)),  # Friday stays
        (date(2027, 3, 15), AFTER, date(2027, 3, 15)),  # Monday stays
        (date(2027, 3, 10), AHEAD, date(2027, 3, 10)),  # Wednesday stays
    ],
    ids=lambda v: v.strftime("%a-%d") if isinstance(v, date) else str(v),
)
def test_shift_weekend(day: date, direction: str, expected: date) -> None:
    assert shift_weekend(day, direction) == expected


def test_look_ahead_rule_on_a_saturday_is_sent_the_friday_before() -> None:
    # Day 2 on a Tuesday: D2-3 is Saturday 13 March.
    plan = CohortPlan("T1", (D1, date(2027, 3, 16), D3, D4, D5))
    moments = by_key(cohort_deadlines(plan))
    assert moments["jti_escalation", 0].due_at == local(2027, 3, 12, 9)
    # D2-1 is a Monday: no shift.
    assert moments["day_reminder", 2].due_at == local(2027, 3, 15, 9)


def test_look_ahead_rule_on_a_sunday_is_sent_the_friday_before() -> None:
    # Day 4 on a Sunday-minus-seven: D4 Sunday 18 April, so D4-7 is Sunday 11 April.
    plan = CohortPlan("T2", (D1, D2, D3, date(2027, 4, 18), date(2027, 4, 28)))
    moments = by_key(cohort_deadlines(plan))
    assert moments["career_visit_reminder", 0].due_at == local(2027, 4, 9, 9)
    # D5-7 is Wednesday 21 April: no shift.
    assert moments["speech_reminder", 0].due_at == local(2027, 4, 21, 9)


def test_certified_plus_thirty_on_a_weekend_is_sent_the_monday_after() -> None:
    # Certified Thursday 29 April: +30 is Saturday 29 May, sent Monday 31 May.
    moments = by_key(certified_deadlines(date(2027, 4, 29), PLAN))
    assert moments["closing_reminder", 0].due_at == local(2027, 5, 31, 9)
    # +60 is Monday 28 June.
    assert moments["auto_complete", 0].due_at == local(2027, 6, 28, 9)
    # Certified Friday 30 April: +30 is Sunday 30 May, also Monday 31 May.
    moments = by_key(certified_deadlines(date(2027, 4, 30), PLAN))
    assert moments["closing_reminder", 0].due_at == local(2027, 5, 31, 9)


def test_certified_follow_ups_on_weekdays() -> None:
    moments = by_key(certified_deadlines(D5, PLAN))
    assert set(moments) == {("closing_reminder", 0), ("auto_complete", 0)}
    assert moments["closing_reminder", 0].due_at == local(2027, 5, 26, 9)  # Wednesday
    assert moments["auto_complete", 0].due_at == local(2027, 6, 25, 9)  # Friday
    # The closing reminder stops being relevant when the path completes on its own.
    assert moments["closing_reminder", 0].expires_at == local(2027, 6, 25, 9)
    assert moments["auto_complete", 0].expires_at is None


# -- the send hour -----------------------------------------------------------------------------


@pytest.mark.parametrize("hour", [0, 7, 9, 16, 23])
def test_send_hour_setting_moves_every_moment(hour: int) -> None:
    plan = CohortPlan("H7", PLAN.days, send_hour=hour)
    default = by_key(cohort_deadlines(PLAN))
    for key, moment in by_key(cohort_deadlines(plan)).items():
        assert moment.due_at.astimezone(LOCAL_TZ).hour == hour, key
        assert moment.due_at.astimezone(LOCAL_TZ).date() == (
            default[key].due_at.astimezone(LOCAL_TZ).date()
        ), key
        if moment.expires_at is not None:
            assert moment.expires_at.astimezone(LOCAL_TZ).hour == hour
    for moment in certified_deadlines(D5, plan):
        assert moment.due_at.astimezone(LOCAL_TZ).hour == hour


def test_send_hour_seven_on_the_day_after_spring_forward() -> None:
    plan = CohortPlan("H7", (D1, D2, date(2027, 3, 30), D4, D5), send_hour=7)
    # D3-1 is Anden påskedag, the Monday after the change: the working day before is
    # Wednesday 24 March, winter time; D3 itself (Tuesday 30 March) is summer time.
    moments = by_key(cohort_deadlines(plan))
    assert moments["day_reminder", 3].due_at == utc(2027, 3, 24, 6)
    assert moments["host_missing", 0].due_at == utc(2027, 3, 30, 5)


# -- the host letter ---------------------------------------------------------------------------


def test_host_letter_waits_for_day_one_then_goes_at_once() -> None:
    before = host_letter_deadline(local(2027, 2, 20, 11), PLAN)
    assert (before.rule, before.occurrence) == ("host_letter", 0)
    assert before.due_at == local(2027, 3, 1, 9)
    after = host_letter_deadline(local(2027, 3, 10, 11), PLAN)
    assert after.due_at == local(2027, 3, 10, 11)
    assert after.expires_at is None


# -- the admin digest --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "monday", "moment"),
    [
        (local(2027, 3, 1, 8, 0), date(2027, 3, 1), utc(2027, 3, 1, 7)),
        (local(2027, 3, 1, 7, 59), date(2027, 2, 22), utc(2027, 2, 22, 7)),
        (local(2027, 3, 3, 12), date(2027, 3, 1), utc(2027, 3, 1, 7)),
        (local(2027, 3, 7, 23, 59), date(2027, 3, 1), utc(2027, 3, 1, 7)),
        # Monday after the spring change: 08:00 summer time is 06:00 UTC.
        (local(2027, 3, 29, 8, 0), date(2027, 3, 29), utc(2027, 3, 29, 6)),
        (local(2027, 3, 29, 7, 59), date(2027, 3, 22), utc(2027, 3, 22, 7)),
        # Sunday of the change itself belongs to the week of Monday 22 March.
        (local(2027, 3, 28, 12), date(2027, 3, 22), utc(2027, 3, 22, 7)),
        # Monday after the autumn change: 08:00 winter time is 07:00 UTC.
        (local(2027, 11, 1, 8, 0), date(2027, 11, 1), utc(2027, 11, 1, 7)),
        (utc(2027, 11, 1, 6, 59), date(2027, 10, 25), utc(2027, 10, 25, 6)),
    ],
    ids=lambda v: v.isoformat() if isinstance(v, datetime | date) else str(v),
)
def test_digest_moment_is_the_monday_eight_oclock_at_or_before_now(
    now: datetime, monday: date, moment: datetime
) -> None:
    assert digest_moment(now) == (monday, moment)


def test_digest_moment_ignores_the_cohort_send_hour() -> None:
    assert digest_moment(local(2027, 3, 1, 8, 30))[1].astimezone(LOCAL_TZ).hour == 8


# -- the rules as PROGRAMME.md lists them ------------------------------------------------------

PROGRAMME_RECIPIENTS = {
    "manager_conversation_reminder": {"participant", "manager"},
    "jti_invitation": {"participant"},
    "manager_conversation_escalation": {"manager", "admin"},
    "jti_reminder": {"participant"},
    "jti_escalation": {"participant", "admin"},
    "day_reminder": {"participant"},
    "host_letter": {"host", "participant"},
    "host_missing": {"participant"},
    "homework_reminder": {"participant"},
    "career_visit_reminder": {"participant"},
    "career_visit_escalation": {"admin"},
    "speech_reminder": {"participant"},
    "closing_reminder": {"participant", "manager"},
    "auto_complete": set(),
}


def test_every_timed_rule_of_the_programme_and_its_recipients() -> None:
    assert {rule.name: set(rule.recipients) for rule in TIMED_RULES} == PROGRAMME_RECIPIENTS
    assert TIMED_RULE_BY_NAME["jti_invitation"].fires == "invite_jti"
    assert TIMED_RULE_BY_NAME["auto_complete"].fires == "complete"
    assert {r.name for r in COHORT_RULES} == set(PROGRAMME_RECIPIENTS) - {
        "host_letter",
        "closing_reminder",
        "auto_complete",
    }


def test_notifications_sent_on_a_step_and_their_recipients() -> None:
    sent = {
        notice.rule: set(notice.recipients)
        for notices in STEP_NOTICES.values()
        for notice in notices
    }
    assert sent == {
        "welcome": {"participant", "manager"},
        "jti_invitation": {"participant"},
        "absence_notice": {"participant", "manager"},
        "certificate": {"participant", "manager"},
        "withdrawal_notice": {"participant", "manager", "admin"},
    }


# -- conditions re-checked at send time --------------------------------------------------------

HOST = Host("Hanne Vært", "hanne@example.dk", "leader", "Odense")
NOW = local(2027, 3, 1, 9, 5)


def situation(state: str = "enrolled", facts: Facts | None = None) -> Situation:
    return Situation(state, facts or Facts(), PLAN, "Odense", NOW)


WAIVED = Waiver(date(2027, 2, 20), "Aftalt med kursusleder")
DONE_CASES = [
    ("manager_conversation_reminder", "enrolled", Facts(), None),
    (
        "manager_conversation_reminder",
        "manager_conversation_held",
        Facts(manager_conversation=date(2027, 2, 1), goals=("Mål",)),
        "conversation already held (met)",
    ),
    (
        "manager_conversation_escalation",
        "jti_invited",
        Facts(waivers={"manager_conversation": WAIVED}),
        "conversation already held (waived)",
    ),
    ("jti_reminder", "jti_invited", Facts(jti_invited=date(2027, 2, 15)), None),
    (
        "jti_reminder",
        "jti_completed",
        Facts(jti_invited=date(2027, 2, 15), jti_completed=date(2027, 2, 16)),
        "JTI already answered (met)",
    ),
    (
        "jti_escalation",
        "day_1",
        Facts(jti_invited=date(2027, 2, 15), waivers={"jti": WAIVED}),
        "JTI already answered (waived)",
    ),
    ("host_missing", "day_2", Facts(), None),
    ("host_missing", "day_2", Facts(host=HOST), "a host is registered"),
    ("career_visit_reminder", "day_3", Facts(host=HOST), None),
    (
        "career_visit_escalation",
        "day_2",
        Facts(host=HOST, career_visit=date(2027, 3, 20)),
        "career visit already held (met)",
    ),
    (
        "host_letter",
        "day_2",
        Facts(host=HOST, career_visit=date(2027, 3, 20)),
        "career visit already held (met)",
    ),
    ("speech_reminder", "day_4", Facts(), None),
    ("day_reminder", "day_1", Facts(), None),
    ("closing_reminder", "certified", Facts(certified=D5), None),
    (
        "closing_reminder",
        "closing_conversation_held",
        Facts(certified=D5, closing_conversation=date(2027, 5, 3)),
        "closing conversation already held or declined",
    ),
    ("auto_complete", "closing_conversation_held", Facts(certified=D5), None),
    ("jti_invitation", "enrolled", Facts(), None),
    (
        "jti_invitation",
        "jti_invited",
        Facts(jti_invited=date(2027, 2, 10)),
        "JTI already sent on 2027-02-10",
    ),
]


@pytest.mark.parametrize(
    ("rule", "state", "facts", "reason"),
    DONE_CASES,
    ids=[f"{c[0]}-{'applies' if c[3] is None else 'done'}" for c in DONE_CASES],
)
def test_nobody_is_reminded_of_what_they_already_did(
    rule: str, state: str, facts: Facts, reason: str | None
) -> None:
    assert still_applies(TIMED_RULE_BY_NAME[rule], situation(state, facts)) == reason


@pytest.mark.parametrize("final", ["withdrawn", "deferred", "completed"])
@pytest.mark.parametrize("rule", sorted(TIMED_RULE_BY_NAME))
def test_nothing_applies_to_a_participant_whose_path_has_ended(rule: str, final: str) -> None:
    facts = Facts(days={1: DayRecord(D1, True)})
    assert still_applies(TIMED_RULE_BY_NAME[rule], situation(final, facts)) == (
        f"participant is {final}"
    )
