"""Mapping Booli objects to canonical listings: what Booli has, and nothing invented."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from listsync.errors import InvalidListingError
from listsync.model import Category, ListingStatus
from listsync_booli.mapping import PLACEHOLDER_AGENCY, to_listing


def booli_object(**changes: Any) -> dict[str, Any]:
    """A sold apartment shaped like Booli's v2 responses."""
    obj: dict[str, Any] = {
        "booliId": 4123456,
        "listPrice": 3950000,
        "soldPrice": 4100000,
        "soldDate": "2026-03-14",
        "published": "2026-02-01 09:30:00",
        "objectType": "Lägenhet",
        "rooms": 2.5,
        "livingArea": 61.5,
        "additionalArea": 4,
        "plotArea": None,
        "rent": 3120,
        "floor": 3,
        "apartmentNumber": "1303",
        "constructionYear": 1931,
        "isNewConstruction": 0,
        "url": "https://www.booli.se/bostad/4123456",
        "source": {"id": 1502, "name": "Mäklarhuset", "type": "Broker", "url": "https://x.se"},
        "location": {
            "address": {"streetAddress": "Vasagatan 12", "city": "Nacka"},
            "region": {"municipalityName": "Nacka", "countyName": "Stockholms län"},
            "position": {"latitude": 59.31, "longitude": 18.16, "isApproximate": True},
            "namedAreas": ["Sickla"],
        },
    }
    obj.update(changes)
    return obj


def test_sold_object_maps_every_field_booli_has() -> None:
    """A /sold object becomes a sold listing with sale, areas, fee, floor and position."""
    listing = to_listing(booli_object(), sold=True)
    assert listing.external_ref == "booli-4123456"
    assert listing.status is ListingStatus.SOLD
    assert listing.category is Category.APARTMENT
    assert listing.agency.external_ref == "booli-source-1502"
    assert listing.agency.name == "Mäklarhuset"
    assert listing.asking_price is not None
    assert listing.asking_price.amount == Decimal(3950000)
    assert listing.sale is not None
    assert (listing.sale.price.amount, listing.sale.date) == (
        Decimal(4100000),
        dt.date(2026, 3, 14),
    )
    assert listing.monthly_fee is not None
    assert listing.monthly_fee.amount == Decimal(3120)
    assert listing.monthly_fee.currency == "SEK"
    assert (listing.living_area, listing.supplemental_area) == (Decimal("61.5"), Decimal(4))
    assert listing.plot_area is None
    assert (listing.rooms, listing.floor, listing.construction_year) == (Decimal("2.5"), 3, 1931)
    assert listing.address.street == "Vasagatan 12"
    assert (listing.address.city, listing.address.municipality) == ("Nacka", "Nacka")
    assert listing.address.region == "Stockholms län"
    assert listing.address.apartment_number == "1303"
    assert listing.address.postal_code is None
    assert listing.coordinates is not None
    assert (listing.coordinates.lat, listing.coordinates.approximate) == (59.31, True)
    assert listing.links is not None
    assert str(listing.links.broker_page) == "https://www.booli.se/bostad/4123456"
    booli = listing.extensions["booli"]
    assert booli["booliId"] == 4123456
    assert booli["objectType"] == "Lägenhet"
    assert booli["published"] == "2026-02-01 09:30:00"


def test_fields_booli_lacks_stay_empty() -> None:
    """No description, media, agent, tenure, energy or postal code is made up."""
    listing = to_listing(booli_object(), sold=True)
    assert listing.description == {}
    assert listing.media == ()
    assert listing.agent is None
    assert listing.energy is None
    assert listing.tenure.value == "unknown"
    assert listing.bedrooms is None
    assert listing.yearly_running_costs is None


def test_listing_is_for_sale_without_sale() -> None:
    """From /listings, the object is for sale and sold fields are ignored."""
    listing = to_listing(booli_object(soldPrice=None, soldDate=None))
    assert listing.status is ListingStatus.FOR_SALE
    assert listing.sale is None


@pytest.mark.parametrize(
    ("object_type", "category"),
    [
        ("Villa", Category.HOUSE_DETACHED),
        ("Radhus", Category.HOUSE_TERRACED),
        ("Kedjehus", Category.HOUSE_LINKED),
        ("Parhus", Category.HOUSE_SEMI_DETACHED),
        ("Fritidshus", Category.VACATION_HOME),
        ("Gård", Category.FARM),
        ("Tomt/Mark", Category.PLOT),
        ("Lägenhet", Category.APARTMENT),
        ("Husbåt", Category.OTHER),
    ],
)
def test_object_type_maps_to_category(object_type: str, category: Category) -> None:
    """Each Booli object type has its canonical category; unknown ones are `other`."""
    listing = to_listing(booli_object(objectType=object_type))
    assert listing.category is category
    assert listing.extensions["booli"]["objectType"] == object_type


def test_missing_source_gets_the_documented_placeholder_agency() -> None:
    """Without a source the agency is the marked placeholder, never a guessed broker."""
    listing = to_listing(booli_object(source=None))
    assert listing.agency.external_ref == PLACEHOLDER_AGENCY["external_ref"]
    assert listing.extensions["booli"]["agency_placeholder"] is True


def test_values_the_model_cannot_hold_are_kept_raw() -> None:
    """Rooms off the half step and a fractional floor go to extensions, not the fields."""
    listing = to_listing(booli_object(rooms=2.3, floor=1.5, constructionYear=3000))
    assert (listing.rooms, listing.floor, listing.construction_year) == (None, None, None)
    assert listing.extensions["booli"]["unmapped"] == {
        "rooms": 2.3,
        "floor": 1.5,
        "constructionYear": 3000,
    }


def test_object_without_street_cannot_be_mapped() -> None:
    """A missing street address is reported with its canonical path."""
    obj = booli_object()
    obj["location"]["address"] = {"city": "Nacka"}
    with pytest.raises(InvalidListingError) as caught:
        to_listing(obj)
    assert caught.value.external_ref == "booli-4123456"
    assert [issue.path for issue in caught.value.issues] == ["address.street"]


def test_sold_object_without_price_cannot_be_mapped() -> None:
    """A sold object needs its sold price; without it the object is reported, not guessed."""
    with pytest.raises(InvalidListingError, match="sold listing needs"):
        to_listing(booli_object(soldPrice=None), sold=True)


def test_object_without_booli_id_cannot_be_mapped() -> None:
    """Without booliId there is no identity to derive external_ref from."""
    with pytest.raises(InvalidListingError, match="no booliId"):
        to_listing(booli_object(booliId=None))


def test_mapping_round_trips_through_json() -> None:
    """The mapped listing serialises to JSON and validates back to an equal listing."""
    listing = to_listing(booli_object(), sold=True)
    assert type(listing).model_validate_json(listing.model_dump_json()) == listing
