"""The words of the pages, in Danish and English, and the engine's refusals in both."""

from __future__ import annotations

import re

__all__ = ["FIELD_ERRORS", "TEXTS", "field_of", "reason_text"]

TEXTS: dict[str, dict[str, str]] = {
    "da": {
        "programme": "Leder på spring",
        "title.manager_conversation": "Samtalen med nærmeste leder er holdt",
        "title.jti": "JTI-spørgeskemaet er besvaret",
        "title.host": "Vært for karrieresamtalen",
        "title.career_visit": "Karrieresamtalen er holdt",
        "title.closing": "Den afsluttende samtale",
        "title.overview": "Dine deltagere",
        "title.closed": "Linket virker ikke",
        "title.expired_form": "Siden er for gammel",
        "title.busy": "For mange forsøg",
        "intro.manager_conversation": "Skriv, hvornår {name} og lederen holdt samtalen, og "
        "hvilke læringsmål {name} satte.",
        "intro.jti": "Skriv, hvornår {name} besvarede JTI-spørgeskemaet.",
        "intro.host": "Skriv, hvem {name} holder karrieresamtalen med.",
        "intro.career_visit": "Skriv, hvornår {name} holdt karrieresamtalen.",
        "intro.closing": "Skriv, hvornår {name} og lederen holdt den afsluttende samtale, eller "
        "at {name} har valgt den fra.",
        "intro.overview": "Her kan du se, hvad dine deltagere på hold {cohort} mangler.",
        "closed": "Linket er ukendt, udløbet eller ikke længere i brug. Kontakt "
        "kursussekretariatet, hvis du har brug for et nyt.",
        "expired_form": "Åbn linket fra mailen igen, og udfyld siden igen.",
        "busy": "Vent et øjeblik, og prøv igen.",
        "field.on": "Dato",
        "field.on.hint": "Vælg datoen i kalenderen, eller skriv den.",
        "field.goals": "Læringsmål",
        "field.goals.hint": "Ét læringsmål på hver linje.",
        "field.name": "Værtens navn",
        "field.email": "Værtens e-mail",
        "field.role": "Værtens rolle",
        "role.leader": "Erfaren leder",
        "role.hr": "HR",
        "field.municipality": "Værtens kommune",
        "field.outcome": "Hvad skete der?",
        "outcome.held": "Vi holdt samtalen",
        "outcome.declined": "Samtalen er valgt fra",
        "field.agreements": "Aftaler",
        "field.agreements.hint": "Valgfrit: de aftaler, I lavede.",
        "field.internship": "Der er aftalt et lederpraktikforløb (praktikaftale)",
        "yes": "Ja",
        "no": "Nej",
        "submit": "Send",
        "recorded": "Det er registreret.",
        "recorded_at": "Registreret {at} af {by}.",
        "submitted": "Tak. Kursussekretariatet godkender det, du har sendt.",
        "submitted_at": "Sendt {at} af {by}.",
        "declined": "Samtalen er valgt fra.",
        "errors": "Siden kan ikke sendes endnu. Ret det, der står ved felterne.",
        "refused": "Det kan ikke registreres:",
        "state": "Status",
        "participant": "Deltager",
        "open": "Mangler",
        "nothing_open": "Intet",
        "due": "senest {due}",
        "obligation.manager_conversation": "Samtale med nærmeste leder",
        "obligation.jti": "JTI-spørgeskemaet",
        "obligation.career_visit": "Karrieresamtalen",
        "obligation.attendance": "Fremmøde",
        "obligation.speech": "Lederindlæg",
        "contact": "Spørgsmål? Skriv til kursussekretariatet.",
        "participant_actor": "deltageren",
        "manager_actor": "nærmeste leder",
        "host_actor": "værten",
        "admin_actor": "kursussekretariatet",
    },
    "en": {
        "programme": "Leder på spring",
        "title.manager_conversation": "The conversation with the manager was held",
        "title.jti": "The JTI questionnaire is answered",
        "title.host": "Host of the career visit",
        "title.career_visit": "The career visit was held",
        "title.closing": "The closing conversation",
        "title.overview": "Your participants",
        "title.closed": "This link does not work",
        "title.expired_form": "This page is too old",
        "title.busy": "Too many attempts",
        "intro.manager_conversation": "Say when {name} and the manager held the conversation, "
        "and which learning goals {name} set.",
        "intro.jti": "Say when {name} answered the JTI questionnaire.",
        "intro.host": "Say who {name} holds the career visit with.",
        "intro.career_visit": "Say when {name} held the career visit.",
        "intro.closing": "Say when {name} and the manager held the closing conversation, or "
        "that {name} has declined it.",
        "intro.overview": "Here you can see what your participants in cohort {cohort} still "
        "have to do.",
        "closed": "The link is unknown, expired or no longer in use. Contact the course "
        "administration if you need a new one.",
        "expired_form": "Open the link from the mail again and fill in the page again.",
        "busy": "Wait a moment and try again.",
        "field.on": "Date",
        "field.on.hint": "Choose the date in the calendar, or type it.",
        "field.goals": "Learning goals",
        "field.goals.hint": "One learning goal on each line.",
        "field.name": "The host's name",
        "field.email": "The host's email",
        "field.role": "The host's role",
        "role.leader": "Experienced leader",
        "role.hr": "HR",
        "field.municipality": "The host's municipality",
        "field.outcome": "What happened?",
        "outcome.held": "We held the conversation",
        "outcome.declined": "The conversation is declined",
        "field.agreements": "Agreements",
        "field.agreements.hint": "Optional: the agreements you made.",
        "field.internship": "A leadership internship is agreed (praktikaftale)",
        "yes": "Yes",
        "no": "No",
        "submit": "Send",
        "recorded": "It is recorded.",
        "recorded_at": "Recorded {at} by {by}.",
        "submitted": "Thank you. The course administration will approve what you sent.",
        "submitted_at": "Sent {at} by {by}.",
        "declined": "The conversation is declined.",
        "errors": "The page cannot be sent yet. Correct what is said next to the fields.",
        "refused": "It cannot be recorded:",
        "state": "Status",
        "participant": "Participant",
        "open": "Still to do",
        "nothing_open": "Nothing",
        "due": "by {due}",
        "obligation.manager_conversation": "Conversation with the manager",
        "obligation.jti": "The JTI questionnaire",
        "obligation.career_visit": "The career visit",
        "obligation.attendance": "Attendance",
        "obligation.speech": "Leadership speech",
        "contact": "Questions? Write to the course administration.",
        "participant_actor": "the participant",
        "manager_actor": "the manager",
        "host_actor": "the host",
        "admin_actor": "the course administration",
    },
}

FIELD_ERRORS: dict[str, dict[str, str]] = {
    "da": {
        "missing": "Udfyld feltet.",
        "date": "Skriv en dato som år-måned-dag, fx 2027-01-04.",
        "email": "Skriv en gyldig e-mailadresse, fx navn@kommune.dk.",
        "choice": "Vælg en af mulighederne.",
        "too_long": "Teksten er for lang.",
    },
    "en": {
        "missing": "Fill in this field.",
        "date": "Write a date as year-month-day, e.g. 2027-01-04.",
        "email": "Write a valid email address, e.g. name@kommune.dk.",
        "choice": "Choose one of the options.",
        "too_long": "The text is too long.",
    },
}

_ISO = r"(\d{4}-\d{2}-\d{2})"
# The engine's refusals of the steps a link records, in Danish; anything else is shown as
# the engine says it.
_DANISH: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), text)
    for pattern, text in (
        (
            rf"the date {_ISO} is in the future \(today is {_ISO}\)",
            r"Datoen \1 ligger i fremtiden (i dag er det \2).",
        ),
        (
            rf"the date {_ISO} is before the participant was enrolled \({_ISO}\)",
            r"Datoen \1 er før tilmeldingen (\2).",
        ),
        (r"at least one learning goal is required", "Skriv mindst ét læringsmål."),
        (r"a learning goal cannot be empty", "Et læringsmål kan ikke være tomt."),
        (rf"the (.+) is already recorded \(on {_ISO}\)", r"Det er allerede registreret (\2)."),
        (r"the JTI has not been sent yet.*", "JTI-spørgeskemaet er ikke sendt endnu."),
        (
            rf"the JTI cannot be answered on {_ISO}, before it was sent \({_ISO}\)",
            r"JTI-spørgeskemaet kan ikke være besvaret \1, før det blev sendt (\2).",
        ),
        (r"no host is registered.*", "Der er ikke registreret en vært endnu."),
        (
            r"the host is in (.+), but the participant is in (.+): .*",
            r"Værten er i \1, men deltageren er i \2. Karrieresamtalen skal være i deltagerens "
            r"egen kommune.",
        ),
        (
            rf"the career visit date {_ISO} is before teaching day 1 \({_ISO}\)",
            r"Karrieresamtalen \1 er før 1. undervisningsdag (\2).",
        ),
        (
            rf"the closing conversation date {_ISO} is before the certificate was issued "
            rf"\({_ISO}\)",
            r"Samtalen \1 er før kursusbeviset blev udstedt (\2).",
        ),
        (r"the participant is (\w+); the path has ended", "Forløbet er afsluttet."),
        (r"(\w+) is not possible in state (\w+).*", "Det kan ikke registreres endnu."),
        (r"the host's (\w+) .*", "Værtens oplysninger kan ikke bruges. Ret dem."),
    )
)


def reason_text(reason: str, language: str) -> str:
    """One of the engine's refusals in ``language``."""
    if language != "da":
        return reason[:1].upper() + reason[1:] + ("" if reason.endswith(".") else ".")
    for pattern, text in _DANISH:
        if pattern.fullmatch(reason):
            return pattern.sub(text, reason)
    return reason


def field_of(reason: str) -> str | None:
    """The form field a refusal is about, so that it is shown beside it."""
    if "learning goal" in reason:
        return "goals"
    if reason.startswith("the date") or " date " in reason or "cannot be answered on" in reason:
        return "on"
    if reason.startswith("the host is in"):
        return "municipality"
    if reason.startswith("the host's email"):
        return "email"
    if reason.startswith("the host's name"):
        return "name"
    return None
