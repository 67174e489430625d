"""Canonical listing <-> Immowelt import payload, and portal JSON pointer <-> canonical path.

Speaks the Immowelt (AVIV) listing import API v1, as Immowelt's listing import API document
describes its request body. Pure functions, no I/O.

Payload shape (`additionalProperties=false` on the portal side):
`{"data": {...}, "metadata": {"source": {...}}, "contact": {...}, "media": [...]}`.
Where the docs leave a name open it is marked *inferred* below: the buy price sits at
`data.prices.buy.amount`, the brokerage fee at `data.prices.brokerageFee`, media references are
`{"externalMediaId", "position"}`. `data.estateSubTypes` is an object keyed by the estate type,
as in the document's own error example (`/data/estateSubTypes/trading`).

Portal-only fields come from the listing's `extensions["immowelt"]`, a fragment of the payload
deep-merged over the mapped one (extension values win). Issues on such fields point at
`extensions.immowelt.<path>`.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from listsync.adapter import ProjectedItem, Projection, TargetState, new_item, new_projection
from listsync.model import (
    BrokerageFee,
    Category,
    Listing,
    ListingStatus,
    Rent,
    Transaction,
    media_url_texts,
)
from listsync_immowelt.settings import PORTAL

__all__ = [
    "COUNTRY_ALPHA3",
    "DISTRIBUTION_TYPE",
    "ESTATE_TYPE",
    "SUBTYPE_KEY",
    "canonical_path",
    "from_immowelt_payload",
    "media_file_name",
    "media_id",
    "media_refs",
    "parse_pointer",
    "project",
    "project_with_urls",
    "to_immowelt_payload",
]

ESTATE_TYPE: Mapping[Category, str] = {
    Category.HOUSE_DETACHED: "HOUSE",
    Category.HOUSE_SEMI_DETACHED: "HOUSE",
    Category.HOUSE_TERRACED: "HOUSE",
    Category.HOUSE_LINKED: "HOUSE",
    Category.VACATION_HOME: "HOUSE",
    Category.APARTMENT: "APARTMENT",
    Category.PLOT: "PLOT",
    Category.FARM: "AGRICULTURE_FORESTRY",
    Category.OFFICE: "OFFICE",
    Category.RETAIL: "TRADING",
    Category.GASTRONOMY_HOTEL: "GASTRONOMY_HOTEL",
    Category.STORAGE_PRODUCTION: "STORAGE_PRODUCTION",
    Category.PARKING: "PARKING",
    Category.SENIOR: "SENIOR",
    Category.OTHER: "MISCELLANEOUS",
}

# The key of `data.estateSubTypes` per estate type (camelCase, as in `/estateSubTypes/trading`).
SUBTYPE_KEY: Mapping[str, str] = {
    "HOUSE": "house",
    "APARTMENT": "apartment",
    "PLOT": "plot",
    "OFFICE": "office",
    "TRADING": "trading",
    "GASTRONOMY_HOTEL": "gastronomyHotel",
    "STORAGE_PRODUCTION": "storageProduction",
    "AGRICULTURE_FORESTRY": "agricultureForestry",
    "PARKING": "parking",
    "SENIOR": "senior",
    "MISCELLANEOUS": "miscellaneous",
}

DISTRIBUTION_TYPE: Mapping[Transaction, str] = {
    Transaction.SALE: "BUY",
    Transaction.RENT: "RENT",
    Transaction.AUCTION_COMPULSORY: "COMPULSORY_AUCTION",
    Transaction.AUCTION_BIDDING: "BUY_AUCTION",
}

COUNTRY_ALPHA3: Mapping[str, str] = {
    "SE": "SWE", "DE": "DEU", "AT": "AUT", "CH": "CHE", "NO": "NOR", "DK": "DNK",
    "FI": "FIN", "FR": "FRA", "NL": "NLD", "PL": "POL", "ES": "ESP", "IT": "ITA",
}  # fmt: skip
_ALPHA2 = {v: k for k, v in COUNTRY_ALPHA3.items()}

_SALUTATIONS = frozenset(
    {"Mr", "Mrs", "Miss", "Ms", "Mx", "Sir", "Dame", "Dr", "Cllr", "Lady", "Lord"}
)
# Hemnet codes ("602") share `subcategory`; only enum-looking values are Immowelt subtypes.
_IMMOWELT_ENUM = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _num(value: Decimal | int | float) -> int | float:
    """JSON number for the payload: integral values as int, others as float."""
    if type(value) is int:
        return value
    if type(value) is Decimal:
        # `numerator / denominator` is correctly rounded, as `float(value)` is; NaN and the
        # infinities have no ratio and take the general path below.
        try:
            numerator, denominator = value.as_integer_ratio()
        except (ValueError, OverflowError):
            dec = value
        else:
            return numerator if denominator == 1 else numerator / denominator
    else:
        # A Decimal's str() round-trips exactly, so only other types need it.
        dec = Decimal(str(value))
    return int(dec) if dec == dec.to_integral_value() else float(dec)


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


_sha256 = hashlib.sha256


def media_id(external_ref: str, url: str) -> str:
    """A deterministic `externalMediaId` from the listing's ref and the media URL."""
    digest = _sha256(url.encode()).hexdigest()[:16]
    return f"{external_ref}-{digest}"


def media_file_name(url: str) -> str:
    name = url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    return name or "media"


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


# The builders below leave out None values and objects that end up empty (the payload holds
# neither): each member is added only when it has a value, in the payload's key order.


def _location(listing: Listing) -> dict[str, Any]:
    a = listing.address
    out: dict[str, Any] = {}
    if (postal_code := a.postal_code) is not None:
        out["postalcode"] = postal_code
    if (city := a.city) is not None:
        out["city"] = city
    if (street := a.street) is not None:
        out["street"] = street
    out["houseNumber"] = a.house_number or ""
    if (unit := a.apartment_number) is not None:
        out["unit"] = unit
    if (region := a.region) is not None:
        out["state"] = region
    out["country"] = COUNTRY_ALPHA3[a.country]
    if (floor := listing.floor) is not None:
        out["floorNumber"] = floor
    if (show := a.show_full_address) is not None:
        out["showAddress"] = show
    if (geo := listing.coordinates) is not None:
        out["geometry"] = {"type": "Point", "coordinates": [geo.lon, geo.lat]}
    return out


def _prices(listing: Listing) -> dict[str, Any]:
    out: dict[str, Any] = {}
    asking = listing.asking_price
    if asking is not None and listing.transaction is not Transaction.RENT:
        out["buy"] = {"amount": _num(asking.amount)}
    if rent := listing.rent:
        _add_rent(out, rent)
    if (monthly := listing.monthly_fee) is not None:
        out["houseMoney"] = {"amount": _num(monthly.amount)}
    if auction := listing.auction:
        if (bid := auction.minimum_bid) is not None:
            out["minimumBid"] = {"amount": _num(bid.amount)}
        if (start := auction.starting_price) is not None:
            out["overbidSessionStartingPrice"] = {"amount": _num(start.amount)}
    if listing.price_on_request:
        out["priceInformation"] = "PRICE_ON_DEMAND"
    if (fee := listing.brokerage_fee) is not None and (terms := _brokerage_fee(fee)):
        out["brokerageFee"] = terms
    return out


def _add_rent(out: dict[str, Any], rent: Rent) -> None:
    if (base := rent.base) is not None:
        out["baseRent"] = {"amount": _num(base.amount)}
    if (total := rent.total) is not None:
        out["totalRent"] = {"amount": _num(total.amount)}
    if (service := rent.service_charges) is not None:
        out["additionalCosts"] = {"amount": _num(service.amount)}
    if (heating := rent.heating) is not None:
        out["heatingCosts"] = {"amount": _num(heating.amount)}
    if (deposit := rent.deposit) is not None:
        out["deposit"] = {"amount": _num(deposit.amount)}


def _brokerage_fee(fee: BrokerageFee) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if (has_fee := fee.has_fee) is not None:
        out["hasFee"] = has_fee
    if (amount := fee.amount) is not None:
        out["amount"] = _num(amount.amount)
    if (percent := fee.percent) is not None:
        out["percentage"] = _num(percent)
    if (note := fee.note) is not None:
        out["priceNote"] = note
    return out


def _add_spaces_structure(data: dict[str, Any], listing: Listing) -> None:
    """`data["spaces"]` and `data["structure"]` (when it holds anything)."""
    spaces: dict[str, Any] = {"spaceMeasureUnit": "SQUARE_METER"}
    if (living := listing.living_area) is not None:
        spaces["residential"] = {"livingSpace": _num(living)}
    if (plot := listing.plot_area) is not None:
        spaces["plotSpace"] = _num(plot)
    if (supplemental := listing.supplemental_area) is not None:
        spaces["additionalSpace"] = _num(supplemental)
    if (usable := listing.usable_area) is not None:
        spaces["usableFloorSpace"] = _num(usable)
    data["spaces"] = spaces
    rooms: dict[str, Any] = {}
    if (count := listing.rooms) is not None:
        rooms["numberOfRooms"] = _num(count)
    if (bedrooms := listing.bedrooms) is not None:
        rooms["numberOfBedRooms"] = bedrooms
    if (bathrooms := listing.bathrooms) is not None:
        rooms["numberOfBathRooms"] = bathrooms
    structure: dict[str, Any] = {}
    if rooms:
        structure["rooms"] = rooms
    if (floors := listing.floors_in_building) is not None:
        structure["building"] = {"numberOfFloors": floors}
    if structure:
        data["structure"] = structure


def _contact(listing: Listing) -> dict[str, Any]:
    agent = listing.agent
    out: dict[str, Any] = {}
    if agent is None:
        agency = listing.agency
        if (email := agency.email) is not None:
            out["emailAddress"] = email
        if (phone := agency.phone) is not None:
            out["phoneNumber"] = phone
        return out
    if (salutation := agent.salutation) in _SALUTATIONS:
        out["salutation"] = salutation
    if (first_name := agent.first_name) is not None:
        out["firstName"] = first_name
    if (last_name := agent.last_name) is not None:
        out["lastName"] = last_name
    if (email := agent.email) is not None:
        out["emailAddress"] = email
    if (phone := agent.phone or listing.agency.phone) is not None:
        out["phoneNumber"] = phone
    if (mobile := agent.mobile) is not None:
        out["mobilePhoneNumber"] = mobile
    return out


def media_refs(listing: Listing) -> list[tuple[str, str]]:
    """Each media item's URL and `externalMediaId`, in order: the payload references them and
    the adapter's projection uploads them, so a caller doing both computes them once."""
    ref = listing.external_ref
    return [(url, media_id(ref, url)) for url in [str(m.url) for m in listing.media]]


def to_immowelt_payload(
    listing: Listing,
    *,
    software_name: str,
    external_customer_id: str,
    media: Sequence[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The import payload (`apiRequest`) for one listing, media referenced by id.

    Args:
        software_name: `metadata.source.softwareName` (from the adapter settings).
        external_customer_id: `metadata.source.externalCustomerId` (from the account).
        media: `media_refs(listing)`, when the caller has it already.
    """
    refs = media_refs(listing) if media is None else media
    references = [{"externalMediaId": ref, "position": i} for i, (_, ref) in enumerate(refs, 1)]
    return _payload(listing, software_name, external_customer_id, references)


def _payload(
    listing: Listing,
    software_name: str,
    external_customer_id: str,
    references: list[dict[str, Any]],
) -> dict[str, Any]:
    """`to_immowelt_payload` given the payload's `media` (a fresh list)."""
    data = _classification(listing)
    data["location"] = _location(listing)
    if prices := _prices(listing):
        data["prices"] = prices
    _add_spaces_structure(data, listing)
    if available := listing.available_from:
        data["management"] = {"availableFrom": available.isoformat()}
    conditions: dict[str, Any] = {}
    if (built := listing.construction_year) is not None:
        conditions["yearOfConstruction"] = built
    if (renovated := listing.renovation_year) is not None:
        conditions["lastModernisation"] = renovated
    if conditions:
        data["conditions"] = conditions
    texts: dict[str, Any] = {}
    if headline := listing.headline or listing.tagline:
        texts["headline"] = dict(headline)
    if description := listing.description:
        texts["description"] = dict(description)
    if texts:
        data["texts"] = texts
    ref = listing.external_ref
    # All five are non-empty strings (the model's ref, the settings' and account's values).
    source = {
        "externalId": ref,
        "offererEstateId": ref,
        "offererMarketingKey": listing.marketing_key or ref,
        "softwareName": software_name,
        "externalCustomerId": external_customer_id,
    }
    payload: dict[str, Any] = {"data": data, "metadata": {"source": source}}
    if contact := _contact(listing):
        payload["contact"] = contact
    payload["media"] = references  # last, and there even when empty
    extension = listing.extensions.get(PORTAL)
    return _deep_merge(payload, extension) if extension else payload


_PUBLISHED = frozenset({ListingStatus.FOR_SALE, ListingStatus.COMING_SOON})


def project(listing: Listing, *, software_name: str, external_customer_id: str) -> Projection:
    """Everything Immowelt should hold for `listing` (the rules are not checked here).

    `fields` is the import payload; each media item is uploaded under its `externalMediaId`
    before the payload references it. for_sale / coming_soon are PUBLISHED (a created listing is
    live); draft, withdrawn and sold are ABSENT (deleted: v1 has no sold endpoint).
    """
    return project_with_urls(listing, software_name, external_customer_id)[0]


_SHA256_EMPTY = hashlib.sha256()
"""Copied for each media id (cheaper than a new hasher; the same digest)."""


def project_with_urls(
    listing: Listing, software_name: str, external_customer_id: str
) -> tuple[Projection, list[str]]:
    """`project(listing, ...)` and the media URLs as `str`, in order (what the adapter's
    `prepare` checks next: each `str()` of a URL object costs as much as its hash)."""
    # `media_refs`, `media_id` and `media_file_name` inline: one loop over the media.
    urls = media_url_texts(listing.media)
    references: list[dict[str, Any]] = []
    items: list[ProjectedItem] = []
    ref_prefix = f"{listing.external_ref}-"
    empty = _SHA256_EMPTY
    for i, url in enumerate(urls):
        hasher = empty.copy()
        hasher.update(url.encode())
        ref = ref_prefix + hasher.hexdigest()[:16]
        references.append({"externalMediaId": ref, "position": i + 1})
        # `media_file_name(url)`: `rpartition`/`partition` take the same parts as
        # `rsplit("/", 1)[-1]` and `split("?", 1)[0]`, without building lists.
        name = url.rstrip("/").rpartition("/")[2]
        if "?" in name:
            name = name.partition("?")[0]
        items.append(
            new_item(ref, i, {"externalMediaId": ref, "fileName": name or "media", "url": url})
        )
    payload = _payload(listing, software_name, external_customer_id, references)
    target = TargetState.PUBLISHED if listing.status in _PUBLISHED else TargetState.ABSENT
    projection = new_projection(listing.external_ref, payload, media=tuple(items), target=target)
    return projection, urls


# -- JSON pointer -> canonical path ------------------------------------------------------------

_STATIC_PATHS: Mapping[str, str] = {
    "/data/estateType": "category",
    "/data/distributionType": "transaction",
    "/data/distributionSubType": "transaction",
    "/data/location/postalcode": "address.postal_code",
    "/data/location/city": "address.city",
    "/data/location/street": "address.street",
    "/data/location/houseNumber": "address.house_number",
    "/data/location/unit": "address.apartment_number",
    "/data/location/state": "address.region",
    "/data/location/country": "address.country",
    "/data/location/showAddress": "address.show_full_address",
    "/data/location/geometry": "coordinates",
    "/data/location/floorNumber": "floor",
    "/data/prices/buy": "asking_price",
    "/data/prices/baseRent": "rent.base",
    "/data/prices/totalRent": "rent.total",
    "/data/prices/lease": "rent.base",
    "/data/prices/additionalCosts": "rent.service_charges",
    "/data/prices/heatingCosts": "rent.heating",
    "/data/prices/deposit": "rent.deposit",
    "/data/prices/houseMoney": "monthly_fee",
    "/data/prices/minimumBid": "auction.minimum_bid",
    "/data/prices/overbidSessionStartingPrice": "auction.starting_price",
    "/data/prices/priceInformation": "price_on_request",
    "/data/prices/brokerageFee/hasFee": "brokerage_fee.has_fee",
    "/data/prices/brokerageFee/amount": "brokerage_fee.amount",
    "/data/prices/brokerageFee/percentage": "brokerage_fee.percent",
    "/data/prices/brokerageFee/priceNote": "brokerage_fee.note",
    "/data/prices/brokerageFee": "brokerage_fee",
    "/data/spaces/residential/livingSpace": "living_area",
    "/data/spaces/plotSpace": "plot_area",
    "/data/spaces/additionalSpace": "supplemental_area",
    "/data/spaces/usableFloorSpace": "usable_area",
    "/data/structure/rooms/numberOfRooms": "rooms",
    "/data/structure/rooms/numberOfBedRooms": "bedrooms",
    "/data/structure/rooms/numberOfBathRooms": "bathrooms",
    "/data/structure/building/numberOfFloors": "floors_in_building",
    "/data/management/availableFrom": "available_from",
    "/data/conditions/yearOfConstruction": "construction_year",
    "/data/conditions/lastModernisation": "renovation_year",
    "/data/texts/description": "description",
    "/metadata/source/externalId": "external_ref",
    "/metadata/source/offererEstateId": "external_ref",
    "/metadata/source/offererMarketingKey": "marketing_key",
    "/metadata/source/externalCustomerId": "agency.external_ref",
    # Project fields exist only through extensions; point there even when they are missing.
    "/metadata/source/externalProjectId": "extensions.immowelt.metadata.source.externalProjectId",
    "/metadata/source/offererEstateGroupId": (
        "extensions.immowelt.metadata.source.offererEstateGroupId"
    ),
    "/contact/salutation": "agent.salutation",
    "/contact/firstName": "agent.first_name",
    "/contact/lastName": "agent.last_name",
    "/contact/emailAddress": "agent.email",
    "/contact/phoneNumber": "agent.phone",
    "/contact/mobilePhoneNumber": "agent.mobile",
}


def parse_pointer(pointer: str) -> list[str]:
    """RFC 6901 pointer -> its reference tokens (`/a/b~1c` -> `["a", "b/c"]`)."""
    if not pointer.startswith("/"):
        return [pointer] if pointer else []
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]


def _in_extension(parts: list[str], listing: Listing | None) -> bool:
    node: Any = listing.extensions.get(PORTAL) if listing is not None else None
    for part in parts:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return node is not None


def _dotted(parts: list[str]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _special_path(parts: list[str], listing: Listing | None) -> str | None:
    """Pointers whose canonical field depends on where the value came from."""
    if listing is not None and _in_extension(parts, listing):
        return _dotted(["extensions", PORTAL, *parts])
    if len(parts) >= 2 and parts[0] == "media" and parts[1].isdigit():
        return f"media[{parts[1]}]"
    if parts[:3] == ["data", "texts", "headline"]:
        field = "tagline" if listing is not None and not listing.headline else "headline"
        return ".".join([field, *parts[3:4]])
    if parts[:2] == ["data", "estateSubTypes"]:
        return "subcategory"
    if listing is not None and parts[:1] == ["contact"] and len(parts) > 1:
        return _contact_fallback(parts[1], listing)
    return None


def _contact_fallback(name: str, listing: Listing) -> str | None:
    agent = listing.agent
    if name == "emailAddress" and agent is None:
        return "agency.email"
    if name == "phoneNumber" and (agent is None or agent.phone is None):
        return "agency.phone"
    return None


def canonical_path(pointer: str, listing: Listing | None = None) -> str:
    """The canonical field behind a portal JSON pointer (as in `errors[].name`).

    A pointer into a value supplied by `extensions["immowelt"]` maps to that extension path;
    the contact falls back to the agency's fields when the listing's agent lacks them.
    """
    parts = parse_pointer(pointer)
    special = _special_path(parts, listing)
    if special is not None:
        return special
    for cut in range(len(parts), 0, -1):
        prefix = "/" + "/".join(parts[:cut])
        if prefix in _STATIC_PATHS:
            rest = _dotted(parts[cut:])
            sep = "" if rest.startswith("[") else "."
            return f"{_STATIC_PATHS[prefix]}{sep}{rest}" if rest else _STATIC_PATHS[prefix]
    return "<listing>"


# -- payload -> canonical (read-back) ----------------------------------------------------------

_CATEGORY_BY_TYPE = {
    "HOUSE": Category.HOUSE_DETACHED,
    **{v: k for k, v in ESTATE_TYPE.items() if v != "HOUSE"},
}
_TRANSACTION_BY_TYPE = {v: k for k, v in DISTRIBUTION_TYPE.items()}


def _money(node: Any) -> dict[str, Any] | None:
    if isinstance(node, Mapping) and node.get("amount") is not None:
        return {"amount": Decimal(str(node["amount"])), "currency": "EUR"}
    return None


def _reverse_prices(prices: Mapping[str, Any]) -> dict[str, Any]:
    rent = {
        "base": _money(prices.get("baseRent")),
        "total": _money(prices.get("totalRent")),
        "service_charges": _money(prices.get("additionalCosts")),
        "heating": _money(prices.get("heatingCosts")),
        "deposit": _money(prices.get("deposit")),
    }
    out: dict[str, Any] = {
        "asking_price": _money(prices.get("buy")),
        "monthly_fee": _money(prices.get("houseMoney")),
        "rent": rent if any(rent.values()) else None,
        "price_on_request": prices.get("priceInformation") == "PRICE_ON_DEMAND",
    }
    bid, start = _money(prices.get("minimumBid")), _money(prices.get("overbidSessionStartingPrice"))
    if bid and start:
        out["auction"] = {"minimum_bid": bid, "starting_price": start}
    return out


def from_immowelt_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical listing fields recovered from an import payload (read-back).

    Returns a dict for `parse_listing`. The portal does not hold the agency's name, so the
    agency is named after `externalCustomerId`; media come back without URLs and are omitted.
    """
    data: Mapping[str, Any] = payload.get("data", {})
    source: Mapping[str, Any] = payload.get("metadata", {}).get("source", {})
    loc: Mapping[str, Any] = data.get("location", {})
    spaces: Mapping[str, Any] = data.get("spaces", {})
    rooms: Mapping[str, Any] = data.get("structure", {}).get("rooms", {})
    texts: Mapping[str, Any] = data.get("texts", {})
    contact: Mapping[str, Any] = payload.get("contact", {})
    geometry = loc.get("geometry")
    subtypes = data.get("estateSubTypes") or {}
    out: dict[str, Any] = {
        "external_ref": source.get("offererEstateId"),
        "marketing_key": source.get("offererMarketingKey"),
        "agency": {
            "external_ref": source.get("externalCustomerId"),
            "name": source.get("externalCustomerId"),
        },
        "category": _CATEGORY_BY_TYPE.get(data.get("estateType", ""), Category.OTHER),
        "subcategory": next(iter(subtypes.values()), None),
        "transaction": _TRANSACTION_BY_TYPE.get(data.get("distributionType", ""), "sale"),
        "is_new_construction": data.get("distributionSubType") == "NEW_BUILD_UNIT",
        "status": ListingStatus.FOR_SALE,
        "address": {
            "country": _ALPHA2.get(loc.get("country", ""), loc.get("country")),
            "street": loc.get("street"),
            "house_number": loc.get("houseNumber") or None,
            "apartment_number": loc.get("unit"),
            "postal_code": loc.get("postalcode"),
            "city": loc.get("city"),
            "region": loc.get("state"),
            "show_full_address": loc.get("showAddress", True),
        },
        "coordinates": None
        if not geometry
        else {"lon": geometry["coordinates"][0], "lat": geometry["coordinates"][1]},
        **_reverse_prices(data.get("prices", {})),
        "living_area": spaces.get("residential", {}).get("livingSpace"),
        "plot_area": spaces.get("plotSpace"),
        "supplemental_area": spaces.get("additionalSpace"),
        "usable_area": spaces.get("usableFloorSpace"),
        "rooms": rooms.get("numberOfRooms"),
        "bedrooms": rooms.get("numberOfBedRooms"),
        "bathrooms": rooms.get("numberOfBathRooms"),
        "floor": loc.get("floorNumber"),
        "headline": dict(texts.get("headline", {})),
        "description": dict(texts.get("description", {})),
    }
    if contact.get("lastName") and contact.get("emailAddress"):
        out["agent"] = {
            "first_name": contact.get("firstName"),
            "last_name": contact["lastName"],
            "email": contact["emailAddress"],
            "phone": contact.get("phoneNumber"),
            "mobile": contact.get("mobilePhoneNumber"),
        }
    return {k: v for k, v in out.items() if v is not None}
