"""The engine's JSON: the digests an audit chain covers stay byte for byte what ``json``
wrote, whatever a value holds, and what is stored reads back as it was written."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflow.jsontext import canonical, dumps, loads


def legacy_canonical(value: Any) -> bytes:
    """The canonical form as every chain so far was sealed."""
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    ).encode("utf-8")


# Text of every kind, control characters, quotes and backslashes included, but no lone
# surrogates, which neither form can encode.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
    | st.dates().map(lambda d: d)
    | st.datetimes(timezones=st.just(UTC))
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(TEXT, inner, max_size=4)
        | st.dictionaries(st.integers(-5, 5), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=600, deadline=None)
@given(VALUES)
def test_the_canonical_form_is_the_one_chains_were_sealed_with(value: Any) -> None:
    assert canonical(value) == legacy_canonical(value)


@dataclass
class Note:
    text: str


@pytest.mark.parametrize(
    "value",
    [
        {"at": datetime(2027, 3, 1, 9, 0, tzinfo=UTC), "on": date(2027, 3, 1)},
        {"note": Note("æøå")},
        {"amount": Decimal("1.50"), "big": 2**65, "tiny": 1e-7, "huge": 1e16},
        ["\x00\x1f\x7f\u2028\ud7ff", '"\\/'],
        {"b": 1, "a": {"d": [1, 2], "c": None}, "æ": True, "Z": False},
    ],
)
def test_values_that_orjson_writes_otherwise_are_written_as_json_writes_them(value: Any) -> None:
    assert canonical(value) == legacy_canonical(value)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=False, allow_infinity=False)
        | TEXT,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
        max_leaves=12,
    )
)
def test_a_stored_value_reads_back_as_written(value: Any) -> None:
    assert loads(dumps(value)) == value
    assert loads(dumps(value).encode("utf-8")) == value


def test_a_stored_value_refuses_what_json_refuses() -> None:
    with pytest.raises(TypeError, match="datetime is not JSON serializable"):
        dumps({"at": datetime(2027, 3, 1, tzinfo=UTC)})
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        dumps({"ids": {1, 2}})


def test_what_only_json_reads_is_read() -> None:
    assert loads('{"x": NaN}')["x"] != loads('{"x": NaN}')["x"]
    assert loads("[123456789012345678901234567890]") == [123456789012345678901234567890]
