from __future__ import annotations

# Enrolment, cohorts, hosts and bulk steps for a whole cohort, on SQLite and PostgreSQL.
from datetime import date, datetime, timedelta

import pytest
from conftest import DAYS, enrol, make_cohort
from engine_helpers import D1, D2, D3, D4, D5, INVITE_DAY, LATER_DAYS, go, host, refused, snapshot
from helpers import on

from states.facts import Host
from workflow.clock import FixedClock
from workflow.engine import StepRequest, Workflow
from workflow.errors import BulkRefused, InvalidInput, NotFound

# -- enrolment and cohorts --------------------------------------------------------------------


def test_enrol_refused_from_day_one(wf: Workflow, clock: FixedClock) -> None:
    make_cohort(wf)
    on(clock, D1 - timedelta(days=1), 23)
    enrol(wf, "early@example.dk")
    on(clock, D1, 0)
    assert refused(lambda: enrol(wf, "late@example.dk")).reasons == [
        "cohort H1 started on 2027-03-01; enrolment closes before teaching day 1"
    ]
    assert [v.email for v in wf.participants()] == ["early@example.dk"]


def test_enrol_refuses_a_duplicate_email_in_the_cohort_case_insensitively(
    wf: Workflow,
) -> None:
    make_cohort(wf)
    make_cohort(wf, "H2", days=LATER_DAYS)
    first = enrol(wf, "soren@example.dk")
    before = snapshot(wf, first)
    assert refused(lambda: enrol(wf, " Soren@EXAMPLE.dk ")).reasons == [
        "soren@example.dk is already enrolled in cohort H1"
    ]
    assert snapshot(wf, first) == before
    assert len(wf.participants(cohort="H1")) == 1
    # the same person may be enrolled in another cohort
    other = enrol(wf, "Soren@Example.dk", cohort="H2")
    assert wf.participant(other).email == "soren@example.dk"


@pytest.mark.parametrize(
    ("details", "reasons"),
    [
        (
            {"email": "soren.example.dk"},
            ["the participant's email is not a valid email address: 'soren.example.dk' has no @"],
        ),
        (
            {"email": "soren@example"},
            [
                "the participant's email is not a valid email address: 'soren@example' has no "
                "dot after the @"
            ],
        ),
        (
            {"email": "a b@example.dk"},
            [
                "the participant's email is not a valid email address: 'a b@example.dk' has ' ' "
                "before the @"
            ],
        ),
        ({"email": ""}, ["the participant's email is missing"]),
        (
            {"manager_email": "mette"},
            ["the manager's email is not a valid email address: 'mette' has no @"],
        ),
        ({"manager_name": "  "}, ["the manager's name is missing"]),
        ({"municipality": ""}, ["the municipality is missing"]),
        ({"name": ""}, ["the participant's name is missing"]),
        ({"language": "sv"}, ["the language is unknown ('sv'); use da or en"]),
        (
            {"email": "x", "municipality": " ", "manager_name": "", "manager_email": ""},
            [
                "the participant's email is not a valid email address: 'x' has no @",
                "the municipality is missing",
                "the manager's name is missing",
                "the manager's email is missing",
            ],
        ),
    ],
)
def test_enrol_refusals_name_every_broken_rule(
    wf: Workflow, details: dict[str, str], reasons: list[str]
) -> None:
    make_cohort(wf)
    values = {
        "name": "Søren Ærø",
        "email": "soren@example.dk",
        "municipality": "Odense",
        "manager_name": "Mette Leder",
        "manager_email": "mette@example.dk",
        **details,
    }
    assert refused(lambda: wf.enrol("H1", **values)).reasons == reasons
    assert wf.participants() == []
    assert wf.cohort("H1").participants == 0


def test_enrol_names_a_duplicate_email_along_with_the_other_broken_rules(wf: Workflow) -> None:
    make_cohort(wf)
    enrol(wf)
    assert refused(lambda: enrol(wf, municipality="")).reasons == [
        "the municipality is missing",
        "soren@example.dk is already enrolled in cohort H1",
    ]


def test_enrol_in_an_unknown_cohort(wf: Workflow) -> None:
    with pytest.raises(NotFound) as raised:
        enrol(wf, cohort="H9")
    assert str(raised.value) == "no cohort with code 'H9'; see `lps cohort list`"


@pytest.mark.parametrize(
    ("days", "message"),
    [
        (
            (D1, D3, D2, D4, D5),
            "teaching days must be five strictly increasing dates; "
            "2027-03-15 does not come after 2027-03-29",
        ),
        (
            (D1, D2, D2, D4, D5),
            "teaching days must be five strictly increasing dates; "
            "2027-03-15 does not come after 2027-03-15",
        ),
        ((D1, D2, D3, D4), "a cohort has five teaching days; got 4"),
    ],
)
def test_cohort_days_must_increase(wf: Workflow, days: tuple[date, ...], message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        make_cohort(wf, days=days)
    assert str(raised.value) == message
    assert wf.cohorts() == []


def test_cohort_refusals(wf: Workflow) -> None:
    make_cohort(wf)
    with pytest.raises(InvalidInput, match=r"^cohort H1 already exists; choose another code$"):
        make_cohort(wf, days=LATER_DAYS)
    with pytest.raises(InvalidInput, match=r"^the absences allowed must be between 0 and 4$"):
        make_cohort(wf, "H2", max_absences=5)
    with pytest.raises(
        InvalidInput, match=r"^the admin email is not a valid email address: 'kursus' has no @$"
    ):
        make_cohort(wf, "H2", admin_email="kursus")
    assert [c.code for c in wf.cohorts()] == ["H1"]
    assert wf.cohort("H1").days == DAYS


def test_reschedule_moves_the_day_and_the_pending_reminders(
    wf: Workflow, clock: FixedClock, pid: int
) -> None:
    rule, due = wf.participant(pid).next_due  # type: ignore[misc]
    assert rule == "manager_conversation_reminder"
    assert due == datetime(2027, 2, 8, 8, 0, tzinfo=due.tzinfo)  # D1-21 at 09:00 Copenhagen
    view = wf.reschedule("H1", 1, date(2027, 3, 8))
    assert view.days[0] == date(2027, 3, 8)
    rule, due = wf.participant(pid).next_due  # type: ignore[misc]
    assert (rule, due.isoformat()) == ("manager_conversation_reminder", "2027-02-15T08:00:00+00:00")
    with pytest.raises(InvalidInput) as raised:
        wf.reschedule("H1", 2, date(2027, 3, 1))
    assert str(raised.value) == (
        "teaching days must be five strictly increasing dates; "
        "2027-03-01 does not come after 2027-03-08"
    )
    assert wf.cohort("H1").days[1] == D2


# -- hosts ------------------------------------------------------------------------------------


def test_host_in_another_municipality_is_refused(wf: Workflow, clock: FixedClock, pid: int) -> None:
    before = snapshot(wf, pid)
    assert refused(lambda: host(wf, pid, municipality="Svendborg")).reasons == [
        "the host is in Svendborg, but the participant is in Odense: "
        "the career visit must be in the participant's own municipality"
    ]
    assert snapshot(wf, pid) == before
    assert wf.participant(pid).facts.host is None
    assert refused(
        lambda: wf.set_host(pid, name=" ", email="nope", role="boss", municipality="Odense")
    ).reasons == [
        "the host's name is missing",
        "the host's email is not a valid email address: 'nope' has no @",
        "the host's role must be one of leader, hr",
    ]
    view = wf.set_host(
        pid, name="Hanne", email="hanne@example.dk", role="hr", municipality=" ODENSE "
    )
    assert view.facts.host == Host("Hanne", "hanne@example.dk", "hr", "ODENSE")
    assert wf.history(pid)[-1].as_json() | {"at": None, "role": None} == {
        "seq": 2,
        "at": None,
        "actor": "tester",
        "role": None,
        "event": "set_host",
        "from_state": "enrolled",
        "to_state": "enrolled",
        "note": None,
        "data": {"role": "hr"},
        "channel": "cli",
    }


# -- a whole cohort at once -------------------------------------------------------------------


def test_advance_cohort_advances_every_active_participant_except_those_left_out(
    wf: Workflow, clock: FixedClock
) -> None:
    make_cohort(wf)
    a = enrol(wf, "a@example.dk")
    b = enrol(wf, "b@example.dk")
    c = enrol(wf, "c@example.dk")
    d = enrol(wf, "d@example.dk")
    go(wf, d, "withdraw", reason="Nyt job")
    on(clock, INVITE_DAY)
    result = wf.advance_cohort("H1", StepRequest("invite-jti"), except_refs=[" C@Example.dk "])
    assert result.advanced == [(a, "enrolled", "jti_invited"), (b, "enrolled", "jti_invited")]
    assert result.skipped == 1
    assert result.refused == {}
    assert [wf.participant(p).state for p in (a, b, c, d)] == [
        "jti_invited",
        "jti_invited",
        "enrolled",
        "withdrawn",
    ]
    result = wf.advance_cohort("H1", StepRequest("invite_jti"), except_refs=[str(a), str(b)])
    assert result.advanced == [(c, "enrolled", "jti_invited")]
    assert result.skipped == 2


def test_advance_cohort_writes_the_rest_and_lists_the_refused(
    wf: Workflow, clock: FixedClock
) -> None:
    make_cohort(wf)
    a = enrol(wf, "a@example.dk")
    b = enrol(wf, "b@example.dk")
    c = enrol(wf, "c@example.dk")
    on(clock, INVITE_DAY)
    wf.advance_cohort("H1", StepRequest("invite_jti"), except_refs=[str(c)])
    on(clock, D1)
    before = snapshot(wf, c)
    with pytest.raises(BulkRefused) as raised:
        wf.advance_cohort("H1", StepRequest("register_day"))
    error = raised.value
    assert error.refusals == {
        f"c@example.dk (#{c})": [
            "register_day is not possible in state enrolled; first: invite_jti "
            "(to reach jti_invited)"
        ]
    }
    assert error.done == 2
    assert error.lines() == [
        f"c@example.dk (#{c}): register_day is not possible in state enrolled; first: "
        "invite_jti (to reach jti_invited)",
        "1 participant(s) refused, 2 advanced",
    ]
    assert [wf.participant(p).state for p in (a, b)] == ["day_1", "day_1"]
    assert snapshot(wf, c) == before


def test_advance_cohort_refuses_an_unknown_trigger_or_cohort(wf: Workflow) -> None:
    make_cohort(wf)
    with pytest.raises(InvalidInput, match=r"^unknown trigger 'fly'; choose one of: "):
        wf.advance_cohort("H1", StepRequest("fly"))
    with pytest.raises(NotFound, match=r"^no cohort with code 'H9'"):
        wf.advance_cohort("H9", StepRequest("invite_jti"))
