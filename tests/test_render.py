from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any

import jinja2
import pytest

from notifications.dates import format_date, format_datetime, format_time
from notifications.render import RULES, Rendered, render, required_keys

NAME = "Nguyễn Łukasz Şükrü"
GOAL = '<script>alert("x")</script> & Ærø'
ADMIN_EMAIL = "lederpaaspring@kommune.dk"

THEMES = [
    ("Ledelse i en kommunal kontekst", "Leadership in a municipal context"),
    ("Dig som leder", "You as a leader"),
    ("Ledelse i spil", "Leadership in play"),
    ("Min vej mod ledelse", "My path to leadership"),
    ("Min vej mod ledelse, fortsat", "My path to leadership, continued"),
]
DAY_DATES = [
    date(2027, 4, 5),
    date(2027, 4, 19),
    date(2027, 5, 3),
    date(2027, 5, 25),
    date(2027, 6, 14),
]
SECTION_3 = [
    "Hvad driver mig i forhold til at ville arbejde med ledelse?",
    "Hvad optager mig indenfor ledelse?",
    "Hvor ser jeg mine styrker i forhold til et evt. lederjob?",
    "Hvad er mine største personlige udfordringer?",
    "Hvilke egenskaber er det, som nogen (din leder) har set hos mig, og som kunne gøre et "
    "lederafklaringsforløb relevant?",
    "Hvilke læringsmål har jeg for min deltagelse i kurset?",
    "Hvilke personlige læringsmål har jeg?",
    "Hvordan kan din leder understøtte, at du anvender de ting, du lærer i forløbet?",
]
SECTION_8 = [
    "Kig sammen på de opsatte læringsmål og tal om, hvordan det er gået.",
    "Fortæl om dine refleksioner fra karrieresamtalen og hvilken betydning observationerne har "
    "for et muligt fremtidigt lederjob.",
    "Lav aftaler om, hvordan din leder bedst kan støtte dig fremover.",
]

RECIPIENTS: dict[str, tuple[str, ...]] = {
    "welcome": ("participant", "manager"),
    "manager_conversation_reminder": ("participant", "manager"),
    "manager_conversation_escalation": ("manager", "admin"),
    "jti_escalation": ("participant", "admin"),
    "host_letter": ("host", "participant"),
    "career_visit_escalation": ("admin",),
    "absence_notice": ("participant", "manager"),
    "certificate": ("participant", "manager"),
    "closing_reminder": ("participant", "manager"),
    "withdrawal_notice": ("participant", "manager", "admin"),
    "admin_digest": ("admin",),
}
SIGNATURE = {
    "da": "Venlig hilsen\nKursussekretariatet, Leder på spring",
    "en": "Kind regards\nThe course administration, Leder på spring",
}


def _day(number: int) -> dict[str, Any]:
    d = DAY_DATES[number - 1]
    theme_da, theme_en = THEMES[number - 1]
    return {
        "number": number,
        "date": d,
        "starts_at": datetime(d.year, d.month, d.day, 7, 0, tzinfo=UTC),
        "theme_da": theme_da,
        "theme_en": theme_en,
    }


HOST = {
    "name": "Birgitte Holm",
    "email": "bh@aeroe.dk",
    "role": "leader",
    "municipality": "Ærø Kommune",
}
PEOPLE = {
    "participant": {"name": NAME, "email": "nls@aeroe.dk"},
    "manager": {"name": "Mette Hansen", "email": "meh@aeroe.dk"},
    "host": {"name": HOST["name"], "email": HOST["email"]},
    "admin": {"name": "Kirsten Lund", "email": ADMIN_EMAIL},
}
ARTICLES = [
    {"title": "Ledelse i det offentlige", "url": "https://example.dk/artikel.pdf?a=1&b=2"},
    {"title": "Leadership Pipeline", "url": None},
]


def _extra(rule: str) -> dict[str, Any]:
    d4 = DAY_DATES[3]
    extras: dict[str, dict[str, Any]] = {
        "welcome": {"due": {"manager_conversation": date(2027, 3, 22)}},
        "manager_conversation_reminder": {"due": date(2027, 3, 22)},
        "manager_conversation_escalation": {"due": date(2027, 3, 22)},
        "jti_invitation": {
            "jti_link": "https://jti.example/answer?token=abc&lang=da",
            "articles": ARTICLES,
            "due": DAY_DATES[1],
        },
        "jti_reminder": {"jti_link": None, "due": DAY_DATES[1]},
        "jti_escalation": {"jti_link": "https://jti.example/answer?token=abc", "due": DAY_DATES[1]},
        "day_reminder": {"day": _day(2)},
        "host_letter": {"host": dict(HOST), "due": d4},
        "host_missing": {"due": d4},
        "career_visit_reminder": {"due": d4},
        "career_visit_escalation": {"due": d4},
        "homework_reminder": {"day": _day(3)},
        "speech_reminder": {"day": _day(5)},
        "absence_notice": {
            "absence": {
                "day": 2,
                "date": DAY_DATES[1],
                "reason": "Syg <barn> & feber",
                "absences": 1,
                "max_absences": 0,
            }
        },
        "certificate": {
            "certificate": {"issued_on": DAY_DATES[4], "code": "LPS-2027-1-007"},
            "goals": [GOAL, "At blive tydeligere på møder"],
        },
        "closing_reminder": {"certified_on": DAY_DATES[4]},
        "withdrawal_notice": {"reason": "Nyt job <i> & anden kommune"},
        "confirmation_rejected": {"step": "manager_conversation", "reason": "Forkert <dato>"},
        "group_announcement": {
            "group": {
                "number": 2,
                "members": [
                    {
                        "name": "Zofia Wójcik",
                        "municipality": "Odense Kommune",
                        "workplace": "Borgerservice",
                    },
                    {
                        "name": "Jens Ølgaard",
                        "municipality": "Kerteminde Kommune",
                        "workplace": "Hjemmeplejen",
                    },
                ],
            }
        },
    }
    return extras[rule]


def make_context(rule: str, role: str = "participant") -> dict[str, Any]:
    """A realistic context for ``rule`` addressed to ``role``."""
    recipient = {"role": role, **PEOPLE[role]}
    if rule == "admin_digest":
        return {
            "recipient": recipient,
            "week_of": date(2027, 4, 12),
            "cohorts": [
                {
                    "code": "LPS-2027-1",
                    "name": "Forår 2027",
                    "overdue": [
                        {
                            "participant": NAME,
                            "obligation": "jti",
                            "obligation_label": "JTI besvaret",
                            "due": DAY_DATES[1],
                            "days_late": 3,
                        }
                    ],
                },
                {"code": "LPS-2027-2", "name": "Efterår 2027", "overdue": []},
            ],
            "failed": [
                {"id": 17, "rule": "welcome", "recipient": "x@y.dk", "error": "550 <mailbox> full"}
            ],
        }
    return {
        "participant": {
            "name": NAME,
            "email": "nls@aeroe.dk",
            "municipality": "Ærø Kommune",
            "workplace": "Ærøskøbing Skole",
            "language": "da",
        },
        "manager": dict(PEOPLE["manager"]),
        "cohort": {
            "code": "LPS-2027-1",
            "name": "Forår 2027",
            "venue": "Hotel Svendborg, Centrumpladsen 1, 5700 Svendborg",
            "admin_email": ADMIN_EMAIL,
            "jti_link": None,
            "articles": ARTICLES,
            "max_absences": 0,
            "days": [_day(n) for n in (3, 1, 5, 2, 4)],
        },
        "recipient": recipient,
        **_extra(rule),
    }


def _cases() -> list[tuple[str, str, str]]:
    return [
        (rule, language, role)
        for rule in RULES
        for language in ("da", "en")
        for role in RECIPIENTS.get(rule, ("participant",))
    ]


# --- dates -----------------------------------------------------------------------------------


def test_format_date_danish_and_english() -> None:
    assert format_date(date(2027, 4, 5), "da") == "mandag den 5. april 2027"
    assert format_date(date(2027, 4, 5), "en") == "Monday 5 April 2027"
    assert format_date(date(2027, 3, 5), "da") == "fredag den 5. marts 2027"
    assert format_date(date(2027, 12, 19), "da") == "søndag den 19. december 2027"


def test_format_date_covers_every_weekday_and_month() -> None:
    start = date(2027, 1, 4)
    weekdays = [format_date(start + timedelta(days=i), "da").split()[0] for i in range(7)]
    assert weekdays == ["mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag"]
    months = [format_date(date(2027, m, 1), "da").split()[3] for m in range(1, 13)]
    assert months == [
        "januar",
        "februar",
        "marts",
        "april",
        "maj",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "december",
    ]


@pytest.mark.parametrize(
    ("moment", "danish", "english"),
    [
        (
            datetime(2027, 4, 5, 7, 0, tzinfo=UTC),
            "mandag den 5. april 2027 kl. 9.00",
            "Monday 5 April 2027 at 09:00",
        ),
        (
            datetime(2027, 1, 4, 8, 0, tzinfo=UTC),
            "mandag den 4. januar 2027 kl. 9.00",
            "Monday 4 January 2027 at 09:00",
        ),
        (
            datetime(2027, 11, 8, 12, 5, tzinfo=UTC),
            "mandag den 8. november 2027 kl. 13.05",
            "Monday 8 November 2027 at 13:05",
        ),
        (
            datetime(2027, 4, 4, 22, 30, tzinfo=UTC),
            "mandag den 5. april 2027 kl. 0.30",
            "Monday 5 April 2027 at 00:30",
        ),
        (
            datetime(2027, 3, 28, 0, 30, tzinfo=UTC),
            "søndag den 28. marts 2027 kl. 1.30",
            "Sunday 28 March 2027 at 01:30",
        ),
        (
            datetime(2027, 3, 28, 1, 30, tzinfo=UTC),
            "søndag den 28. marts 2027 kl. 3.30",
            "Sunday 28 March 2027 at 03:30",
        ),
        (
            datetime(2027, 10, 31, 0, 30, tzinfo=UTC),
            "søndag den 31. oktober 2027 kl. 2.30",
            "Sunday 31 October 2027 at 02:30",
        ),
        (
            datetime(2027, 10, 31, 1, 30, tzinfo=UTC),
            "søndag den 31. oktober 2027 kl. 2.30",
            "Sunday 31 October 2027 at 02:30",
        ),
    ],
)
def test_format_datetime_in_copenhagen_time(moment: datetime, danish: str, english: str) -> None:
    assert format_datetime(moment, "da") == danish
    assert format_datetime(moment, "en") == english


def test_format_time() -> None:
    moment = datetime(2027, 6, 14, 6, 0, tzinfo=UTC)
    assert format_time(moment, "da") == "8.00"
    assert format_time(moment, "en") == "08:00"


def test_naive_datetime_and_unknown_language_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        format_datetime(datetime(2027, 4, 5, 9, 0), "da")
    with pytest.raises(ValueError, match="language"):
        format_date(date(2027, 4, 5), "de")


# --- every rule, every language --------------------------------------------------------------


def test_rules_are_exactly_the_notifications_of_the_programme() -> None:
    assert len(RULES) == len(set(RULES)) == 20
    assert "auto_complete" not in RULES
    assert {"welcome", "admin_digest", "certificate", "host_letter", "day_reminder"} <= set(RULES)


@pytest.mark.parametrize("language", ["da", "en"])
def test_every_rule_has_its_three_templates(language: str) -> None:
    folder = resources.files("notifications") / "templates" / language
    names = {entry.name for entry in folder.iterdir() if not entry.name.startswith("_")}
    expected = {f"{rule}{suffix}" for rule in RULES for suffix in (".subject.txt", ".txt", ".html")}
    assert names == expected


@pytest.mark.parametrize(("rule", "language", "role"), _cases())
def test_every_rule_renders(rule: str, language: str, role: str) -> None:
    context = make_context(rule, role)
    rendered = render(rule, language, context)

    assert isinstance(rendered, Rendered)
    assert rendered.subject.strip() == rendered.subject
    assert rendered.subject and "\n" not in rendered.subject
    assert len(rendered.subject) < 140
    for part in (rendered.subject, rendered.text, rendered.html):
        assert "{{" not in part and "{%" not in part

    recipient = context["recipient"]
    greeting = "Kære" if language == "da" else "Dear"
    assert rendered.text.startswith(f"{greeting} {recipient['name']}")
    assert rendered.text.rstrip().endswith(ADMIN_EMAIL)
    assert SIGNATURE[language] in rendered.text
    assert "\n\n\n" not in rendered.text
    assert all(line == line.rstrip() for line in rendered.text.splitlines())

    assert rendered.html.startswith("<!DOCTYPE html>")
    assert f'<html lang="{language}">' in rendered.html
    assert f"mailto:{ADMIN_EMAIL}" in rendered.html
    assert SIGNATURE[language].split("\n")[1] in rendered.html
    assert rendered.html.rstrip().endswith("</html>")

    if rule != "admin_digest":
        assert NAME in rendered.text
        assert NAME in rendered.html


def test_rendering_does_not_change_the_context() -> None:
    context = make_context("welcome")
    before = repr(context)
    render("welcome", "da", context)
    assert repr(context) == before


def test_rendered_is_frozen() -> None:
    rendered = render("jti_reminder", "da", make_context("jti_reminder"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        rendered.subject = "x"  # type: ignore[misc]


# --- errors ----------------------------------------------------------------------------------


def test_unknown_rule_raises() -> None:
    with pytest.raises(KeyError, match="no_such_rule"):
        render("no_such_rule", "da", make_context("welcome"))
    with pytest.raises(KeyError):
        render("auto_complete", "da", make_context("welcome"))


def test_unknown_language_raises() -> None:
    with pytest.raises(ValueError, match="'de'"):
        render("welcome", "de", make_context("welcome"))


def test_missing_context_key_is_named() -> None:
    context = make_context("day_reminder")
    del context["day"]
    with pytest.raises(KeyError, match="day"):
        render("day_reminder", "da", context)


def test_missing_nested_value_is_not_silently_blank() -> None:
    context = make_context("day_reminder")
    del context["day"]["theme_da"]
    with pytest.raises(jinja2.UndefinedError):
        render("day_reminder", "da", context)


def test_required_keys() -> None:
    assert required_keys("admin_digest") == ("recipient", "week_of", "cohorts", "failed")
    assert set(required_keys("host_letter")) == {
        "participant",
        "manager",
        "cohort",
        "recipient",
        "host",
        "due",
    }
    with pytest.raises(KeyError):
        required_keys("nope")


# --- dates and times in messages -------------------------------------------------------------


def test_danish_subject_reads_as_danes_write_dates() -> None:
    context = make_context("manager_conversation_reminder")
    context["due"] = date(2027, 3, 5)
    rendered = render("manager_conversation_reminder", "da", context)
    assert rendered.subject == "Husk samtalen med din leder senest fredag den 5. marts 2027"


def test_day_reminder_in_summer_and_winter_time() -> None:
    summer = make_context("day_reminder")
    rendered = render("day_reminder", "da", summer)
    assert "mandag den 19. april 2027 kl. 9.00" in rendered.subject
    assert "kl. 9.00" in rendered.text and "kl. 9.00" in rendered.html
    assert "Dig som leder" in rendered.text
    assert "Hotel Svendborg" in rendered.text

    winter = make_context("day_reminder")
    winter["day"] = {
        **winter["day"],
        "date": date(2027, 11, 9),
        "starts_at": datetime(2027, 11, 9, 8, 30, tzinfo=UTC),
    }
    rendered = render("day_reminder", "da", winter)
    assert rendered.subject == "Husk 2. undervisningsdag tirsdag den 9. november 2027 kl. 9.30"
    english = render("day_reminder", "en", winter)
    assert "Tuesday 9 November 2027 at 09:30" in english.text
    assert "You as a leader" in english.text


def test_welcome_lists_the_five_days_in_order_with_themes_and_venue() -> None:
    text = render("welcome", "da", make_context("welcome")).text
    positions = [
        text.index(f"{n}. undervisningsdag, {format_date(d, 'da')} kl. 9.00")
        for n, d in enumerate(DAY_DATES, start=1)
    ]
    assert positions == sorted(positions)
    for theme_da, _ in THEMES:
        assert theme_da in text
    assert "Hotel Svendborg, Centrumpladsen 1, 5700 Svendborg" in text
    english = render("welcome", "en", make_context("welcome")).text
    for _, theme_en in THEMES:
        assert theme_en in english


# --- the participant's own words -------------------------------------------------------------


def test_learning_goals_are_escaped_in_html_and_verbatim_in_text() -> None:
    for language in ("da", "en"):
        rendered = render("certificate", language, make_context("certificate"))
        assert f"- {GOAL}\n" in rendered.text
        assert "<script>" not in rendered.html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Ærø" in rendered.html


def test_typed_reasons_are_escaped_in_html() -> None:
    absence = render("absence_notice", "da", make_context("absence_notice"))
    assert "Syg <barn> & feber" in absence.text
    assert "Syg &lt;barn&gt; &amp; feber" in absence.html
    withdrawal = render("withdrawal_notice", "en", make_context("withdrawal_notice", "admin"))
    assert "Nyt job <i> & anden kommune" in withdrawal.text
    assert "Nyt job &lt;i&gt; &amp; anden kommune" in withdrawal.html
    digest = render("admin_digest", "da", make_context("admin_digest", "admin"))
    assert "550 <mailbox> full" in digest.text
    assert "550 &lt;mailbox&gt; full" in digest.html


def test_markup_in_a_name_is_escaped_everywhere_in_html() -> None:
    context = make_context("host_letter", "host")
    context["participant"]["name"] = 'Ann <b>"Bo"</b> & Co'
    rendered = render("host_letter", "da", context)
    assert 'Ann <b>"Bo"</b> & Co' in rendered.subject
    assert 'Ann <b>"Bo"</b> & Co' in rendered.text
    assert "<b>" not in rendered.html
    assert "<title>Karrieresamtale med Ann &lt;b&gt;" in rendered.html


@pytest.mark.parametrize("language", ["da", "en"])
def test_unicode_names_survive(language: str) -> None:
    context = make_context("group_announcement")
    rendered = render("group_announcement", language, context)
    for name in (NAME, "Zofia Wójcik", "Jens Ølgaard"):
        assert name in rendered.text
        assert name in rendered.html
    assert "Kerteminde Kommune" in rendered.text


def test_subject_cannot_carry_a_header_break() -> None:
    context = make_context("withdrawal_notice", "manager")
    context["participant"]["name"] = "Eva\r\nBcc: evil@example.com"
    rendered = render("withdrawal_notice", "da", context)
    assert "\n" not in rendered.subject and "\r" not in rendered.subject


# --- content of particular rules -------------------------------------------------------------


@pytest.mark.parametrize("role", ["participant", "manager"])
def test_welcome_contains_the_conversation_themes(role: str) -> None:
    rendered = render("welcome", "da", make_context("welcome", role))
    for question in SECTION_3:
        assert question in rendered.text
        assert question in rendered.html
    assert "Temaer for samtalen" in rendered.text
    assert "Læringsmål for kurset" in rendered.text
    assert "mandag den 22. marts 2027" in rendered.subject
    assert "14 dage før" in rendered.text


def test_welcome_tells_the_participant_to_take_the_initiative() -> None:
    text = render("welcome", "da", make_context("welcome")).text
    assert "Du er tilmeldt" in text
    assert "Du skal selv tage initiativ" in text
    assert "senest mandag den 22. marts 2027" in text
    assert "JTI" in text and "artikler" in text


def test_welcome_to_the_manager_is_addressed_to_the_manager() -> None:
    rendered = render("welcome", "da", make_context("welcome", "manager"))
    assert rendered.text.startswith("Kære Mette Hansen")
    assert f"Du er nærmeste leder for {NAME}" in rendered.text
    assert NAME in rendered.subject
    english = render("welcome", "en", make_context("welcome", "manager"))
    assert f"You are the manager of {NAME}" in english.text
    assert "What drives me to want to work with leadership?" in english.text


@pytest.mark.parametrize("role", ["host", "participant"])
def test_host_letter_explains_purpose_and_confidentiality(role: str) -> None:
    rendered = render("host_letter", "da", make_context("host_letter", role))
    assert "fortrolig" in rendered.text
    assert "fortrolig" in rendered.html
    assert "karriereveje" in rendered.text
    assert "Ærø Kommune" in rendered.text
    assert "tirsdag den 25. maj 2027" in rendered.subject
    assert "Kære Birgitte Holm" in rendered.text
    english = render("host_letter", "en", make_context("host_letter", role))
    assert "confidential" in english.text


def test_host_letter_copy_says_it_is_a_copy() -> None:
    rendered = render("host_letter", "da", make_context("host_letter", "participant"))
    assert rendered.text.startswith(f"Kære {NAME}")
    assert "kopi af brevet til din vært, Birgitte Holm" in rendered.text


def test_host_letter_for_hr_host() -> None:
    context = make_context("host_letter", "host")
    context["host"]["role"] = "hr"
    leader = render("host_letter", "da", make_context("host_letter", "host")).text
    hr = render("host_letter", "da", context).text
    assert "din egen vej til ledelse" in leader
    assert "din egen vej til ledelse" not in hr
    assert "fortrolig" in hr


@pytest.mark.parametrize("role", ["participant", "manager"])
def test_certificate_lists_goals_and_closing_template(role: str) -> None:
    rendered = render("certificate", "da", make_context("certificate", role))
    for line in SECTION_8:
        assert line in rendered.text
        assert line in rendered.html
    assert "At blive tydeligere på møder" in rendered.text
    assert "praktikaftale" in rendered.text
    assert "LPS-2027-1-007" in rendered.text
    assert "mandag den 14. juni 2027" in rendered.text
    assert "frivillig" in rendered.text


def test_certificate_goals_come_in_the_order_recorded() -> None:
    text = render("certificate", "en", make_context("certificate")).text
    assert text.index(GOAL) < text.index("At blive tydeligere på møder")
    assert "praktikaftale" in text


def test_certificate_without_goals_says_so() -> None:
    context = make_context("certificate")
    context["goals"] = []
    assert "Der er ikke registreret læringsmål." in render("certificate", "da", context).text


def test_jti_invitation_with_link_and_articles() -> None:
    rendered = render("jti_invitation", "da", make_context("jti_invitation"))
    assert rendered.subject == "Besvar JTI-spørgeskemaet senest mandag den 19. april 2027"
    assert "https://jti.example/answer?token=abc&lang=da" in rendered.text
    assert 'href="https://jti.example/answer?token=abc&amp;lang=da"' in rendered.html
    assert "Ledelse i det offentlige: https://example.dk/artikel.pdf?a=1&b=2" in rendered.text
    assert "Leadership Pipeline (vedhæftet)" in rendered.text


def test_jti_link_missing_says_it_follows() -> None:
    context = make_context("jti_invitation")
    context["jti_link"] = None
    context["articles"] = []
    text = render("jti_invitation", "da", context).text
    assert "Du får dit personlige link til spørgeskemaet i en særskilt mail." in text
    assert "Du får artiklerne i en særskilt mail." in text
    english = render("jti_reminder", "en", make_context("jti_reminder")).text
    assert "You will get your personal link" in english


def test_absence_beyond_allowance_requires_waiver_or_make_up() -> None:
    text = render("absence_notice", "da", make_context("absence_notice")).text
    assert "2. undervisningsdag, mandag den 19. april 2027" in text
    assert "kursussekretariatet godkende fraværet" in text
    assert "indhente dagen" in text
    english = render("absence_notice", "en", make_context("absence_notice", "manager")).text
    assert "must approve the absence" in english and "make up the day" in english


def test_absence_within_allowance_does_not_block_the_certificate() -> None:
    context = make_context("absence_notice")
    context["absence"]["max_absences"] = 1
    text = render("absence_notice", "da", context).text
    assert "ikke i vejen for kursusbeviset" in text
    assert "godkende fraværet" not in text


def test_homework_and_speech_reminders_name_their_day() -> None:
    homework = render("homework_reminder", "da", make_context("homework_reminder"))
    assert "3. undervisningsdag, mandag den 3. maj 2027 kl. 9.00" in homework.text
    assert "netværksgrupperne" in homework.text
    assert "hjemmeopgaven" in homework.subject
    speech = render("speech_reminder", "da", make_context("speech_reminder"))
    assert "lederindlæg" in speech.subject
    assert "mandag den 14. juni 2027" in speech.subject


def test_group_announcement_lists_the_other_members() -> None:
    text = render("group_announcement", "da", make_context("group_announcement")).text
    assert "netværksgruppe 2" in text
    assert "- Zofia Wójcik, Borgerservice, Odense Kommune" in text
    assert "mandag den 3. maj 2027" in text


def test_admin_digest_without_participant_or_cohort() -> None:
    context = make_context("admin_digest", "admin")
    assert "participant" not in context and "cohort" not in context
    rendered = render("admin_digest", "da", context)
    assert "uge 15" in rendered.subject
    assert "1 forsinket opgave" in rendered.subject
    assert f"- {NAME}: JTI besvaret. Frist mandag den 19. april 2027, 3 dage for sent." in (
        rendered.text
    )
    assert "Efterår 2027 (LPS-2027-2)" in rendered.text
    assert "Nr. 17, welcome til x@y.dk" in rendered.text
    assert NAME in rendered.html


def test_admin_digest_when_all_is_well() -> None:
    context = make_context("admin_digest", "admin")
    context["cohorts"] = []
    context["failed"] = []
    text = render("admin_digest", "en", context).text
    assert "No active cohorts." in text
    assert "All emails have been sent." in text


def test_escalations_reach_the_admin_with_participant_facts() -> None:
    for rule in ("manager_conversation_escalation", "jti_escalation", "career_visit_escalation"):
        rendered = render(rule, "da", make_context(rule, "admin"))
        assert "LPS-2027-1" in rendered.subject
        assert "Ærøskøbing Skole, Ærø Kommune" in rendered.text
        assert "Mette Hansen, meh@aeroe.dk" in rendered.text


def test_english_is_not_danish() -> None:
    for rule, language, role in _cases():
        if language != "en":
            continue
        rendered = render(rule, language, make_context(rule, role))
        for danish in ("Kære", "Venlig hilsen", "undervisningsdag", "senest"):
            assert danish not in rendered.text, (rule, role, danish)
