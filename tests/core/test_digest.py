"""`Projection.digest` written by orjson: the same digest as `json` gave, value for value.

The digest is stored with every record; a new text for the same projection would make every
record of an existing store look changed and send it again. The reference below is the digest
as it was computed before orjson wrote it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from listsync.adapter import ProjectedItem, Projection, TargetState


def reference_digest(projection: Projection) -> str:
    """`Projection.digest` before orjson: `json.dumps` of the fields (refs left out while
    empty), sorted keys, compact, ASCII; the pydantic route for what `json` cannot write."""
    tree: dict[str, Any] = {name: getattr(projection, name) for name in Projection.model_fields}
    if not projection.refs:
        del tree["refs"]

    def as_tree(value: Any) -> dict[str, Any]:
        if type(value) is ProjectedItem:
            return {f.name: getattr(value, f.name) for f in dataclasses.fields(ProjectedItem)}
        raise TypeError(type(value).__name__)

    try:
        text = json.dumps(
            tree, sort_keys=True, separators=(",", ":"), allow_nan=False, default=as_tree
        )
    except (TypeError, ValueError):
        dumped = projection.model_dump(
            mode="json", exclude={"refs"} if not projection.refs else None
        )
        text = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def projection(fields: dict[str, Any], **more: Any) -> Projection:
    return Projection(external_ref="L-1", fields=fields, **more)


texts = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["Välkommen", "Küche", "2-Zimmer-Wohnung", "e-mail", "\\x41", "\\U0001", "\x7f", "😀 Öl", "\\"]
)
floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, 1e-4, 9.99e-5, 1.5e-5, -3e-7, 1e16, 1.5e300, 5e-324, 0.1, 59.334591]
)
scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | floats | texts
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
items = st.builds(
    ProjectedItem,
    key=texts,
    canonical_index=st.integers(min_value=0, max_value=40),
    payload=st.dictionaries(texts, values, max_size=3),
)


@settings(max_examples=400, deadline=None)
@given(
    fields=st.dictionaries(texts, values, max_size=6),
    refs=st.dictionaries(texts, values, max_size=2),
    media=st.lists(items, max_size=3),
    sale=st.none() | st.dictionaries(texts, values, max_size=2),
    target=st.sampled_from(list(TargetState)),
)
def test_digest_is_the_json_digest(
    fields: dict[str, Any],
    refs: dict[str, Any],
    media: list[ProjectedItem],
    sale: dict[str, Any] | None,
    target: TargetState,
) -> None:
    built = projection(fields, refs=refs, media=tuple(media), sale=sale, target=target)
    assert built.digest() == reference_digest(built)


@pytest.mark.parametrize(
    "value",
    [
        "Ljus trea med balkong åt söder, 74 m² \u2013 nära tunnelbanan",
        'Küche mit Fenster; Bad: Wanne\nDusche\t"neu"',
        "å and a\\xe5: a backslash before x",
        "å and a\\u00e5: a backslash before u",
        "Storgatan 3e-4, 0.0000 kr (text that looks like a small float)",
        "emoji 😀 beyond U+FFFF",
        "del \x7f and \x00 \x1f controls",
        "\u2028\u2029",
        1.5e-5,
        -2.5e-7,
        9.999e-5,
        1e-4,
        1e16,
        -0.0,
        math.nan,
        math.inf,
        2**64,
        -(2**63) - 1,
        Decimal("1.10"),
        date(2026, 12, 6),
        {1: "integer key"},
        {"z": 1, "a": {"ö": 2, "o": 3, "😀": 4, "\uffff": 5}},
    ],
)
def test_digest_of_values_orjson_and_json_write_apart(value: Any) -> None:
    built = projection({"value": value, "text": "Välkommen"})
    assert built.digest() == reference_digest(built)


def test_digest_is_pinned() -> None:
    """The digest of one projection, as stores hold it: it never changes."""
    built = Projection(
        external_ref="L-1",
        fields={"title": "Ljus trea på Söder", "rooms": 3, "area": 74.5, "price": None},
        media=(ProjectedItem(key="m0", canonical_index=0, payload={"url": "https://x/1.jpg"}),),
        target=TargetState.PUBLISHED,
    )
    text = (
        '{"external_ref":"L-1","fields":{"area":74.5,"price":null,"rooms":3,'
        '"title":"Ljus trea p\\u00e5 S\\u00f6der"},"media":[{"canonical_index":0,"key":"m0",'
        '"payload":{"url":"https://x/1.jpg"}}],"sale":null,"showings":[],"target":"published"}'
    )
    assert built.digest() == hashlib.sha256(text.encode()).hexdigest()
    assert built.digest() == reference_digest(built)
