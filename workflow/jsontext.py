"""JSON as the engine writes and reads it: through orjson, with the standard library's
``json`` for what orjson does not take.

A step turns its facts and its audit entry into JSON four times (the stored row, the stored
entry and the two digests its seal covers); orjson does each in a tenth of the time ``json``
takes. The digests must stay byte for byte what they were, or chains written before would no
longer verify: :func:`canonical` gives exactly the bytes of
``json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)``
and leaves to ``json`` the values orjson writes otherwise (numbers with a fraction, integers
beyond 64 bits, keys that are not text, objects that are written as their ``str``).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["canonical", "dumps", "loads"]

# Dates, times and dataclasses go to ``default``, which refuses them as ``json`` does.
_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    """A stored JSON column's text; refuses what ``json.dumps`` refuses."""
    try:
        return orjson.dumps(value, default=_refuse, option=_PASSTHROUGH).decode("utf-8")
    except TypeError:
        # Integer keys and integers beyond 64 bits, which json writes; the rest it refuses too.
        return json.dumps(value)


# Nineteen digits in a row may be an integer beyond 64 bits, which orjson reads as a float.
_LONG_NUMBER = re.compile(r"\d{19}")
_LONG_NUMBER_BYTES = re.compile(rb"\d{19}")


def loads(text: str | bytes) -> Any:
    """A stored JSON column's value."""
    long = _LONG_NUMBER.search(text) if isinstance(text, str) else _LONG_NUMBER_BYTES.search(text)
    if long is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # NaN, which json reads; the rest json refuses too
    return json.loads(text)


def canonical(value: Any) -> bytes:
    """The bytes a digest covers: keys sorted, no spaces, text as UTF-8, anything that is not
    JSON written as its ``str``."""
    if _orjson_writes_alike(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            pass  # keys that are not text, integers beyond 64 bits
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    ).encode("utf-8")


def _orjson_writes_alike(value: Any) -> bool:
    """Whether ``value`` holds only what orjson writes as ``json`` does: text, integers,
    booleans, null, and lists and objects of them (a float is written otherwise: 1e+16)."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is dict:
        items = value.values()
    elif kind is list or kind is tuple:
        items = value
    else:
        return False
    # Scalars are checked here, not in a call each: an audit entry is a list of thirteen.
    for item in items:
        if type(item) not in _SCALARS and not _orjson_writes_alike(item):
            return False
    return True


_SCALARS = frozenset({str, int, bool, type(None)})
