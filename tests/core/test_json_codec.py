"""Request bodies through orjson: the same bytes as `json` wrote, and the same errors.

(Answers are still read by `json`: orjson reads an integer over 64 bits as a float, which
would corrupt a portal's large numeric ids.)
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from listsync._requests import json_bytes

_FLOATS = st.floats(allow_nan=False, allow_infinity=False)
_LEAVES = st.none() | st.booleans() | st.integers() | _FLOATS | st.text()
_TREES = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(), inner, max_size=4)
    ),
    max_leaves=25,
)


def _old_body(value: Any) -> bytes:
    """What `json_bytes` wrote before orjson."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


def _outcome(write: Any, value: Any) -> bytes | type[BaseException]:
    try:
        result: bytes = write(value)
    except (TypeError, ValueError) as exc:
        return type(exc)
    return result


def _has_small_float(value: Any) -> bool:
    if isinstance(value, float):
        return value != 0 and abs(value) < 1e-4
    if isinstance(value, dict):
        return any(_has_small_float(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_small_float(v) for v in value)
    return False


@settings(max_examples=400)
@given(_TREES)
def test_body_is_the_same_json(value: Any) -> None:
    """The same bytes as before, except floats under 1e-4 (written in another notation):
    then the same value when read back."""
    old, new = _outcome(_old_body, value), _outcome(json_bytes, value)
    if isinstance(old, bytes) and isinstance(new, bytes) and _has_small_float(value):
        assert json.loads(new) == json.loads(old)
    else:
        assert new == old


@pytest.mark.parametrize(
    "value",
    [
        {"price": math.nan},
        [1, [2, {"x": math.inf}]],
        {"a": -math.inf},
        ({"nested": (math.nan,)},),
    ],
)
def test_nan_and_infinity_are_refused(value: Any) -> None:
    """orjson would write `null`; the body is refused as `json` refused it."""
    with pytest.raises(ValueError, match="not JSON compliant"):
        json_bytes(value)


@pytest.mark.parametrize(
    "value",
    [
        {1: "integer key"},
        {"big": 2**70},
        {"negative big": -(2**64)},
        {"ok": None, "null": [None]},
        "\u2028 line separator and é",
    ],
)
def test_what_orjson_cannot_write_goes_through_json(value: Any) -> None:
    assert json_bytes(value) == _old_body(value)


def test_a_type_neither_writes_is_refused_as_before() -> None:
    with pytest.raises(TypeError):
        json_bytes({"when": object()})
