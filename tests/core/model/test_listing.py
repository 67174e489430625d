"""Validators of the canonical listing: every problem reported once, on its canonical path."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from listsync.errors import InvalidListingError
from listsync.model import (
    Category,
    Listing,
    ListingStatus,
    Tenure,
    canonical_postal_code,
    parse_listing,
)

Changed = Callable[..., dict[str, Any]]


def paths(data: Any) -> list[str]:
    """The issue paths `parse_listing` reports for `data` (which must be invalid)."""
    with pytest.raises(InvalidListingError) as info:
        parse_listing(data)
    return [issue.path for issue in info.value.issues]


def test_minimal_listing_is_valid(listing_data: dict[str, Any]) -> None:
    """The fixture listing validates, with canonical postal code and Decimal amounts."""
    listing = parse_listing(listing_data)
    assert listing.address.postal_code == "113 50"
    assert listing.asking_price is not None
    assert listing.asking_price.amount == Decimal(4_250_000)
    assert listing.status is ListingStatus.FOR_SALE


def test_listing_is_frozen(listing_data: dict[str, Any]) -> None:
    """A validated listing cannot be changed in place."""
    listing = parse_listing(listing_data)
    with pytest.raises(ValueError, match="frozen"):
        listing.rooms = Decimal(3)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("address.postal_code", "012 34", "address.postal_code"),
        ("address.postal_code", "1234", "address.postal_code"),
        ("address.country", "SWE", "address.country"),
        ("coordinates.lat", 91, "coordinates.lat"),
        ("coordinates.lon", -181, "coordinates.lon"),
        ("coordinates", {"lat": 18.06, "lon": 59.34}, "coordinates"),
        ("coordinates", {"lat": 48.1, "lon": 11.5}, "coordinates"),
        ("living_area", -1, "living_area"),
        ("plot_area", 10**9, "plot_area"),
        ("asking_price.amount", -5, "asking_price.amount"),
        ("asking_price.amount", 10**13, "asking_price.amount"),
        ("asking_price.currency", "KR", "asking_price.currency"),
        ("monthly_fee.amount", "NaN", "monthly_fee.amount"),
        ("rooms", 2.25, "rooms"),
        ("rooms", "three", "rooms"),
        ("rooms", True, "rooms"),
        ("category", "castle", "category"),
        ("tenure", "owned", "tenure"),
        ("status", "active", "status"),
        ("external_ref", "has spaces", "external_ref"),
        ("external_ref", "x" * 51, "external_ref"),
        ("media.1.url", "ftp://bilder.example.se/2.jpg", "media[1].url"),
        ("media.2.url", "bilder/3.jpg", "media[2].url"),
        ("showings.0.start", "2027-01-12T17:00:00", "showings[0].start"),
        ("showings.0.end", "2027-01-12T16:00:00+01:00", "showings[0].end"),
        ("description", {"sv": ""}, "description.sv"),
        ("description", {"svenska": "Text"}, "description.svenska"),
        ("portals", ["hemnet", "hemnet"], "portals"),
        ("portals", ["Hemnet"], "portals[0]"),
        ("renovation_year", 1900, "renovation_year"),
        ("construction_year", 99, "construction_year"),
        ("extensions", {"hemnet": {"x": float("nan")}}, "extensions"),
        ("unknown_key", 1, "unknown_key"),
    ],
)
def test_each_mistake_is_reported_on_its_canonical_path(
    changed: Changed, path: str, value: Any, expected: str
) -> None:
    """One wrong value gives exactly one issue whose path names the field to fix."""
    assert paths(changed(path, value)) == [expected]


def test_missing_required_fields_are_all_reported(listing_data: dict[str, Any]) -> None:
    """Several problems at once come back in ONE error, each with its own path."""
    del listing_data["category"]
    del listing_data["address"]["city"]
    listing_data["media"][2]["url"] = "nope"
    listing_data["rooms"] = 1.3
    assert sorted(paths(listing_data)) == ["address.city", "category", "media[2].url", "rooms"]


def test_sold_listing_needs_sale(changed: Changed) -> None:
    """`status: sold` without `sale` is reported on `sale`, even with other errors present."""
    data = changed("status", "sold")
    data["rooms"] = 0.7
    assert sorted(paths(data)) == ["rooms", "sale"]


def test_sold_listing_with_sale_is_valid(changed: Changed) -> None:
    """A sold listing carrying its sale validates."""
    data = changed("status", "sold")
    data["sale"] = {"price": {"amount": 4_400_000, "currency": "SEK"}, "date": "2026-10-01"}
    listing = parse_listing(data)
    assert listing.sale is not None
    assert listing.sale.price_public is True


def test_swapped_coordinates_get_a_hint(changed: Changed) -> None:
    """Coordinates with lat and lon swapped say so in the message."""
    with pytest.raises(InvalidListingError) as info:
        parse_listing(changed("coordinates", {"lat": 18.06, "lon": 59.34}))
    assert "swapped" in info.value.issues[0].message


@pytest.mark.parametrize(
    ("country", "raw", "canonical"),
    [
        ("SE", "11455", "114 55"),
        ("SE", " 114 55 ", "114 55"),
        ("DE", "01067", "01067"),
        ("NL", "1012 ab", "1012 AB"),
        ("PL", "00-950", "00-950"),
    ],
)
def test_postal_codes_are_canonicalised(country: str, raw: str, canonical: str) -> None:
    """Valid postal codes come back in one canonical spelling per country."""
    assert canonical_postal_code(country, raw) == canonical


@pytest.mark.parametrize(("country", "raw"), [("SE", "01234"), ("DE", "00123"), ("DE", "1011")])
def test_bad_postal_codes_are_rejected(country: str, raw: str) -> None:
    """Postal codes that cannot exist in the country are refused with a hint."""
    with pytest.raises(ValueError, match="expected"):
        canonical_postal_code(country, raw)


def test_postal_code_is_checked_against_german_rules(changed: Changed) -> None:
    """A German address takes a five-digit PLZ and no Swedish spelling."""
    data = changed(
        "address",
        {"country": "DE", "street": "Kantstraße", "postal_code": "10623", "city": "Berlin"},
    )
    data["coordinates"] = {"lat": 52.5, "lon": 13.3}
    assert parse_listing(data).address.postal_code == "10623"
    data["address"]["postal_code"] = "106 23"
    assert paths(data) == ["address.postal_code"]


def test_half_rooms_and_aware_showings_pass(changed: Changed) -> None:
    """Rooms in half steps and showings with an offset are accepted and kept exactly."""
    listing = parse_listing(changed("rooms", "4.5"))
    assert listing.rooms == Decimal("4.5")
    assert listing.showings[0].start.utcoffset() is not None


def test_every_category_tenure_and_status_is_accepted(changed: Changed) -> None:
    """Each enum member the crosswalk needs is a valid value."""
    for category in Category:
        assert parse_listing(changed("category", category.value)).category is category
    for tenure in Tenure:
        assert parse_listing(changed("tenure", tenure.value)).tenure is tenure
    for status in (s for s in ListingStatus if s is not ListingStatus.SOLD):
        assert parse_listing(changed("status", status.value)).status is status


def test_error_names_the_listing_and_every_issue(changed: Changed) -> None:
    """`str(error)` names the external_ref and lists each path with its message."""
    data = changed("rooms", 1.2)
    data["living_area"] = -3
    with pytest.raises(InvalidListingError) as info:
        parse_listing(json.dumps(data))
    text = str(info.value)
    assert "'NOR-1001'" in text
    assert "rooms: Input should be a multiple of 0.5" in text
    assert "living_area: Input should be greater than or equal to 0" in text


def test_pattern_errors_read_like_a_form_hint(changed: Changed) -> None:
    """Regex mismatches are reported in words, not as the regex."""
    data = changed("agency", {"external_ref": "se-norrmalm", "name": "N", "email": "nope"})
    with pytest.raises(InvalidListingError) as info:
        parse_listing(data)
    assert info.value.issues[0].message == "not a valid e-mail address"


def test_huge_input_is_not_echoed_back(changed: Changed) -> None:
    """A megabyte-long bad value yields a short message."""
    with pytest.raises(InvalidListingError) as info:
        parse_listing(changed("address.country", "X" * 1_000_000))
    assert len(str(info.value)) < 500


@pytest.mark.parametrize(
    "raw",
    [b"", b"[]", b"null", b'"text"', b"{", b'{"external_ref": "\\ud800"}', b"\xff\xfe", 42],
)
def test_non_objects_raise_invalid_listing(raw: Any) -> None:
    """Anything that is not a JSON object is an InvalidListingError at `<listing>`."""
    assert paths(raw)[0] == "<listing>"


def test_model_dump_round_trips(listing_data: dict[str, Any]) -> None:
    """model -> JSON -> model gives an equal listing."""
    listing = parse_listing(listing_data)
    assert Listing.model_validate_json(listing.model_dump_json()) == listing
