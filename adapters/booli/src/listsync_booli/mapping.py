"""Booli objects -> canonical listings (read direction). Pure functions, no I/O.

Speaks Booli API v2 (`application/vnd.booli-v2+json`), with the field names Booli documents.

Policy for what Booli does not have:

- Fields Booli lacks (postal code, description, photos, agent, tenure, energy) stay empty.
- `agency` is required by the canonical model. It comes from `source` (`booli-source-<id>`,
  its name). When Booli gives no usable source, the agency is the fixed placeholder
  `booli-source-unknown` / `"Unknown (Booli gave no source)"`, and
  `extensions["booli"]["agency_placeholder"]` is `True`, so nobody mistakes it for data.
- Values the canonical model cannot hold (rooms not in half steps, a fractional floor, a
  construction year outside 1000-2100, a url that is not http(s)) are left out of the canonical
  field and kept verbatim under `extensions["booli"]["unmapped"]`.
- An object without `booliId`, street address or city cannot become a listing:
  `to_listing` raises `InvalidListingError` naming the canonical paths, and the adapter skips
  and reports it.
- `url` (the object's page on booli.se) goes into `links.broker_page`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from listsync.errors import FieldIssue, InvalidListingError
from listsync.model import Category, Listing, ListingStatus, parse_listing

__all__ = [
    "CATEGORIES",
    "PLACEHOLDER_AGENCY",
    "booli_id_of",
    "external_ref_for",
    "to_listing",
]

CURRENCY = "SEK"
CATEGORIES: Mapping[str, Category] = {
    "villa": Category.HOUSE_DETACHED,
    "lägenhet": Category.APARTMENT,
    "radhus": Category.HOUSE_TERRACED,
    "kedjehus": Category.HOUSE_LINKED,
    "parhus": Category.HOUSE_SEMI_DETACHED,
    "fritidshus": Category.VACATION_HOME,
    "gård": Category.FARM,
    "tomt/mark": Category.PLOT,
    "tomt-mark": Category.PLOT,
    "tomt": Category.PLOT,
    "mark": Category.PLOT,
}
"""Booli `objectType` (lower-cased) -> canonical category; anything else is `other`."""

PLACEHOLDER_AGENCY: Mapping[str, str] = {
    "external_ref": "booli-source-unknown",
    "name": "Unknown (Booli gave no source)",
}
_EXTRA_KEYS = ("published", "listPriceChangeDate", "pageviews", "isNewConstruction")


def external_ref_for(booli_id: int | str) -> str:
    """The canonical `external_ref` derived from a booliId: `booli-<id>`."""
    return f"booli-{booli_id}"


def booli_id_of(obj: Mapping[str, Any]) -> int | None:
    """The object's booliId as an int, or None when it has none."""
    value = obj.get("booliId")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _money(value: Any) -> dict[str, Any] | None:
    amount = _decimal(value)
    return None if amount is None else {"amount": amount, "currency": CURRENCY}


def _dig(obj: Mapping[str, Any], *path: str) -> Any:
    node: Any = obj
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _agency(obj: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    source = obj.get("source")
    if isinstance(source, Mapping):
        ident, name = source.get("id"), source.get("name")
        if ident is not None and isinstance(name, str) and name.strip():
            ref = f"booli-source-{ident}"
            if len(ref) <= 50 and ref.replace("-", "").replace("_", "").isalnum():
                return {"external_ref": ref, "name": name.strip()[:200]}, False
    return dict(PLACEHOLDER_AGENCY), True


def _soft_fields(obj: Mapping[str, Any], unmapped: dict[str, Any]) -> dict[str, Any]:
    """Rooms, floor and construction year, when the canonical model can hold them."""
    out: dict[str, Any] = {}
    rooms = _decimal(obj.get("rooms"))
    if rooms is not None:
        if rooms >= 0 and (rooms * 2) == (rooms * 2).to_integral_value():
            out["rooms"] = rooms
        else:
            unmapped["rooms"] = obj.get("rooms")
    floor = _decimal(obj.get("floor"))
    if floor is not None:
        if floor == floor.to_integral_value() and -5 <= floor <= 999:
            out["floor"] = int(floor)
        else:
            unmapped["floor"] = obj.get("floor")
    year = obj.get("constructionYear")
    if isinstance(year, int) and not isinstance(year, bool) and 1000 <= year <= 2100:
        out["construction_year"] = year
    elif year is not None:
        unmapped["constructionYear"] = year
    return out


def _areas(obj: Mapping[str, Any]) -> dict[str, Any]:
    names = {
        "living_area": "livingArea",
        "supplemental_area": "additionalArea",
        "plot_area": "plotArea",
    }
    out = {}
    for canonical, booli in names.items():
        value = _decimal(obj.get(booli))
        if value is not None:
            out[canonical] = value
    return out


def _address(obj: Mapping[str, Any]) -> dict[str, Any]:
    address: dict[str, Any] = {
        "country": "SE",
        "street": _dig(obj, "location", "address", "streetAddress"),
        "city": _dig(obj, "location", "address", "city"),
        "municipality": _dig(obj, "location", "region", "municipalityName") or None,
        "region": _dig(obj, "location", "region", "countyName") or None,
    }
    apartment = obj.get("apartmentNumber")
    if apartment not in (None, ""):
        address["apartment_number"] = str(apartment)
    return address


def _coordinates(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    position = _dig(obj, "location", "position")
    if not isinstance(position, Mapping):
        return None
    lat, lon = position.get("latitude"), position.get("longitude")
    if lat is None or lon is None:
        return None
    return {"lat": lat, "lon": lon, "approximate": bool(position.get("isApproximate", False))}


def _sale(obj: Mapping[str, Any], sold: bool) -> dict[str, Any] | None:
    price, date = _money(obj.get("soldPrice")), obj.get("soldDate")
    if not sold or price is None or not isinstance(date, str):
        return None
    try:
        day = dt.date.fromisoformat(date[:10])
    except ValueError:
        return None
    return {"price": price, "date": day, "price_public": True}


def _extensions(
    obj: Mapping[str, Any], booli_id: int, sold: bool, placeholder: bool, unmapped: dict[str, Any]
) -> dict[str, Any]:
    ext: dict[str, Any] = {"booliId": booli_id, "kind": "sold" if sold else "listing"}
    if obj.get("objectType") is not None:
        ext["objectType"] = obj["objectType"]
    if isinstance(obj.get("source"), Mapping):
        ext["source"] = dict(obj["source"])
    if placeholder:
        ext["agency_placeholder"] = True
    ext.update({key: obj[key] for key in _EXTRA_KEYS if obj.get(key) is not None})
    named_areas = _dig(obj, "location", "namedAreas")
    if named_areas:
        ext["namedAreas"] = list(named_areas)
    if unmapped:
        ext["unmapped"] = unmapped
    return ext


def to_listing(obj: Mapping[str, Any], *, sold: bool = False) -> Listing:
    """Map one Booli object (from `/listings` or, with `sold=True`, `/sold`) to a `Listing`.

    Raises:
        InvalidListingError: the object lacks what a canonical listing requires.
    """
    booli_id = booli_id_of(obj)
    if booli_id is None:
        issue = FieldIssue(path="external_ref", message="object has no booliId", portal="booli",
                           portal_field="booliId")  # fmt: skip
        raise InvalidListingError([issue], message="Booli object cannot be mapped")
    unmapped: dict[str, Any] = {}
    agency, placeholder = _agency(obj)
    url = obj.get("url")
    data: dict[str, Any] = {
        "external_ref": external_ref_for(booli_id),
        "agency": agency,
        "category": CATEGORIES.get(str(obj.get("objectType", "")).strip().lower(), "other"),
        "status": ListingStatus.SOLD if sold else ListingStatus.FOR_SALE,
        "is_new_construction": bool(obj.get("isNewConstruction")),
        "address": _address(obj),
        "coordinates": _coordinates(obj),
        "asking_price": _money(obj.get("listPrice")),
        "monthly_fee": _money(obj.get("rent")),
        "sale": _sale(obj, sold),
        **_areas(obj),
        **_soft_fields(obj, unmapped),
    }
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        data["links"] = {"broker_page": url}
    elif url is not None:
        unmapped["url"] = url
    data["extensions"] = {"booli": _extensions(obj, booli_id, sold, placeholder, unmapped)}
    try:
        return parse_listing(data)
    except InvalidListingError as exc:
        raise InvalidListingError(
            exc.issues,
            external_ref=data["external_ref"],
            message=f"Booli object {booli_id} cannot be mapped",
        ) from None
