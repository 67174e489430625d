"""Property tests: valid listings round-trip through JSON; bad input only ever raises
InvalidListingError."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listsync.errors import FieldIssue, InvalidListingError
from listsync.model import Category, Listing, ListingStatus, Tenure, Transaction, parse_listing

from .conftest import MINIMAL

text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=40,
)
money = st.builds(
    lambda amount, currency: {"amount": str(amount), "currency": currency},
    st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False),
    st.sampled_from(["SEK", "EUR", "NOK"]),
)
aware = st.datetimes(
    min_value=dt.datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis adds the zone
    max_value=dt.datetime(2100, 1, 1),  # noqa: DTZ001 - hypothesis adds the zone
    timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=1))]),
)


@st.composite
def listings(draw: st.DrawFn) -> dict[str, Any]:
    """Valid canonical listings as mappings, covering most optional fields."""
    se = draw(st.booleans())
    status = draw(st.sampled_from(ListingStatus))
    start = draw(aware)
    data: dict[str, Any] = {
        "external_ref": draw(st.from_regex(r"[A-Za-z0-9_-]{1,50}", fullmatch=True)),
        "agency": {"external_ref": "ag-1", "name": draw(text)},
        "transaction": draw(st.sampled_from(Transaction)).value,
        "category": draw(st.sampled_from(Category)).value,
        "tenure": draw(st.sampled_from(Tenure)).value,
        "status": status.value,
        "address": {
            "country": "SE" if se else "DE",
            "street": draw(text),
            "postal_code": draw(st.from_regex(r"[1-9]\d{4}", fullmatch=True)),
            "city": draw(text),
        },
        "coordinates": {
            "lat": draw(st.floats(56, 68) if se else st.floats(48, 54)),
            "lon": draw(st.floats(12, 23) if se else st.floats(7, 14)),
        },
        "asking_price": draw(money),
        "monthly_fee": draw(st.none() | money),
        "living_area": str(draw(st.decimals(0, 10_000, places=1))),
        "rooms": str(Decimal(draw(st.integers(0, 40))) / 2),
        "bedrooms": draw(st.none() | st.integers(0, 20)),
        "floor": draw(st.none() | st.integers(-5, 999)),
        "description": draw(st.dictionaries(st.sampled_from(["sv", "de", "en"]), text, max_size=3)),
        "media": [
            {"url": f"https://img.example.com/{i}.jpg", "caption": c}
            for i, c in enumerate(draw(st.lists(text, max_size=4)))
        ],
        "showings": [
            {"start": start.isoformat(), "end": (start + dt.timedelta(hours=1)).isoformat()}
        ],
        "portals": draw(st.lists(st.sampled_from(["hemnet", "immowelt", "booli"]), unique=True)),
        "extensions": {"hemnet": {"raw": draw(st.integers() | st.text(max_size=10))}},
    }
    if status is ListingStatus.SOLD:
        data["sale"] = {"price": draw(money), "date": "2026-10-01", "price_public": False}
    return data


def _issues_or_none(raw: Any) -> tuple[FieldIssue, ...] | None:
    """None when `raw` is a valid listing, else the issues; any other exception propagates."""
    try:
        parse_listing(raw)
    except InvalidListingError as exc:
        return exc.issues
    return None


@settings(max_examples=150, deadline=None)
@given(listings())
def test_valid_listings_round_trip_through_json(data: dict[str, Any]) -> None:
    """model -> JSON text -> model is the identity, and so is model -> dict -> model."""
    listing = parse_listing(data)
    assert Listing.model_validate_json(listing.model_dump_json()) == listing
    assert parse_listing(json.loads(listing.model_dump_json())) == listing
    assert Listing.model_validate(listing.model_dump()) == listing


junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.text(min_size=5000, max_size=6000),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = sorted(Listing.model_fields)
NESTED = [
    "address.postal_code",
    "address.country",
    "coordinates.lat",
    "media",
    "showings",
    "asking_price.amount",
    "agency",
    "description",
    "rooms",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIELDS + NESTED), junk)
def test_junk_in_any_field_raises_only_invalid_listing(path: str, value: Any) -> None:
    """Whatever is put in any field, the outcome is a Listing or one InvalidListingError."""
    data = copy.deepcopy(MINIMAL)
    *parents, last = path.split(".")
    target: Any = data
    for part in parents:
        target = target[part]
    target[last] = value
    for raw in (data, json.dumps(data, allow_nan=True)):
        issues = _issues_or_none(raw)
        assert issues is None or (issues and all(issue.path for issue in issues))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_random_bytes_raise_only_invalid_listing(raw: bytes | str) -> None:
    """Arbitrary bytes or text never raise anything but InvalidListingError."""
    issues = _issues_or_none(raw)
    assert issues is None or issues
