"""`ImmoweltAdapter.prepare` against a straightforward reference: the payload built member by
member and pruned with `_pruned` (as the mapping built it up to this test's writing), the media
items from `media_refs`/`media_id`/`media_file_name`, the issues from `check_all` on that payload,
the currency check (as it was) and the offline URL check on each `str(media.url)`.

Compared on every bundled example, every listing of the planning benchmark and hypothesis
variations: the projection (payload with its key order, media items, target, refs, sale) and
the issues (paths, messages, severities, order) must be the same.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from listsync.adapter import Prepared, Projection, TargetState, new_item, new_projection
from listsync.errors import FieldIssue, InvalidListingError
from listsync.io import bundled_examples, read_listings
from listsync.model import BrokerageFee, Listing, ListingStatus, Money, Transaction
from listsync.testing import ManualClock
from listsync_immowelt.adapter import ImmoweltAdapter, _media_issue
from listsync_immowelt.mapping import (
    _IMMOWELT_ENUM,
    _SALUTATIONS,
    COUNTRY_ALPHA3,
    DISTRIBUTION_TYPE,
    ESTATE_TYPE,
    SUBTYPE_KEY,
    media_file_name,
    media_refs,
    project,
)
from listsync_immowelt.rules import check_all
from listsync_immowelt.sandbox import ImmoweltSandbox
from listsync_immowelt.settings import PORTAL

from .conftest import build_adapter, make_listing


# -- the reference -----------------------------------------------------------------------------
def _num(value: Decimal | int | float) -> int | float:
    """JSON number for the payload: integral values as int, others as float."""
    if type(value) is int:
        return value
    # A Decimal's str() round-trips exactly, so only other types need it.
    dec = value if type(value) is Decimal else Decimal(str(value))
    return int(dec) if dec == dec.to_integral_value() else float(dec)


def _amount(money: Money | None) -> dict[str, Any] | None:
    return None if money is None else {"amount": _num(money.amount)}


_CONTAINERS = (dict, list)


def _pruned(members: dict[str, Any]) -> dict[str, Any]:
    """`members` without None values and empty objects: the payload leaves them out.

    The payload is built bottom-up, each object pruned as it is built, so an object that
    prunes to nothing is left out of its parent in turn.
    """
    return {
        key: value
        for key, value in members.items()
        if value is not None and (value or type(value) not in _CONTAINERS)
    }


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _distribution_sub_type(listing: Listing) -> str:
    if listing.transaction is Transaction.AUCTION_COMPULSORY:
        return "COMPULSORY_AUCTION"
    if listing.is_new_construction:
        return "NEW_BUILD_UNIT"
    return "CLASSIC" if listing.transaction is Transaction.RENT else "RESALE"


def _classification(listing: Listing) -> dict[str, Any]:
    estate_type = ESTATE_TYPE[listing.category]
    out: dict[str, Any] = {
        "estateType": estate_type,
        "distributionType": DISTRIBUTION_TYPE[listing.transaction],
        "distributionSubType": _distribution_sub_type(listing),
    }
    sub = listing.subcategory
    if sub and _IMMOWELT_ENUM.match(sub):
        out["estateSubTypes"] = {SUBTYPE_KEY[estate_type]: sub}
    return out


def _location(listing: Listing) -> dict[str, Any]:
    a = listing.address
    geo = listing.coordinates
    location = {
        "postalcode": a.postal_code,
        "city": a.city,
        "street": a.street,
        "houseNumber": a.house_number or "",
        "unit": a.apartment_number,
        "state": a.region,
        "country": COUNTRY_ALPHA3[a.country],
        "floorNumber": listing.floor,
        "showAddress": a.show_full_address,
        "geometry": None if geo is None else {"type": "Point", "coordinates": [geo.lon, geo.lat]},
    }
    return _pruned(location)


def _prices(listing: Listing) -> dict[str, Any]:
    rent = listing.rent
    fee = listing.brokerage_fee
    auction = listing.auction
    prices = {
        "buy": _amount(listing.asking_price)
        if listing.transaction is not Transaction.RENT
        else None,
        "baseRent": _amount(rent.base) if rent else None,
        "totalRent": _amount(rent.total) if rent else None,
        "additionalCosts": _amount(rent.service_charges) if rent else None,
        "heatingCosts": _amount(rent.heating) if rent else None,
        "deposit": _amount(rent.deposit) if rent else None,
        "houseMoney": _amount(listing.monthly_fee),
        "minimumBid": _amount(auction.minimum_bid) if auction else None,
        "overbidSessionStartingPrice": _amount(auction.starting_price) if auction else None,
        "priceInformation": "PRICE_ON_DEMAND" if listing.price_on_request else None,
        "brokerageFee": None if fee is None else _brokerage_fee(fee),
    }
    return _pruned(prices)


def _brokerage_fee(fee: BrokerageFee) -> dict[str, Any]:
    terms = {
        "hasFee": fee.has_fee,
        "amount": None if fee.amount is None else _num(fee.amount.amount),
        "percentage": None if fee.percent is None else _num(fee.percent),
        "priceNote": fee.note,
    }
    return _pruned(terms)


def _opt(value: Decimal | int | None) -> int | float | None:
    return None if value is None else _num(value)


def _spaces_structure(listing: Listing) -> dict[str, Any]:
    spaces = {
        "spaceMeasureUnit": "SQUARE_METER",
        "residential": _pruned({"livingSpace": _opt(listing.living_area)}),
        "plotSpace": _opt(listing.plot_area),
        "additionalSpace": _opt(listing.supplemental_area),
        "usableFloorSpace": _opt(listing.usable_area),
    }
    rooms = {
        "numberOfRooms": _opt(listing.rooms),
        "numberOfBedRooms": listing.bedrooms,
        "numberOfBathRooms": listing.bathrooms,
    }
    structure = {
        "rooms": _pruned(rooms),
        "building": _pruned({"numberOfFloors": listing.floors_in_building}),
    }
    return {"spaces": _pruned(spaces), "structure": _pruned(structure)}


def _texts(listing: Listing) -> dict[str, Any]:
    texts = {
        "headline": dict(listing.headline or listing.tagline) or None,
        "description": dict(listing.description) or None,
    }
    return _pruned(texts)


def _contact(listing: Listing) -> dict[str, Any]:
    agent = listing.agent
    if agent is None:
        return _pruned({"emailAddress": listing.agency.email, "phoneNumber": listing.agency.phone})
    salutation = agent.salutation if agent.salutation in _SALUTATIONS else None
    contact = {
        "salutation": salutation,
        "firstName": agent.first_name,
        "lastName": agent.last_name,
        "emailAddress": agent.email,
        "phoneNumber": agent.phone or listing.agency.phone,
        "mobilePhoneNumber": agent.mobile,
    }
    return _pruned(contact)


def reference_payload(
    listing: Listing,
    software_name: str,
    external_customer_id: str,
    references: list[dict[str, Any]],
) -> dict[str, Any]:
    """`to_immowelt_payload` given the payload's `media` (a fresh list)."""
    available = listing.available_from
    data = {
        **_classification(listing),
        "location": _location(listing),
        "prices": _prices(listing),
        **_spaces_structure(listing),
        "management": _pruned({"availableFrom": available.isoformat() if available else None}),
        "conditions": _pruned(
            {
                "yearOfConstruction": listing.construction_year,
                "lastModernisation": listing.renovation_year,
            }
        ),
        "texts": _texts(listing),
    }
    source = {
        "externalId": listing.external_ref,
        "offererEstateId": listing.external_ref,
        "offererMarketingKey": listing.marketing_key or listing.external_ref,
        "softwareName": software_name,
        "externalCustomerId": external_customer_id,
    }
    payload: dict[str, Any] = {
        "data": _pruned(data),
        "metadata": _pruned({"source": _pruned(source)}),
        "contact": _contact(listing),
    }
    payload = _pruned(payload)
    payload["media"] = references  # last, and there even when empty
    return _deep_merge(payload, listing.extensions.get(PORTAL, {}))


def reference_currency_issues(listing: Listing) -> list[FieldIssue]:
    rent, auction, fee = listing.rent, listing.auction, listing.brokerage_fee
    money = {
        "asking_price": listing.asking_price,
        "monthly_fee": listing.monthly_fee,
        "rent.base": rent.base if rent else None,
        "rent.total": rent.total if rent else None,
        "rent.service_charges": rent.service_charges if rent else None,
        "rent.heating": rent.heating if rent else None,
        "rent.deposit": rent.deposit if rent else None,
        "auction.minimum_bid": auction.minimum_bid if auction else None,
        "auction.starting_price": auction.starting_price if auction else None,
        "brokerage_fee.amount": fee.amount if fee else None,
    }
    return [
        FieldIssue(
            path=f"{path}.currency",
            message=f"Immowelt takes amounts in EUR, not {m.currency}",
            portal=PORTAL,
            rule="currency",
        )
        for path, m in money.items()
        if m is not None and m.currency != "EUR"
    ]


def reference_projection(listing: Listing, software_name: str, customer_id: str) -> Projection:
    refs = media_refs(listing)
    references = [{"externalMediaId": ref, "position": i} for i, (_, ref) in enumerate(refs, 1)]
    payload = reference_payload(listing, software_name, customer_id, references)
    items = tuple(
        new_item(ref, i, {"externalMediaId": ref, "fileName": media_file_name(url), "url": url})
        for i, (url, ref) in enumerate(refs)
    )
    published = listing.status in (ListingStatus.FOR_SALE, ListingStatus.COMING_SOON)
    target = TargetState.PUBLISHED if published else TargetState.ABSENT
    return new_projection(listing.external_ref, payload, media=items, target=target)


def reference_prepare(adapter: ImmoweltAdapter, listing: Listing) -> Prepared:
    projection = reference_projection(
        listing, adapter.settings.software_name, adapter.account.external_customer_id
    )
    issues = check_all(projection.fields, listing) + reference_currency_issues(listing)
    if adapter.settings.media_mirror is None:
        for index, media in enumerate(listing.media):
            reason = adapter.media_policy.offline_refusal(str(media.url))
            if reason is not None:
                issues.append(_media_issue(index, reason))
    return Prepared.of(issues, projection)


def assert_same(adapter: ImmoweltAdapter, listing: Listing) -> None:
    got, expected = adapter.prepare(listing), reference_prepare(adapter, listing)
    assert got.issues == expected.issues
    assert [i.severity for i in got.issues] == [i.severity for i in expected.issues]
    mine = adapter.prepare(listing)  # the projection even when an issue blocks the listing
    ref = reference_projection(
        listing, adapter.settings.software_name, adapter.account.external_customer_id
    )
    if mine.projection is not None:
        assert mine.projection == ref
        assert json.dumps(mine.projection.fields) == json.dumps(ref.fields)  # key order too
        assert mine.projection.media == ref.media
        assert (mine.projection.target, mine.projection.refs, mine.projection.sale) == (
            ref.target,
            ref.refs,
            ref.sale,
        )
    else:
        assert expected.projection is None


@pytest.fixture(scope="module")
def immowelt() -> Iterator[ImmoweltAdapter]:
    clock = ManualClock(start=1_800_000_000.0)
    adapter = build_adapter(ImmoweltSandbox(clock=clock), clock)
    yield adapter
    asyncio.run(adapter.aclose())


def test_every_bundled_example(immowelt: ImmoweltAdapter) -> None:
    seen = 0
    for _, listing in read_listings(bundled_examples()):
        if isinstance(listing, Listing):
            assert_same(immowelt, listing)
            seen += 1
    assert seen > 100


def test_every_listing_of_the_planning_benchmark(
    immowelt: ImmoweltAdapter, benchmark_listings: list[Listing]
) -> None:
    """The 10,000 listings `benchmarks/plan_cpu.py` plans (clones of the examples with their
    own identifiers and media URLs); the Immowelt ones."""
    count = 0
    for listing in benchmark_listings:
        if "immowelt" in listing.portals:
            assert_same(immowelt, listing)
            count += 1
    assert count > 4_000


def test_media_ids_are_the_stored_ones() -> None:
    """`externalMediaId`s are stored in users' state: ref, "-", the URL's sha256 (16 digits)."""
    listing = make_listing(media=[{"url": "https://crm.example.com/img/a.jpg"}])
    projection = project(listing, software_name="s", external_customer_id="c")
    assert projection.media[0].key == "DE-1001-f26f5ccdd2a57415"  # as listsync 8cb9b30 stored it
    assert projection.fields["media"][0]["externalMediaId"] == projection.media[0].key


MONEY = st.sampled_from([None, "0", "1", "450000", "1234.5", "9999999999999"])
TEXTS = st.sampled_from(["Ruhig", " ", "<b>Balkon</b>", "www.example.org", "a@b.de", "x" * 4000])
HOSTS = st.sampled_from(["crm.example.com", "127.0.0.1", "localhost", "10.0.0.1", "[::1]"])


def _money(amount: str | None, currency: str = "EUR") -> dict[str, str] | None:
    return None if amount is None else {"amount": amount, "currency": currency}


@given(
    transaction=st.sampled_from(["sale", "rent", "auction_compulsory", "auction_bidding"]),
    category=st.sampled_from(["apartment", "house_detached", "retail", "plot", "other"]),
    subcategory=st.sampled_from([None, "BUNGALOW", "STORE", "602", "KIOSK"]),
    new_build=st.booleans(),
    status=st.sampled_from(["for_sale", "coming_soon", "draft", "withdrawn"]),
    price=MONEY,
    currency=st.sampled_from(["EUR", "SEK"]),
    rent=st.fixed_dictionaries({"base": MONEY, "total": MONEY, "heating": MONEY}),
    fee=st.one_of(
        st.none(),
        st.fixed_dictionaries(
            {
                "has_fee": st.booleans(),
                "percent": st.sampled_from([None, "0", "3.57", "100"]),
                "note": st.sampled_from([None, "", "zzgl. MwSt."]),
                "amount": st.sampled_from([None, _money("0"), _money("5000")]),
            }
        ),
    ),
    areas=st.fixed_dictionaries(
        {
            "living_area": st.sampled_from([None, "0", "82.5", "120"]),
            "plot_area": st.sampled_from([None, "500", "99999999"]),
            "usable_area": st.sampled_from([None, "12.25"]),
            "rooms": st.sampled_from([None, "3", "2.5"]),
            "bedrooms": st.sampled_from([None, 0, 2]),
            "floors_in_building": st.sampled_from([None, 4]),
        }
    ),
    available=st.sampled_from([None, "2026-03-01", "1899-12-31"]),
    agent=st.sampled_from(
        [
            None,
            {"first_name": "E", "last_name": "M", "email": "e@m.de", "salutation": "Dr"},
            {"last_name": "M", "email": "e@m.de", "phone": "(030) 1", "mobile": "+49 151 1"},
        ]
    ),
    headline=st.dictionaries(st.sampled_from(["de", "en"]), TEXTS, max_size=2),
    marketing_key=st.sampled_from([None, "", "OBJ-1"]),
    media=st.lists(st.tuples(HOSTS, st.sampled_from(["a.jpg", "dir/", "?q", ""])), max_size=4),
    extension=st.sampled_from(
        [None, {"data": {"management": {"availableFrom": "03.01.2026"}}}, {"contact": {}}]
    ),
)
@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_same_as_the_reference_on_variations(
    immowelt: ImmoweltAdapter,
    *,
    transaction: str,
    category: str,
    subcategory: str | None,
    new_build: bool,
    status: str,
    price: str | None,
    currency: str,
    rent: dict[str, str | None],
    fee: dict[str, Any] | None,
    areas: dict[str, Any],
    available: str | None,
    agent: dict[str, Any] | None,
    headline: dict[str, str],
    marketing_key: str | None,
    media: list[tuple[str, str]],
    extension: dict[str, Any] | None,
) -> None:
    overrides: dict[str, Any] = {
        "transaction": transaction,
        "category": category,
        "subcategory": subcategory,
        "is_new_construction": new_build,
        "status": status,
        "asking_price": _money(price, currency),
        "brokerage_fee": fee,
        "available_from": available,
        "headline": headline or None,
        "marketing_key": marketing_key,
        "media": [{"url": f"https://{host}/img/{tail}"} for host, tail in media],
        **areas,
    }
    if transaction == "rent":
        overrides["rent"] = {k: _money(v) for k, v in rent.items() if v is not None}
    if agent is not None:
        overrides["agent"] = agent
    if extension is not None:
        overrides["extensions"] = {"immowelt": extension}
    try:
        listing = make_listing(**{k: v for k, v in overrides.items() if v is not None})
    except InvalidListingError:  # a combination the model refuses (e.g. an IPv6 host)
        assume(False)
    if agent is None:
        listing = listing.model_copy(update={"agent": None})
    assert_same(immowelt, listing)
