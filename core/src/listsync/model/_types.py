"""Value types of the canonical model: enums, money, coordinates, postal codes."""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "CURRENCIES",
    "MAX_AMOUNT",
    "MAX_AREA",
    "AreaDecimal",
    "Category",
    "CountryCode",
    "CurrencyCode",
    "GeoPoint",
    "ListingStatus",
    "MediaKind",
    "Money",
    "NonNegativeDecimal",
    "Tenure",
    "Transaction",
    "canonical_postal_code",
    "coordinates_issue",
]


class Transaction(StrEnum):
    """What is on offer."""

    SALE = "sale"
    RENT = "rent"
    AUCTION_COMPULSORY = "auction_compulsory"
    AUCTION_BIDDING = "auction_bidding"


class Category(StrEnum):
    """Portal-neutral property category.

    Covers every Hemnet housing-form series, every Immowelt estate type and every Booli object
    type (each adapter maps it to its portal's codes in its `mapping.py`).
    """

    HOUSE_DETACHED = "house_detached"
    HOUSE_SEMI_DETACHED = "house_semi_detached"
    HOUSE_TERRACED = "house_terraced"
    HOUSE_LINKED = "house_linked"
    APARTMENT = "apartment"
    VACATION_HOME = "vacation_home"
    PLOT = "plot"
    FARM = "farm"
    OFFICE = "office"
    RETAIL = "retail"
    GASTRONOMY_HOTEL = "gastronomy_hotel"
    STORAGE_PRODUCTION = "storage_production"
    PARKING = "parking"
    SENIOR = "senior"
    OTHER = "other"


class Tenure(StrEnum):
    """Form of ownership (Hemnet's `tenure`)."""

    FREEHOLD = "freehold"
    COOPERATIVE = "cooperative"
    RENTAL = "rental"
    LEASEHOLD = "leasehold"
    OTHER = "other"
    UNKNOWN = "unknown"


class ListingStatus(StrEnum):
    """Lifecycle of a mandate as the CRM sees it."""

    DRAFT = "draft"
    COMING_SOON = "coming_soon"
    FOR_SALE = "for_sale"
    SOLD = "sold"
    WITHDRAWN = "withdrawn"


class MediaKind(StrEnum):
    """What a media item shows; portals that take only photos skip the other kinds."""

    PHOTO = "photo"
    FLOOR_PLAN = "floor_plan"
    VIDEO = "video"
    DOCUMENT = "document"


# ISO 4217 codes accepted in listings; extend when a portal in a new market arrives.
CURRENCIES = frozenset(
    {"SEK", "EUR", "NOK", "DKK", "ISK", "CHF", "GBP", "PLN", "CZK", "HUF", "USD", "CAD", "AUD"}
)

# ISO 3166-1 alpha-2 codes of the markets listsync knows postal-code rules for, plus neighbours.
_POSTAL_PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    "SE": (re.compile(r"^[1-9]\d{2} ?\d{2}$"), "5 digits, e.g. 114 55"),
    "DE": (re.compile(r"^(?!00)\d{5}$"), "5 digits from 01001, e.g. 10115"),
    "AT": (re.compile(r"^\d{4}$"), "4 digits"),
    "CH": (re.compile(r"^\d{4}$"), "4 digits"),
    "NO": (re.compile(r"^\d{4}$"), "4 digits"),
    "DK": (re.compile(r"^\d{4}$"), "4 digits"),
    "FI": (re.compile(r"^\d{5}$"), "5 digits"),
    "FR": (re.compile(r"^\d{5}$"), "5 digits"),
    "NL": (re.compile(r"^\d{4} ?[A-Z]{2}$"), "4 digits and 2 letters"),
    "PL": (re.compile(r"^\d{2}-\d{3}$"), "NN-NNN"),
    "ES": (re.compile(r"^\d{5}$"), "5 digits"),
    "IT": (re.compile(r"^\d{5}$"), "5 digits"),
}
COUNTRIES = frozenset(_POSTAL_PATTERNS)


def _shown(value: str) -> str:
    """`value` for an error message, cut short so huge input never floods a report."""
    return repr(value if len(value) <= 40 else value[:37] + "...")


def _country(value: str) -> str:
    code = value.upper()
    if code not in COUNTRIES:
        known = ", ".join(sorted(COUNTRIES))
        raise ValueError(
            f"unknown country {_shown(value)}; expected an ISO 3166-1 alpha-2 code ({known})"
        )
    return code


def _currency(value: str) -> str:
    code = value.upper()
    if code not in CURRENCIES:
        known = ", ".join(sorted(CURRENCIES))
        raise ValueError(f"unknown currency {_shown(value)}; expected an ISO 4217 code ({known})")
    return code


def canonical_postal_code(country: str, value: str) -> str:
    """Check `value` against the rules of `country` and return its canonical spelling."""
    pattern, hint = _POSTAL_PATTERNS[country]
    cleaned = value.strip().upper()
    if not pattern.match(cleaned):
        raise ValueError(f"invalid postal code {_shown(value)} for {country}: expected {hint}")
    if country == "SE":
        digits = cleaned.replace(" ", "")
        return f"{digits[:3]} {digits[3:]}"
    return cleaned


CountryCode = Annotated[str, AfterValidator(_country), Field(examples=["SE", "DE"])]
CurrencyCode = Annotated[str, AfterValidator(_currency), Field(examples=["SEK", "EUR"])]
MAX_AMOUNT = 10**13
"""Exclusive upper bound of amounts (Immowelt rule 14 and IS24 use 9 999 999 999 999)."""
MAX_AREA = 10**8
"""Exclusive upper bound of areas in m² (Immowelt rule 12: below 99 999 999)."""

NonNegativeDecimal = Annotated[Decimal, Field(ge=0, lt=MAX_AMOUNT, allow_inf_nan=False)]
AreaDecimal = Annotated[Decimal, Field(ge=0, lt=MAX_AREA, allow_inf_nan=False)]


class Money(BaseModel):
    """An amount in an ISO 4217 currency."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: NonNegativeDecimal
    currency: CurrencyCode


class GeoPoint(BaseModel):
    """WGS84 coordinates in decimal degrees."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
    approximate: bool = False


# Generous (lat_min, lat_max, lon_min, lon_max) boxes around markets listsync serves; a point
# outside is almost always a typo or swapped lat/lon. Countries without a box are not checked.
_COUNTRY_BOXES: dict[str, tuple[float, float, float, float]] = {
    "SE": (55.0, 69.2, 10.5, 24.3),
    "DE": (47.2, 55.1, 5.8, 15.1),
    "AT": (46.3, 49.1, 9.5, 17.2),
    "CH": (45.8, 47.9, 5.9, 10.5),
    "DK": (54.5, 57.8, 8.0, 15.2),
    "NO": (57.9, 71.2, 4.5, 31.2),
    "FI": (59.7, 70.1, 20.5, 31.6),
    "NL": (50.7, 53.6, 3.3, 7.3),
}


def _inside(box: tuple[float, float, float, float], lat: float, lon: float) -> bool:
    return box[0] <= lat <= box[1] and box[2] <= lon <= box[3]


def coordinates_issue(country: str, point: GeoPoint) -> str | None:
    """Why `point` cannot lie in `country`, or None when it plausibly does."""
    box = _COUNTRY_BOXES.get(country)
    if box is None or _inside(box, point.lat, point.lon):
        return None
    hint = "; are lat and lon swapped?" if _inside(box, point.lon, point.lat) else ""
    return f"lat {point.lat}, lon {point.lon} lies outside {country}{hint}"
