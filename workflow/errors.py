"""The engine's branch of the one exception tree: everything it refuses or cannot do.

Delivery and wire-format errors (:mod:`notifications.errors`) hang from the same root,
:class:`LpsError`."""

from __future__ import annotations

from states.errors import LpsError, Refusal

__all__ = [
    "BulkRefused",
    "ConcurrentChange",
    "GuardFailed",
    "ImportRejected",
    "InvalidInput",
    "LpsError",
    "NotFound",
    "SchemaMissing",
    "StorageError",
]


class NotFound(LpsError, LookupError):
    """A cohort, participant or outbox row that does not exist."""


class InvalidInput(LpsError, ValueError):
    """Input the engine cannot accept; ``line`` and ``column`` point into an imported file."""

    def __init__(self, message: str, *, line: int | None = None, column: str | None = None):
        self.message = message
        self.asks = getattr(message, "asks", None)
        self.line = line
        self.column = column
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class InvalidField(InvalidInput):
    """One value refused by its field's rule: ``label`` names the field in words, ``reason``
    says what is wrong in words that read after the label or after an import's column, and
    ``field`` is the field's name in the Python API, when known."""

    def __init__(self, label: str, reason: str, *, field: str | None = None):
        self.label = label
        self.reason = reason
        self.field = field
        super().__init__(f"{label} {reason}")


class ImportRejected(LpsError):
    """An import refused as a whole; ``problems`` holds one :class:`InvalidInput` per bad cell."""

    def __init__(self, problems: list[InvalidInput]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the file; nothing was imported")

    def lines(self) -> list[str]:
        return [problem.describe() for problem in self.problems] + [str(self)]


class GuardFailed(LpsError):
    """A trigger refused by the programme's rules; ``reasons`` names each broken rule."""

    def __init__(self, trigger: str, reasons: list[str], obligations: list[str] | None = None):
        self.trigger = trigger
        self.reasons = reasons
        self.obligations = obligations or []
        super().__init__("; ".join(reasons))

    def lines(self) -> list[str]:
        return list(self.reasons)


class ConcurrentChange(LpsError):
    """Someone else changed the participant between our read and our write."""


class SchemaMissing(LpsError):
    """The database does not exist or its schema is older than this version of lps."""


class StorageError(LpsError):
    """The database could not be reached or refused the operation."""


class BulkRefused(LpsError):
    """Some participants of a bulk step were refused; the rest were advanced."""

    def __init__(self, refusals: dict[str, list[str]], done: int):
        self.refusals = refusals
        self.done = done
        super().__init__(f"{len(refusals)} participant(s) refused, {done} advanced")

    def lines(self) -> list[str]:
        out = [
            Refusal(f"{who}: {reason}", getattr(reason, "asks", None))
            for who, reasons in self.refusals.items()
            for reason in reasons
        ]
        return [*out, str(self)]
