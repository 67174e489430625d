"""Pure mapping (canonical <-> Hemnet) and the offline preflight."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from listsync.adapter import Projection, TargetState
from listsync.errors import Severity
from listsync.model import Category, Listing, ListingStatus
from listsync_hemnet import HemnetAdapter
from listsync_hemnet.mapping import (
    from_hemnet_listing,
    hemnet_images,
    media_urls,
    showing_key,
    to_hemnet_listing,
)
from listsync_hemnet.rules import RULES, preflight

from .conftest import make_listing


def _project(adapter: HemnetAdapter, listing: Listing) -> Projection:
    prepared = adapter.prepare(listing)
    assert prepared.projection is not None, prepared.issues
    return prepared.projection


def test_listing_body_uses_hemnet_names_and_json_values() -> None:
    """The projected body is flat camelCase JSON with the documented field names."""
    body = to_hemnet_listing(make_listing())
    assert body == {
        "externalId": "obj-1001",
        "tenure": "TENANT_OWNERSHIP",
        "housingForm": 300,
        "streetAddress": "Götgatan 12",
        "postCode": "11646",
        "postalArea": "Stockholm",
        "apartmentNumber": "1102",
        "isForeclosure": False,
        "isNewConstruction": False,
        "coordinates": {"latitude": 59.3142, "longitude": 18.0726},
        "askingPrice": 4950000,
        "monthlyFee": 3120,
        "livingArea": 62.5,
        "numberOfRooms": 2.5,
        "numberOfBedrooms": 1,
        "constructionSpan": {"from": 1929, "to": 1929},
        "urls": {"brokerPage": "https://maklarhuset.example.se/obj-1001"},
        "broker": {"emailAddress": "eva@maklarhuset.example.se"},
        "description": "Ljus tvåa med balkong mot gården.",
        "tagline": "Balkong i söderläge",
    }


async def test_projection_keys_items_stably_and_targets_the_status(adapter: HemnetAdapter) -> None:
    """Images are keyed by URL with their display index, showings by start, the agency is
    a ref (never a listing field), and each status maps to its target."""
    projection = _project(adapter, make_listing())
    assert projection.refs == {
        "agency": {
            "externalId": "agency-7",
            "name": "Mäklarhuset Söder",
            "emailAddress": "info@maklarhuset.example.se",
        }
    }
    assert projection.fields == to_hemnet_listing(make_listing())
    assert [m.payload["index"] for m in projection.media] == [0, 1]
    assert projection.media[0].key == _project(adapter, make_listing()).media[0].key
    assert projection.showings[0].key == "2027-02-01T16:00:00Z"
    assert projection.showings[0].payload["description"] is None
    assert projection.target is TargetState.PUBLISHED
    video = make_listing(
        status="draft", media=[{"url": "https://v.example.se/a.mp4", "kind": "video"}]
    )
    assert _project(adapter, video).media == ()
    sale = {"price": {"amount": "10", "currency": "SEK"}, "date": "2027-03-01"}
    sold = _project(adapter, make_listing(status="sold", sale=sale))
    assert (sold.target, sold.sale) == (
        TargetState.SOLD,
        {"price": 10, "isPricePublic": True, "soldAt": "2027-03-01"},
    )
    assert _project(adapter, make_listing(status="withdrawn")).target is TargetState.UNPUBLISHED
    assert _project(adapter, make_listing(status="draft")).target is TargetState.DRAFT


def test_images_keep_their_keys_and_skip_repeats_and_other_kinds() -> None:
    """An image's key is the sha1 of its URL as stores recorded it (a new key would resend
    every image); `index` counts the images sent, `canonical_index` the listing's media; a
    repeated URL and a video are left out; `urls` must be the listing's own."""
    media = [
        {"url": "https://img.example.se/obj-1001/1.jpg"},
        {"url": "https://v.example.se/a.mp4", "kind": "video"},
        {"url": "https://img.example.se/obj-1001/1.jpg"},
        {"url": "https://img.example.se/obj-1001/plan.png", "kind": "floor_plan"},
    ]
    listing = make_listing(media=media)
    images = hemnet_images(listing)
    assert [(i.key, i.canonical_index, i.payload) for i in images] == [
        ("ae524ebea6a5ea31fb01", 0, {"url": media[0]["url"], "index": 0}),
        ("609ce3312bacf87d6dc8", 3, {"url": media[3]["url"], "index": 1}),
    ]
    assert hemnet_images(listing, media_urls(listing)) == images
    with pytest.raises(ValueError, match="media_urls"):
        hemnet_images(listing, media_urls(listing)[:2])


def test_read_back_maps_to_canonical() -> None:
    """A Hemnet body maps back to the canonical listing's fields."""
    listing = make_listing()
    body = {**to_hemnet_listing(listing), "id": "li1", "isPublished": True, "sale": None}
    back = from_hemnet_listing(
        body,
        agency=listing.agency,
        images=[
            {"url": "https://img.example.se/b.jpg", "index": 1},
            {"url": "https://img.example.se/a.jpg", "index": 0},
        ],
    )
    assert back.category is Category.APARTMENT
    assert back.subcategory == "300"
    assert back.tenure == listing.tenure
    assert back.asking_price == listing.asking_price
    assert back.address.postal_code == "116 46"
    assert back.coordinates == listing.coordinates
    assert back.status is ListingStatus.FOR_SALE
    assert [str(m.url) for m in back.media] == [
        "https://img.example.se/a.jpg",
        "https://img.example.se/b.jpg",
    ]


def test_a_complete_swedish_listing_passes_preflight() -> None:
    """The fixture listing has no errors for Hemnet."""
    assert [i for i in preflight(make_listing()) if i.severity is Severity.ERROR] == []


def test_preflight_reports_canonical_paths() -> None:
    """Non-Swedish, wrong currency, öre, bad ranges and URLs, missing publish fields."""
    listing = make_listing(
        address={"country": "DE", "street": "Weg", "postal_code": "10115", "city": "Berlin"},
        coordinates=None,
        asking_price={"amount": "100.50", "currency": "SEK"},
        monthly_fee={"amount": "300", "currency": "EUR"},
        category="farm",
        subcategory="201",
        media=[{"url": "http://192.168.1.4/a.jpg"}],
        description={},
        links={"all_images": "http://localhost/imgs"},
    )
    issues = {(i.path, i.portal_field) for i in preflight(listing) if i.severity is Severity.ERROR}
    assert issues == {
        ("address.country", None),
        ("asking_price.amount", "askingPrice"),
        ("monthly_fee.currency", "monthlyFee"),
        ("subcategory", "housingForm"),
        ("media[0].url", "url"),
        ("links.all_images", "urls.allImages"),
        ("coordinates", "coordinates"),
        ("description.sv", "description"),
    }
    assert all(i.portal == "hemnet" for i in preflight(listing))


def test_preflight_publish_requirements_depend_on_status() -> None:
    """A draft may lack images and a price; publishing needs them."""
    bare: dict[str, Any] = {"media": [], "asking_price": None}
    assert [i.path for i in preflight(make_listing(status="draft", **bare))] == []
    paths = {i.path for i in preflight(make_listing(**bare))}
    assert paths == {"asking_price", "media"}


def test_preflight_warns_about_unknown_codes_and_skipped_media() -> None:
    """An unknown code in the right series and a video are warnings, not errors."""
    listing = make_listing(
        category="farm",
        subcategory="620",
        tenure="freehold",
        media=[
            {"url": "https://img.example.se/a.jpg"},
            {"url": "https://v.example.se/a.mp4", "kind": "video"},
        ],
    )
    warnings = {i.path for i in preflight(listing) if i.severity is Severity.WARNING}
    assert warnings == {"subcategory", "media[1]"}
    assert [i for i in preflight(listing) if i.severity is Severity.ERROR] == []


@pytest.mark.parametrize(
    "start",
    [
        dt.datetime(2027, 3, 4, 18, 0, 59, 999_999, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        dt.datetime(2027, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        dt.datetime(999, 12, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2))),
        dt.datetime(5, 6, 7, 8, 9, 10, tzinfo=dt.UTC),
    ],
)
def test_showing_key_is_the_utc_start_as_keys_were_always_written(start: dt.datetime) -> None:
    """A showing's key is its start in UTC to the second, as `strftime` writes it (so keys
    stored by earlier runs still match), across a day and year change and for years < 1000."""
    assert showing_key(start) == start.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_prepare_is_one_pass_without_memory(adapter: HemnetAdapter) -> None:
    """`prepare` answers for the listing it is given alone: another listing prepared before
    does not change it, and preparing twice gives equal answers."""
    first = make_listing()
    second = make_listing(media=[{"url": "https://img.example.se/obj-2002/9.jpg"}])
    adapter.prepare(first)
    assert [m.payload["url"] for m in _project(adapter, second).media] == [
        "https://img.example.se/obj-2002/9.jpg"
    ]
    assert adapter.prepare(first) == adapter.prepare(first)


def test_an_error_blocks_the_listing_and_warnings_travel_with_the_projection(
    adapter: HemnetAdapter,
) -> None:
    """An error issue leaves no projection (the listing is blocked); warnings alone keep it."""
    blocked = adapter.prepare(make_listing(living_area=None))
    assert blocked.blocked
    assert blocked.projection is None
    assert [(i.path, i.rule) for i in blocked.issues] == [("living_area", "publish-living-area")]
    video = {"url": "https://v.example.se/a.mp4", "kind": "video"}
    warned = adapter.prepare(make_listing(media=[*listing_media(), video]))
    assert not warned.blocked
    assert [(i.path, i.rule, i.severity) for i in warned.issues] == [
        ("media[1]", "images-only", Severity.WARNING)
    ]


def listing_media() -> list[dict[str, str]]:
    return [{"url": "https://img.example.se/obj-1001/1.jpg"}]


HOSTILE: dict[str, Any] = {
    "address": {"country": "DE", "street": "Weg", "postal_code": "10115", "city": "Berlin"},
    "coordinates": None,
    "asking_price": {"amount": "100.50", "currency": "SEK"},
    "monthly_fee": {"amount": "300", "currency": "EUR"},
    "yearly_running_costs": {"amount": "99999999999", "currency": "SEK"},
    "living_area": "20000",
    "category": "farm",
    "subcategory": "201",
    "tenure": "unknown",
    "transaction": "rent",
    "media": [
        {"url": "http://192.168.1.4/a.jpg"},
        {"url": "https://v.example.se/a.mp4", "kind": "video"},
    ],
    "description": {"en": "English only"},
    "links": {"all_images": "http://localhost/imgs"},
}


@pytest.mark.parametrize(
    "overrides",
    [
        HOSTILE,
        {"address": {"country": "SE", "street": "G", "city": "Lund"}, "media": []},
        {"category": "office", "subcategory": "999", "description": {}},
        {"coordinates": {"lat": 69.15, "lon": 18.0}, "living_area": None},
        {
            "category": "farm",
            "subcategory": "620",
            "address": {
                "country": "SE",
                "street": "G",
                "postal_code": "22100",
                "city": "Lund",
                "apartment_number": "12",
            },
        },
        {"media": [{"url": f"https://img.example.se/{n}.jpg"} for n in range(101)]},
        {"category": "plot", "subcategory": "150", "coordinates": None, "asking_price": None},
    ],
)
def test_every_issue_carries_a_known_rule_id(
    adapter: HemnetAdapter, overrides: dict[str, Any]
) -> None:
    """Every issue `prepare` reports names its rule, one of `rules.RULES` (none is None)."""
    issues = adapter.prepare(make_listing(**overrides)).issues
    assert issues
    assert all(issue.rule in RULES for issue in issues), [
        (i.path, i.rule) for i in issues if i.rule not in RULES
    ]


def test_the_rule_ids_cover_every_check() -> None:
    """The hostile listing trips most rules at once; each id it reports is distinct per check."""
    found = {i.rule for i in preflight(make_listing(**HOSTILE))}
    assert found >= {
        "sweden-only",
        "sale-only",
        "housing-form-category",
        "tenure-unknown",
        "amount-sek",
        "amount-whole-kronor",
        "amount-plausible",
        "size-limit",
        "publish-coordinates",
        "public-url",
        "images-only",
        "description-swedish",
    }
