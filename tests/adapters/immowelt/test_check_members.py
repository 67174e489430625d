"""`check_mapped`'s one pass over a mapped payload's members (`_check_members`) gives exactly
`check_all`'s issues (paths, messages, rules, order) for any values at the payload's leaves.

The payloads are those `project` builds from bundled examples, with any JSON scalar put at any
of their leaves and members added where a mapped payload's shape has room for them (project
types, a lease, a building start date, sub-type groups): so every rule's value-level function
is compared, through the pass, with its pointer-reading rule on values no listing maps to.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from listsync.io import bundled_examples, read_listings
from listsync.model import Listing
from listsync_immowelt._payload import leaves_under, marked_leaves_under
from listsync_immowelt._rule_support import texts_of
from listsync_immowelt.mapping import parse_pointer, project
from listsync_immowelt.rules import (
    _check_members,
    _mapped_texts_and_marked,
    check_all,
    check_mapped,
)


def _bases() -> list[tuple[dict[str, Any], Listing]]:
    out = []
    for _, listing in read_listings(bundled_examples()):
        if isinstance(listing, Listing) and not listing.extensions.get("immowelt"):
            fields = project(listing, software_name="s", external_customer_id="c").fields
            out.append((fields, listing))
    return out


BASES = _bases()
STRINGS = st.sampled_from(
    [
        "", " ", "x", "2026-03-01", "1899-12-31", "1900-01-01", "01.03.2026", "2026-02-30",
        "BUY", "RENT", "BUY_AUCTION", "COMPULSORY_AUCTION", "CLASSIC", "NEW_BUILD_UNIT", "EMPTY",
        "RESALE", "NEW_BUILD_PROJECT", "NEW_HOME", "APARTMENT", "HOUSE", "MIXED", "TRADING",
        "BUNGALOW", "STORE", "KIOSK", "x@y.de", "not-an-email", "+49 30 1234567", "12",
        "<b>Balkon</b>", "www.example.org", "https://example.org/a", "x" * 4000,
    ]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=10**14),
    st.floats(allow_nan=True, allow_infinity=True),
    STRINGS,
    st.text(max_size=4),
)
# Members a mapped payload does not hold but whose place its shape has (two levels at most);
# none whose key rules 4, 5 or 16 look at (such a payload has those at two pointers only).
EXTRA_POINTERS = [
    "/data/projectEstateType",
    "/data/projectEstateSubType",
    "/data/projectDistributionType",
    "/data/projectDistributionSubType",
    "/data/estateSubTypes/house",
    "/data/estateSubTypes/trading",
    "/data/estateSubTypes/apartment",
    "/data/prices/lease/amount",
    "/data/prices/minimumBid/amount",
    "/data/prices/overbidSessionStartingPrice/amount",
    "/data/prices/baseRent/amount",
    "/data/prices/brokerageFee/percentage",
    "/data/prices/brokerageFee/amount",
    "/data/prices/brokerageFee/hasFee",
    "/data/prices/brokerageFee/priceNote",
    "/data/prices/amount",
    "/data/spaces/plotSpace",
    "/data/spaces/residential/livingSpace",
    "/data/spaces/residential/spaceMeasureUnit",
    "/data/structure/rooms/numberOfRooms",
    "/data/structure/parkingLots",
    "/data/management/availableFrom",
    "/contact/emailAddress",
    "/contact/phoneNumber",
    "/contact/mobilePhoneNumber",
    "/metadata/source/softwareName",
    "/metadata/source/externalProjectId",
]


def _put(payload: dict[str, Any], pointer: str, value: Any) -> None:
    node = payload
    *parents, last = parse_pointer(pointer)
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value


def _leaf_pointers(payload: dict[str, Any]) -> list[str]:
    """The leaves the rules may read (the media list's are read by none)."""
    return [
        pointer
        for key in ("data", "metadata", "contact")
        for pointer, _ in leaves_under(payload.get(key, {}), f"/{key}")
    ]


@given(data=st.data())
@settings(max_examples=600, deadline=None)
def test_same_issues_as_check_all_for_any_leaf_values(data: st.DataObject) -> None:
    base, listing = data.draw(st.sampled_from(BASES))
    payload = copy.deepcopy(base)
    pointers = _leaf_pointers(payload)
    chosen = data.draw(st.lists(st.sampled_from(pointers + EXTRA_POINTERS), max_size=8))
    for pointer in chosen:
        _put(payload, pointer, data.draw(SCALARS))
    assert _check_members(payload, listing) == check_all(payload, listing)


def test_every_bundled_example_s_payload() -> None:
    assert len(BASES) > 100
    for fields, listing in BASES:
        assert check_mapped(fields, listing) == check_all(fields, listing)
        assert _check_members(fields, listing) == check_all(fields, listing)


def test_values_out_of_range_and_wrong_types_are_found() -> None:
    """The comparison above is not vacuous: the pass reports issues of many rules."""
    fields, listing = BASES[0]
    payload = copy.deepcopy(fields)
    _put(payload, "/data/spaces/plotSpace", -1)
    _put(payload, "/data/structure/rooms/numberOfRooms", 10**7)
    _put(payload, "/data/prices/lease/amount", "12")
    _put(payload, "/contact/emailAddress", "nope")
    _put(payload, "/metadata/source/softwareName", " ")
    _put(payload, "/data/estateSubTypes/trading", 3)
    rules = {issue.rule for issue in _check_members(payload, listing)}
    assert {"rule-02", "rule-06", "rule-10", "rule-12", "rule-13", "rule-14"} <= rules
    assert _check_members(payload, listing) == check_all(payload, listing)


KEYS = st.sampled_from(["de", "en", "headline", "validUntil", "homepageUrl", "percentage", "0"])
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)


@given(
    data=st.data(),
    texts=st.one_of(
        st.dictionaries(KEYS, st.dictionaries(KEYS, STRINGS, max_size=3), max_size=3),
        JSON,
    ),
)
@settings(max_examples=400, deadline=None)
def test_texts_of_any_shape(data: st.DataObject, texts: Any) -> None:
    """The texts walked once for rules 1 and 21 and the marked leaves (two levels of strings
    in a mapped payload; any other shape walked as `check_all` walks it)."""
    base, listing = data.draw(st.sampled_from(BASES))
    payload = copy.deepcopy(base)
    payload["data"]["texts"] = texts
    assert _mapped_texts_and_marked(payload) == (
        texts_of(payload),
        marked_leaves_under(payload["data"], "/data"),
    )
    assert _check_members(payload, listing) == check_all(payload, listing)
