"""Validation of outside input: one rule per field, used alike by every command, the CSV import
and the Python API, so that a value one of them accepts is never refused by another.

A rule cleans a value (surrounding white space removed; an address in its one canonical form)
or refuses it with :class:`~workflow.errors.InvalidField`, whose ``reason`` reads after the
field's label ("the participant's name contains ...") or after an import's line and column.
Messages name fields, never command-line options.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import Enum
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import idna
from sqlalchemy import Column

from states.errors import Refusal
from states.workdays import holiday_name
from workflow.clock import date_problem
from workflow.errors import InvalidField, InvalidInput
from workflow.models import AUDIT, COHORTS, PARTICIPANTS
from workflow.records import CohortRow

__all__ = [
    "ACTOR",
    "COHORT",
    "DELIVERABLE_LIMIT",
    "FREE_TEXT_LIMIT",
    "HOST",
    "LANGUAGES",
    "LOCAL_PART_LIMIT",
    "NOTE",
    "PARTICIPANT",
    "REASON",
    "Field",
    "Kind",
    "article_link",
    "article_title",
    "articles",
    "canonical_domain",
    "canonical_email",
    "check",
    "check_days",
    "clean_all",
    "column_limit",
    "enrolment_closed",
    "goal",
    "holiday_refusals",
    "language",
    "link_problem",
    "lookup_email",
    "step_texts",
    "too_long",
    "unwanted_character",
]


class Kind(Enum):
    LINE = "one line of text"
    TEXT = "text that may have several lines"
    EMAIL = "an email address"
    LINK = "a web link"
    LANGUAGE = "a language"


@dataclass(frozen=True)
class Field:
    """What one input field may hold."""

    label: str
    kind: Kind
    limit: int | None
    required: bool = True
    joiners: bool = True
    """Whether the zero-width (non-)joiners that spell words in some scripts are kept."""

    def refuse(self, reason: str) -> InvalidField:
        return InvalidField(self.label, reason)

    def clean(self, value: str | None) -> Any:
        """The value as it is stored (``None`` for an optional value left out), or
        :class:`InvalidField` saying why not."""
        text = (value or "").strip()
        reason = unwanted_character(text, lines=self.kind is Kind.TEXT, joiners=self.joiners)
        if reason is None and self.limit is not None and len(text) > self.limit:
            reason = too_long(text, self.limit)
        if reason is not None:
            raise self.refuse(reason)
        if self.kind is Kind.LANGUAGE:
            return language(self, text)
        if not text:
            if self.required:
                raise self.refuse("is missing")
            return None
        if self.kind is Kind.EMAIL:
            address, problem = canonical_email(text)
            if problem is not None:
                raise self.refuse(problem)
            text = address
        if self.kind is Kind.LINK:
            problem = link_problem(text)
            if problem is not None:
                raise self.refuse(f"is not a web link: '{text}' {problem}")
        if self.limit is not None and len(text) > self.limit:  # the ASCII form is longer
            raise self.refuse(too_long(text, self.limit))
        return text


def column_limit(column: Column[Any]) -> int | None:
    """The length a ``String(n)`` column holds, ``None`` for text without a limit."""
    length = getattr(column.type, "length", None)
    return length if isinstance(length, int) else None


def too_long(text: str, limit: int) -> str:
    return f"is {len(text)} characters long; at most {limit} fit"


# -- characters ---------------------------------------------------------------------------------

_ASCII_CONTROL = re.compile("[\x00-\x1f\x7f]")
_ASCII_CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x85")
_SEPARATORS = {"\u2028": "a line separator", "\u2029": "a paragraph separator"}
_JOINERS = frozenset("\u200c\u200d")
# Printable ASCII and U+00A0-U+02FF but the soft hyphen: no character of the categories below,
# so most names (Søren, Łukasz, Şükrü) need no look-up per character.
_LATIN_LINE = re.compile("[\x20-\x7e\xa0-\xac\xae-\u02ff]*")
_LATIN_TEXT = re.compile("[\t\n\r\x20-\x7e\xa0-\xac\xae-\u02ff]*")
# Cc control characters, Cf invisible formatting (bidirectional overrides, zero-width spaces,
# byte-order marks, tags), Cs halves of a surrogate pair without the other half, and the
# Unicode line and paragraph separators.
_UNWANTED_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))


def unwanted_character(text: str, *, lines: bool = False, joiners: bool = True) -> str | None:
    """Why ``text`` cannot be stored, if a character in it should not be there: the first
    control or invisible formatting character, lone surrogate, or (unless ``lines``) line
    break. ``joiners`` keeps the zero-width joiner and non-joiner that belong in some words."""
    if text.isascii():
        found = (_ASCII_CONTROL_BUT_LINES if lines else _ASCII_CONTROL).search(text)
        return None if found is None else _describe(found.group(), lines)
    if (_LATIN_TEXT if lines else _LATIN_LINE).fullmatch(text):
        return None
    for char in text:
        if char in ("\n", "\r", "\t") and lines:
            continue
        if char in _JOINERS and joiners:
            continue
        if unicodedata.category(char) in _UNWANTED_CATEGORIES:
            return _describe(char, lines)
    return None


def _describe(char: str, lines: bool) -> str:
    code = f"U+{ord(char):04X}"
    if char in _SEPARATORS:
        fix = "use an ordinary line break" if lines else "write it on one line"
        return f"contains {_SEPARATORS[char]} ({code}); {fix}"
    if char in _LINE_BREAKS and not lines:
        return f"contains a line break ({code}); write it on one line"
    category = unicodedata.category(char)
    if category == "Cf":
        name = unicodedata.name(char, "")
        shown = f"{code} {name}" if name else code
        return f"contains an invisible formatting character ({shown}); remove it"
    if category == "Cs":
        return f"contains a lone surrogate ({code}), which is not text; retype it"
    return f"contains a control character ({code}); remove it"


# -- languages ----------------------------------------------------------------------------------

LANGUAGES = ("da", "en")
_LANGUAGE_WORDS = {
    "": "da",
    "da": "da",
    "dk": "da",
    "dansk": "da",
    "danish": "da",
    "en": "en",
    "engelsk": "en",
    "english": "en",
}


def language(field: Field, text: str) -> str:
    found = _LANGUAGE_WORDS.get(text.casefold())
    if found is None:
        raise field.refuse(f"is unknown ('{text}'); use {' or '.join(LANGUAGES)}")
    return found


# -- addresses ----------------------------------------------------------------------------------

# RFC 5322's dot-atom: what a part before the @ may hold without quotes.
_ATEXT = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
)
# RFC 5321: a mailbox's local part has at most 64 octets, and a path at most 256 with its
# angle brackets, so an address longer than 254 cannot be delivered.
LOCAL_PART_LIMIT = 64
DELIVERABLE_LIMIT = 254


def canonical_email(text: str) -> tuple[str, str | None]:
    """(the address in its one canonical form, why it cannot be sent to): look-alikes are
    folded together by NFKC (fullwidth letters) and IDNA (an international domain and its
    ASCII form), and letter case is ignored. A local part outside ASCII is refused, since
    only servers offering SMTPUTF8 take one and lps does not send with it."""
    address = unicodedata.normalize("NFKC", text)
    invalid = f"is not a valid email address: '{text}'"
    unsendable = f"is not an address lps can send to: '{text}'"
    if "@" not in address:
        return "", f"{invalid} has no @"
    local, _, domain = address.rpartition("@")
    if "@" in local:
        return "", f"{invalid} has more than one @"
    if not local:
        return "", f"{invalid} has nothing before the @"
    if not domain:
        return "", f"{invalid} has nothing after the @"
    for char in local:
        if not char.isascii():
            return "", (
                f"{unsendable} has '{char}' before the @, which only mail servers with SMTPUTF8 "
                "accept; ask for an address without it"
            )
        if char not in _ATEXT and char != ".":
            return "", f"{invalid} has '{char}' before the @"
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return "", (
            f"{invalid} has a dot at the start or end of the part before the @, or two in a row"
        )
    if len(local) > LOCAL_PART_LIMIT:
        return "", (
            f"{unsendable} has {len(local)} characters before the @; at most "
            f"{LOCAL_PART_LIMIT} can be delivered"
        )
    ascii_domain, problem = canonical_domain(domain)
    if ascii_domain is None:
        return "", f"{invalid} has a domain that {problem}"
    if "." not in ascii_domain:
        return "", f"{invalid} has no dot after the @"
    canonical = f"{local.lower()}@{ascii_domain}"
    if len(canonical) > DELIVERABLE_LIMIT:
        return "", (
            f"is not an address lps can send to: it is {len(canonical)} characters long; "
            f"at most {DELIVERABLE_LIMIT} can be delivered"
        )
    return canonical, None


def lookup_email(text: str) -> str:
    """An address as given to look someone up: canonical when it can be, else as typed
    (lower case), so that a look-up never fails for the wrong reason."""
    address, problem = canonical_email(text.strip())
    return text.strip().lower() if problem is not None else address


# -- domains and links -------------------------------------------------------------------------

# Plain letters, digits and hyphens: a host name as DNS has always had them, needing no IDNA.
_LDH_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*")


@lru_cache(maxsize=8192)
def canonical_domain(domain: str) -> tuple[str | None, str | None]:
    """(the domain as DNS knows it, why it is not a domain): an internationalised name is
    mapped and encoded by UTS-46 and IDNA 2008 into its ASCII form ('søren.dk' and
    'XN--SREN-GRA.DK' are both 'xn--sren-gra.dk'); exactly one of the two is ``None``."""
    lowered = domain.lower()
    if _LDH_NAME.fullmatch(lowered) and "--" not in lowered:
        return lowered, None
    if domain.endswith("."):
        return None, "ends with a dot"
    try:
        encoded = idna.encode(domain, uts46=True, std3_rules=True, transitional=False)
    except idna.IDNAError as exc:
        return None, f"is not a domain name ({exc})"
    return encoded.decode("ascii"), None


# Characters RFC 3986 leaves out of links; mail programs end a link at them, or worse.
_NOT_IN_LINKS = frozenset('"<>\\^`{|}')
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


def link_problem(text: str) -> str | None:
    """What keeps ``text`` from being a web link: only https: and http: links with a host go
    into mail, where any other scheme (javascript:, data:) would run or show something else."""
    scheme = _SCHEME.match(text)
    if scheme is None or scheme.group(1).lower() not in ("https", "http"):
        return "must start with https://"
    for char in text:
        if char.isspace():
            return "has a space; write it as %20"
        if char in _NOT_IN_LINKS:
            return f"has '{char}', which a link cannot hold; write it as %{ord(char):02X}"
    try:
        parts = urlsplit(text)
    except ValueError:  # a bracket not closed around an IPv6 address
        return "has no valid host"
    try:
        parts.port  # noqa: B018 - reading it checks it
    except ValueError:
        return "has no valid port"
    host = parts.hostname
    if not text[scheme.end() :].startswith("//") or not host:
        return "has no host"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if canonical_domain(host)[1] is not None:
            return "has no valid host"
    return None


# -- the fields ---------------------------------------------------------------------------------

_P = PARTICIPANTS.c
PARTICIPANT: dict[str, Field] = {
    "name": Field("the participant's name", Kind.LINE, column_limit(_P.name)),
    "email": Field("the participant's email", Kind.EMAIL, column_limit(_P.email)),
    "municipality": Field("the municipality", Kind.LINE, column_limit(_P.municipality)),
    "workplace": Field("the workplace", Kind.LINE, column_limit(_P.workplace), required=False),
    "manager_name": Field("the manager's name", Kind.LINE, column_limit(_P.manager_name)),
    "manager_email": Field("the manager's email", Kind.EMAIL, column_limit(_P.manager_email)),
    "language": Field("the language", Kind.LANGUAGE, None),
    "jti_link": Field(
        "the participant's JTI link", Kind.LINK, column_limit(_P.jti_link), required=False
    ),
}

_C = COHORTS.c
COHORT: dict[str, Field] = {
    "code": Field("the cohort code", Kind.LINE, column_limit(_C.code), joiners=False),
    "name": Field("the cohort's name", Kind.LINE, column_limit(_C.name)),
    "venue": Field("the venue", Kind.LINE, column_limit(_C.venue), required=False),
    "admin_email": Field(
        "the admin email", Kind.EMAIL, column_limit(_C.admin_email), required=False
    ),
    "jti_link": Field(
        "the cohort's JTI link", Kind.LINK, column_limit(_C.jti_link), required=False
    ),
}

# A host is kept in the participant's facts; their details are bounded like a participant's.
HOST: dict[str, Field] = {
    "name": Field("the host's name", Kind.LINE, column_limit(_P.name)),
    "email": Field("the host's email", Kind.EMAIL, column_limit(_P.email)),
    "municipality": Field("the host's municipality", Kind.LINE, column_limit(_P.municipality)),
}

ACTOR = Field("the actor", Kind.LINE, column_limit(AUDIT.c.actor))
# Notes, reasons and learning goals are kept as text without a column limit (audit notes,
# facts) but are read in mail, on the certificate and in reports: one bound for all of them,
# the same on every database.
FREE_TEXT_LIMIT = 2000
NOTE = Field("the note", Kind.TEXT, FREE_TEXT_LIMIT, required=False)
REASON = Field("the reason", Kind.TEXT, FREE_TEXT_LIMIT, required=False)


def goal(number: int) -> Field:
    return Field(f"learning goal {number}", Kind.TEXT, FREE_TEXT_LIMIT, required=False)


def article_title(number: int) -> Field:
    return Field(f"the title of article {number}", Kind.LINE, column_limit(_C.name))


def article_link(number: int) -> Field:
    return Field(f"the link of article {number}", Kind.LINK, column_limit(_C.jti_link))


def check(
    fields: Mapping[str, Field], values: Mapping[str, str | None]
) -> tuple[dict[str, Any], list[InvalidField]]:
    """Every value cleaned by its field's rule, and the first problem of each field that has
    one, in the order of ``fields``."""
    clean: dict[str, Any] = {}
    problems: list[InvalidField] = []
    for name, field in fields.items():
        if name not in values:
            continue
        try:
            clean[name] = field.clean(values[name])
        except InvalidField as problem:
            problem.field = name
            problems.append(problem)
    return clean, problems


def clean_all(fields: Mapping[str, Field], values: Mapping[str, str | None]) -> dict[str, Any]:
    """:func:`check`, raising the first problem."""
    clean, problems = check(fields, values)
    if problems:
        raise problems[0]
    return clean


def articles(given: list[dict[str, str]]) -> list[dict[str, str]]:
    """A cohort's articles, each a title and a link, cleaned; the first problem is raised."""
    return [
        {
            "title": article_title(number).clean(article.get("title")),
            "url": article_link(number).clean(article.get("url")),
        }
        for number, article in enumerate(given, start=1)
    ]


def step_texts(note: str | None, reason: str | None, goals: tuple[str, ...]) -> None:
    """Refuse a note, reason or learning goal holding what text should not; an empty one is
    left to the programme's rules, which know when one is required."""
    NOTE.clean(note)
    REASON.clean(reason)
    for number, text in enumerate(goals, start=1):
        goal(number).clean(text)


_COUNTS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight")


def check_days(days: list[date], count: int = 5) -> None:
    """Teaching days: ``count`` real dates, strictly increasing."""
    if len(days) != count:
        raise InvalidInput(f"a cohort has {_COUNTS[count]} teaching days; got {len(days)}")
    for day in days:
        problem = date_problem(day, "teaching day")
        if problem:
            raise InvalidInput(problem)
    for earlier, later in itertools.pairwise(days):
        if later <= earlier:
            raise InvalidInput(
                f"teaching days must be {_COUNTS[count]} strictly increasing dates; "
                f"{later.isoformat()} does not come after {earlier.isoformat()}"
            )


def holiday_refusals(days: list[date], closures: frozenset[date]) -> list[str]:
    """A teaching day on a Danish public holiday or a closure day, named."""
    found: list[str] = []
    for day in days:
        name = holiday_name(day)
        if name is not None:
            found.append(Refusal(f"{day.isoformat()} is {name}", asks="allow_holiday"))
        elif day in closures:
            found.append(Refusal(f"{day.isoformat()} is a closure day", asks="allow_holiday"))
    return found


def enrolment_closed(cohort: CohortRow, today: date) -> list[str]:
    """The enrolment rule of the cohort itself: it closes before teaching day 1."""
    if today >= cohort.days[0]:
        return [
            f"cohort {cohort.code} started on {cohort.days[0].isoformat()}; "
            "enrolment closes before teaching day 1"
        ]
    return []
