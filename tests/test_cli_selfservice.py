"""Self-service from the administrator's side: switching it on, the waiting confirmations,
and the channel in the history."""

from __future__ import annotations

from cli_helpers import DAYS_ARG, add, add_cohort, errors, history
from conftest import Cli
from helpers import fails, ok


def test_self_service_is_switched_on_per_cohort_and_needs_the_base_url(lps: Cli) -> None:
    refused = fails(
        lps,
        "cohort",
        "create",
        "H1",
        "--name",
        "Hold",
        "--days",
        DAYS_ARG,
        "--self-service",
        "on",
        code=2,
    )
    assert errors(refused)[-1].startswith("Error: Invalid value for '--self-service'")
    refused = fails(
        lps,
        "cohort",
        "create",
        "H1",
        "--name",
        "Hold",
        "--days",
        DAYS_ARG,
        "--allow-holiday",
        "--self-service",
        "record",
    )
    assert errors(refused) == [
        "Error: self-service needs LPS_BASE_URL, the address the links in the mail point to "
        "(e.g. https://lps.kommune.dk); set it first"
    ]
    lps.env["LPS_BASE_URL"] = "https://lps.kommune.dk"
    add_cohort(lps)
    changed = ok(lps, "cohort", "update", "H1", "--self-service", "approve", "--link-days", "21")
    assert changed.stdout == "Cohort H1 updated: self service 'approve', link days '21'.\n"
    assert (
        "Self-service: approve    Links work 21 days past due"
        in ok(lps, "cohort", "show", "H1").stdout
    )
    assert errors(fails(lps, "cohort", "update", "H1", "--self-service", "sometimes", code=2))[
        -1
    ].startswith("Error: Invalid value for '--self-service'")


def test_approvals_list_approve_and_reject_refusals(lps: Cli) -> None:
    assert ok(lps, "approvals", "list").stdout == "No confirmations are waiting for approval.\n"
    assert ok(lps, "approvals", "list", "--json").stdout == "[]\n"
    assert errors(fails(lps, "approvals", "list", "--cohort", "X9")) == [
        "Error: no cohort with code 'X9'; see `lps cohort list`"
    ]
    assert errors(fails(lps, "approve", "7")) == [
        "Error: no approval with id 7; see `lps approvals list`"
    ]
    assert errors(fails(lps, "reject", "7", "--reason", "nej")) == [
        "Error: no approval with id 7; see `lps approvals list`"
    ]


def test_history_shows_each_entrys_channel(lps: Cli) -> None:
    add_cohort(lps)
    pid = add(lps)
    ok(lps, "advance", str(pid), "hold_manager_conversation", "--goal", "Mål")
    shown = ok(lps, "history", str(pid)).stdout
    assert "via" in shown and "cli" in shown
    assert [e["channel"] for e in history(lps, str(pid))] == ["cli", "cli"]
    csv = ok(lps, "history", str(pid), "--format", "csv").stdout.splitlines()
    assert csv[0] == "seq,at,actor,event,from_state,to_state,note,role,channel"
    assert csv[1].split(",")[-1] == "cli"
