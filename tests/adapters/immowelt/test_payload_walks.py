"""`marked_leaves_under`, which keeps its verdict per key and skips the scalars of lists, gives
the leaves the generic walk keeps for rules 4, 5 and 16, on any JSON an extension can hold."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from listsync_immowelt._payload import (
    _collect,
    _marked,
    marked_leaves_under,
)

KEYS = st.sampled_from(
    [
        "amount",
        "x/amount",
        "spaceMeasureUnit",
        "availableFrom",
        "buildingStartDate",
        "homepageUrl",
        "imageURL",
        "userHomepage",
        "Percentage",
        "percent",
        "livingSpace",
        "0",
        "",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=10**14),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.sampled_from(["", "2026-01-01", "https://example.org", "x"]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=25,
)


@given(JSON)
@settings(max_examples=600)
def test_marked_leaves_are_those_the_generic_walk_keeps(node: Any) -> None:
    """`marked_leaves_under` (verdicts kept per key, list scalars skipped) is the generic walk
    asking `_marked` of every leaf's last segment."""
    expected: list[tuple[str, Any]] = []
    _collect(node, "/data", expected, _marked)
    assert marked_leaves_under(node, "/data") == expected
