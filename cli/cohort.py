"""``lps cohort``: cohorts and their teaching days."""

from __future__ import annotations

from datetime import date

import click

from cli.app import App
from cli.output import emit, json_option, table
from cli.params import DATE, DATE_LIST, allow_holiday_option


@click.group()
def cohort() -> None:
    """Create, list, show, update and reschedule cohorts."""


@cohort.command("create")
@click.argument("code")
@click.option(
    "--name", required=True, help="The cohort's name, e.g. 'Leder på spring, forår 2027'."
)
@click.option(
    "--days",
    required=True,
    type=DATE_LIST,
    help="The teaching days (five in the built-in programme), comma-separated.",
)
@click.option("--venue", help="Where the teaching days take place.")
@click.option("--admin-email", help="The course administration's address: alerts and digests.")
@click.option(
    "--max-absences",
    type=int,
    help="Absent days the certificate allows  [default: the programme's, 0 in the built-in]",
)
@click.option(
    "--send-hour",
    type=click.IntRange(0, 23),
    help="Local hour at which timed rules send  [default: the programme's, 9 in the built-in]",
)
@click.option("--jti-link", help="The JTI questionnaire link for everyone in the cohort.")
@click.option(
    "--article",
    "articles",
    multiple=True,
    metavar="TITLE|URL",
    help="An article sent with the JTI invitation (repeatable).",
)
@click.option(
    "--self-service",
    type=click.Choice(["off", "record", "approve"]),
    default="off",
    show_default=True,
    help="What the personal links in the mail may do: nothing, record at once, or wait for "
    "`lps approve`.",
)
@click.option(
    "--link-days",
    type=click.IntRange(1, 365),
    default=28,
    show_default=True,
    help="How many days after its due day a link still works.",
)
@click.option(
    "--programme",
    "programme",
    metavar="VERSION",
    help="The programme version it runs (default: `lps programme default`).",
)
@click.option(
    "--closure-day",
    "closure_days",
    multiple=True,
    type=DATE,
    help="A day the cohort is closed: no timed message goes out (repeatable).",
)
@allow_holiday_option
@json_option("Print the cohort as JSON.")
@click.pass_obj
def create(
    app: App,
    code: str,
    name: str,
    days: list[date],
    venue: str | None,
    admin_email: str | None,
    max_absences: int | None,
    send_hour: int | None,
    jti_link: str | None,
    articles: tuple[str, ...],
    self_service: str,
    link_days: int,
    programme: str | None,
    closure_days: tuple[date, ...],
    allow_holiday: bool,
    as_json: bool,
) -> None:
    """Create cohort CODE with its teaching days."""
    parsed = []
    for article in articles:
        title, _, url = article.partition("|")
        if not title.strip() or not url.strip():
            raise click.BadParameter(f"'{article}' must be TITLE|URL", param_hint="'--article'")
        parsed.append({"title": title.strip(), "url": url.strip()})
    view = app.workflow().create_cohort(
        code,
        name=name,
        days=days,
        venue=venue,
        admin_email=admin_email,
        max_absences=max_absences,
        send_hour=send_hour,
        jti_link=jti_link,
        articles=parsed,
        self_service=self_service,
        link_days=link_days,
        programme=programme,
        closure_days=list(closure_days),
        allow_holiday=allow_holiday,
    )
    emit(
        as_json,
        view.as_json(),
        f"Created cohort {view.code} ({view.name}): " + ", ".join(d.isoformat() for d in view.days),
    )


@cohort.command("list")
@json_option()
@click.pass_obj
def list_(app: App, as_json: bool) -> None:
    """All cohorts, by first teaching day."""
    views = app.workflow().cohorts()
    emit(
        as_json,
        [v.as_json() for v in views],
        lambda: table(
            ["code", "name", "day 1", "day 5", "venue", "participants"],
            [(v.code, v.name, v.days[0], v.days[-1], v.venue, v.participants) for v in views],
        ),
    )


@cohort.command("show")
@click.argument("code")
@json_option()
@click.pass_obj
def show(app: App, code: str, as_json: bool) -> None:
    """One cohort: its days, settings and participants per state."""
    from workflow.definition import day_themes, state_label

    view = app.workflow().cohort(code)

    def text() -> None:
        click.echo(f"Cohort {view.code}: {view.name}")
        click.echo(f"Venue: {view.venue or '-'}    Admin: {view.admin_email or '-'}")
        click.echo(
            f"Absences allowed: {view.max_absences}    Timed rules send at {view.send_hour:02d}:00"
        )
        click.echo(
            f"Self-service: {view.self_service}    Links work {view.link_days} days past due"
        )
        days = enumerate(zip(view.days, day_themes(), strict=True), start=1)
        for number, (day, theme) in days:
            click.echo(f"  Day {number}: {day.isoformat()}  {theme}")
        click.echo(f"Participants: {view.participants}")
        for state, count in view.by_state.items():
            click.echo(f"  {state:<28} {count:>5}  {state_label(state)}")

    emit(as_json, view.as_json(), text)


@cohort.command("update")
@click.argument("code")
@click.option("--name", help="The cohort's new name.")
@click.option("--venue", help="The new venue; '' removes it.")
@click.option("--admin-email", help="The course administration's new address; '' removes it.")
@click.option(
    "--self-service",
    type=click.Choice(["off", "record", "approve"]),
    help="What the personal links in the mail may do: nothing, record at once, or wait for "
    "`lps approve`.",
)
@click.option(
    "--link-days",
    type=click.IntRange(1, 365),
    help="How many days after its due day a link still works.",
)
@json_option("Print the cohort as JSON.")
@click.pass_obj
def update(
    app: App,
    code: str,
    name: str | None,
    venue: str | None,
    admin_email: str | None,
    self_service: str | None,
    link_days: int | None,
    as_json: bool,
) -> None:
    """Correct the name, venue or admin email of cohort CODE, or change its self-service.

    Each participant's history records the change; mail queued from then on uses the new
    values.
    """
    if all(v is None for v in (name, venue, admin_email, self_service, link_days)):
        raise click.UsageError(
            "give --name, --venue, --admin-email, --self-service or --link-days: what to change"
        )
    change = app.workflow().update_cohort(
        code,
        name=name,
        venue=venue,
        admin_email=admin_email,
        self_service=self_service,
        link_days=link_days,
    )
    view = change.cohort
    if not change.changed:
        emit(as_json, view.as_json(), f"Cohort {view.code}: nothing changed.")
        return
    shown = {
        "name": view.name,
        "venue": view.venue,
        "admin_email": view.admin_email,
        "self_service": view.self_service,
        "link_days": view.link_days,
    }
    emit(
        as_json,
        view.as_json(),
        f"Cohort {view.code} updated: "
        + ", ".join(
            f"{field.replace('_', ' ')} '{shown[field]}'"
            if shown[field] is not None
            else f"no {field.replace('_', ' ')}"
            for field in change.changed
        )
        + ".",
    )


@cohort.command("reschedule")
@click.argument("code")
@click.option(
    "--day",
    "day",
    type=click.IntRange(1, 8),
    required=True,
    help="Which teaching day (1-5 in the built-in programme).",
)
@click.argument("new_date", metavar="DATE", type=DATE)
@allow_holiday_option
@click.pass_obj
def reschedule(app: App, code: str, day: int, new_date: date, allow_holiday: bool) -> None:
    """Move teaching day N of cohort CODE to DATE; pending deadlines follow."""
    view = app.workflow().reschedule(code, day, new_date, allow_holiday=allow_holiday)
    click.echo(
        f"Cohort {view.code}: day {day} is now {new_date.isoformat()}; "
        "pending reminders were moved with it."
    )
