"""What the engine knows happened to one participant, as plain data.

Facts are stored as one JSON document on the participant row, so a step reads and writes a
single row. This module converts between that document and typed objects; it does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

__all__ = [
    "DayRecord",
    "Facts",
    "Host",
    "Waiver",
]


@dataclass(frozen=True)
class DayRecord:
    """One registered teaching day."""

    on: date
    attended: bool
    reason: str | None = None


@dataclass(frozen=True)
class Waiver:
    """An administrator's decision that an obligation no longer stands in the way."""

    on: date
    reason: str
    absences_covered: int = 0


@dataclass(frozen=True)
class Host:
    """The experienced leader or HR person who receives the career visit."""

    name: str
    email: str
    role: str
    municipality: str


@dataclass(frozen=True)
class Facts:
    """Everything recorded about one participant's path, independent of their state."""

    manager_conversation: date | None = None
    goals: tuple[str, ...] = ()
    jti_invited: date | None = None
    jti_completed: date | None = None
    days: dict[int, DayRecord] = field(default_factory=dict)
    host: Host | None = None
    career_visit: date | None = None
    speech: date | None = None
    certified: date | None = None
    closing_conversation: date | None = None
    agreements: str | None = None
    internship: bool | None = None
    closing_declined: date | None = None
    completed: date | None = None
    waivers: dict[str, Waiver] = field(default_factory=dict)

    @property
    def absences(self) -> int:
        return sum(1 for record in self.days.values() if not record.attended)

    def with_changes(self, **changes: Any) -> Facts:
        unknown = changes.keys() - self.__dict__.keys()
        if unknown:
            raise TypeError(f"Facts has no field {', '.join(sorted(unknown))}")
        # A copy of the fields with some replaced: dataclasses.replace re-runs __init__, which
        # costs more than the rest of a step's bookkeeping on facts.
        changed = object.__new__(Facts)
        changed.__dict__.update(self.__dict__)
        changed.__dict__.update(changes)
        return changed

    def to_json(self) -> dict[str, Any]:
        """The JSON document stored on the participant row."""
        doc: dict[str, Any] = {}
        for name in _DATE_FIELDS:
            value = getattr(self, name)
            if value is not None:
                doc[name] = value.isoformat()
        if self.goals:
            doc["goals"] = list(self.goals)
        if self.days:
            doc["days"] = {
                str(number): {
                    "on": record.on.isoformat(),
                    "attended": record.attended,
                    **({"reason": record.reason} if record.reason else {}),
                }
                for number, record in sorted(self.days.items())
            }
        if self.host is not None:
            doc["host"] = {
                "name": self.host.name,
                "email": self.host.email,
                "role": self.host.role,
                "municipality": self.host.municipality,
            }
        if self.agreements is not None:
            doc["agreements"] = self.agreements
        if self.internship is not None:
            doc["internship"] = self.internship
        if self.waivers:
            doc["waivers"] = {
                name: {
                    "on": waiver.on.isoformat(),
                    "reason": waiver.reason,
                    "absences_covered": waiver.absences_covered,
                }
                for name, waiver in sorted(self.waivers.items())
            }
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any] | None) -> Facts:
        """Read the document written by :meth:`to_json`."""
        if not doc:
            return cls()
        dates = {name: date.fromisoformat(doc[name]) for name in _DATE_FIELDS if doc.get(name)}
        days = {
            int(number): DayRecord(
                on=date.fromisoformat(record["on"]),
                attended=bool(record["attended"]),
                reason=record.get("reason"),
            )
            for number, record in (doc.get("days") or {}).items()
        }
        host_doc = doc.get("host")
        host = Host(**host_doc) if host_doc else None
        waivers = {
            name: Waiver(
                on=date.fromisoformat(w["on"]),
                reason=w["reason"],
                absences_covered=int(w.get("absences_covered", 0)),
            )
            for name, w in (doc.get("waivers") or {}).items()
        }
        return cls(
            goals=tuple(doc.get("goals") or ()),
            days=days,
            host=host,
            agreements=doc.get("agreements"),
            internship=doc.get("internship"),
            waivers=waivers,
            **dates,
        )


_DATE_FIELDS = (
    "manager_conversation",
    "jti_invited",
    "jti_completed",
    "career_visit",
    "speech",
    "certified",
    "closing_conversation",
    "closing_declined",
    "completed",
)
