"""The canonical `Listing`: one portal-neutral description of a property mandate."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from listsync.errors import FieldIssue, InvalidListingError
from listsync.model._types import (
    AreaDecimal,
    Category,
    CountryCode,
    GeoPoint,
    ListingStatus,
    MediaKind,
    Money,
    NonNegativeDecimal,
    Tenure,
    Transaction,
    canonical_postal_code,
    coordinates_issue,
)

__all__ = [
    "Address",
    "Agency",
    "Agent",
    "Auction",
    "BrokerageFee",
    "Energy",
    "Links",
    "Listing",
    "LocalizedText",
    "Media",
    "Rent",
    "Sale",
    "Showing",
    "external_ref_of",
    "issues_from_validation_error",
    "parse_listing",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

_REF_PATTERN = r"^[A-Za-z0-9_-]{1,50}$"
_REF = re.compile(_REF_PATTERN)
_FIRST_LINE = re.compile(r" at line 1 column (\d+)$")  # one JSON Lines line: column only
Ref = Annotated[str, StringConstraints(pattern=_REF_PATTERN)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
_EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
_PHONE_PATTERN = r"^\+?[0-9 ()/-]{5,30}$"
_LANGUAGE_PATTERN = r"^[a-z]{2}$"
_PORTAL_PATTERN = r"^[a-z][a-z0-9_]{0,49}$"
_ENERGY_CLASS_PATTERN = r"^(A\+{0,3}|[B-H])$"
Email = Annotated[str, StringConstraints(pattern=_EMAIL_PATTERN, max_length=320)]
Phone = Annotated[str, StringConstraints(pattern=_PHONE_PATTERN)]
PortalName = Annotated[str, StringConstraints(pattern=_PORTAL_PATTERN)]
Language = Annotated[str, StringConstraints(pattern=_LANGUAGE_PATTERN)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
LocalizedText = dict[Language, LongText]
"""Text per ISO 639-1 language code, e.g. `{"sv": "...", "en": "..."}`."""


class Address(BaseModel):
    """A postal address; `postal_code` is checked against `country`'s rules."""

    model_config = _FROZEN

    country: CountryCode
    street: ShortText
    house_number: Annotated[str, StringConstraints(max_length=20)] | None = None
    apartment_number: Annotated[str, StringConstraints(max_length=20)] | None = None
    # Optional because read portals (Booli) never give one; write adapters require it in their
    # preflight rules.
    postal_code: Annotated[str, StringConstraints(max_length=12)] | None = None
    city: ShortText
    municipality: ShortText | None = None
    region: ShortText | None = None
    show_full_address: bool = True

    @field_validator("postal_code")
    @classmethod
    def _postal_code_for_country(cls, value: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("country")
        if value is None or country is None:  # an invalid country is reported on its own path
            return value
        return canonical_postal_code(country, value)


class Agency(BaseModel):
    """The broker agency holding the mandate; it selects the portal account."""

    model_config = _FROZEN

    external_ref: Ref
    name: ShortText
    email: Email | None = None
    phone: Phone | None = None
    visiting_address: Address | None = None


class Agent(BaseModel):
    """The responsible broker."""

    model_config = _FROZEN

    first_name: ShortText | None = None
    last_name: ShortText
    email: Email
    phone: Phone | None = None
    mobile: Phone | None = None
    salutation: Annotated[str, StringConstraints(max_length=10)] | None = None


class Rent(BaseModel):
    """Monthly rent figures for listings with `transaction = rent`."""

    model_config = _FROZEN

    base: Money | None = None
    total: Money | None = None
    service_charges: Money | None = None
    heating: Money | None = None
    deposit: Money | None = None


class BrokerageFee(BaseModel):
    """Buyer's commission (Immowelt rule 20)."""

    model_config = _FROZEN

    has_fee: bool
    percent: Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)] | None = None
    amount: Money | None = None
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class Auction(BaseModel):
    """Bids of a compulsory auction."""

    model_config = _FROZEN

    minimum_bid: Money
    starting_price: Money
    date: dt.date | None = None


class Energy(BaseModel):
    """Energy performance: EU class letter, consumption and certificate."""

    model_config = _FROZEN

    energy_class: Annotated[str, StringConstraints(pattern=_ENERGY_CLASS_PATTERN)] | None = None
    value_kwh_m2: NonNegativeDecimal | None = None
    certificate_type: Annotated[str, StringConstraints(max_length=40)] | None = None
    valid_until: dt.date | None = None


class Media(BaseModel):
    """One image or document; order in `Listing.media` is display order."""

    model_config = _FROZEN

    url: AnyHttpUrl
    kind: MediaKind = MediaKind.PHOTO
    caption: Annotated[str, StringConstraints(max_length=500)] | None = None


class Showing(BaseModel):
    """A viewing. Date-only viewings use midnight and `all_day`."""

    model_config = _FROZEN

    start: AwareDatetime
    end: AwareDatetime | None = None
    all_day: bool = False
    note: Annotated[str, StringConstraints(max_length=1000)] | None = None

    @field_validator("end")
    @classmethod
    def _end_after_start(
        cls, value: dt.datetime | None, info: ValidationInfo
    ) -> dt.datetime | None:
        start = info.data.get("start")
        if value is not None and start is not None and value < start:
            raise ValueError("end must not be before start")
        return value


class Sale(BaseModel):
    """The final sale, reported when the listing is sold."""

    model_config = _FROZEN

    price: Money
    date: dt.date
    price_public: bool = True


class Links(BaseModel):
    """Links for portals that show them (Hemnet `urls.*`; never inside Immowelt texts)."""

    model_config = _FROZEN

    broker_page: AnyHttpUrl | None = None
    all_images: AnyHttpUrl | None = None


class Listing(BaseModel):
    """A property mandate, described once for every portal.

    Validation raises one `InvalidListingError` (through `parse_listing`) naming every problem
    with its canonical dotted path, e.g. `address.postal_code` or `media[2].url`.
    """

    model_config = _FROZEN

    external_ref: Ref
    marketing_key: Annotated[str, StringConstraints(max_length=50)] | None = None
    agency: Agency
    agent: Agent | None = None
    transaction: Transaction = Transaction.SALE
    category: Category
    subcategory: Annotated[str, StringConstraints(max_length=60)] | None = None
    tenure: Tenure = Tenure.UNKNOWN
    status: ListingStatus = ListingStatus.FOR_SALE
    is_new_construction: bool = False
    is_foreclosure: bool = False
    address: Address
    coordinates: GeoPoint | None = None
    asking_price: Money | None = None
    price_on_request: bool = False
    rent: Rent | None = None
    monthly_fee: Money | None = None
    yearly_running_costs: Money | None = None
    brokerage_fee: BrokerageFee | None = None
    auction: Auction | None = None
    living_area: AreaDecimal | None = None
    supplemental_area: AreaDecimal | None = None
    plot_area: AreaDecimal | None = None
    usable_area: AreaDecimal | None = None
    rooms: Annotated[Decimal, Field(ge=0, le=1000, multiple_of=Decimal("0.5"))] | None = None
    bedrooms: Annotated[int, Field(ge=0, le=1000)] | None = None
    bathrooms: Annotated[int, Field(ge=0, le=1000)] | None = None
    floor: Annotated[int, Field(ge=-5, le=999)] | None = None
    floors_in_building: Annotated[int, Field(ge=0, le=999)] | None = None
    construction_year: Annotated[int, Field(ge=1000, le=2100)] | None = None
    renovation_year: Annotated[int, Field(ge=1000, le=2100)] | None = None
    available_from: dt.date | None = None
    energy: Energy | None = None
    headline: LocalizedText = Field(default_factory=dict)
    description: LocalizedText = Field(default_factory=dict)
    tagline: LocalizedText = Field(default_factory=dict)
    media: tuple[Media, ...] = ()
    showings: tuple[Showing, ...] = ()
    sale: Sale | None = Field(default=None, validate_default=True)
    links: Links | None = None
    property_designation: Annotated[str, StringConstraints(max_length=100)] | None = None
    portals: tuple[PortalName, ...] = ()
    extensions: dict[PortalName, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("portals")
    @classmethod
    def _unique_portals(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("each portal may be named once")
        return value

    # Cross-field rules are field validators on the later field (not a model validator), so
    # the issue path names the field to fix and the rule runs even when other fields fail.

    @field_validator("coordinates")
    @classmethod
    def _coordinates_in_country(
        cls, value: GeoPoint | None, info: ValidationInfo
    ) -> GeoPoint | None:
        address = info.data.get("address")
        if value is not None and address is not None:
            problem = coordinates_issue(address.country, value)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("renovation_year")
    @classmethod
    def _renovated_after_built(cls, value: int | None, info: ValidationInfo) -> int | None:
        built = info.data.get("construction_year")
        if value is not None and built is not None and value < built:
            raise ValueError(f"renovation_year {value} is before construction_year {built}")
        return value

    @field_validator("sale")
    @classmethod
    def _sold_has_sale(cls, value: Sale | None, info: ValidationInfo) -> Sale | None:
        if value is None and info.data.get("status") is ListingStatus.SOLD:
            raise ValueError("a sold listing needs `sale` (price and date)")
        return value

    @field_validator("extensions")
    @classmethod
    def _extensions_are_json(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for portal, table in value.items():
            if not _finite_json(table):
                raise ValueError(f"extensions for {portal!r} hold NaN or Infinity, not JSON")
        return value


def _finite_json(value: Any) -> bool:
    """True when `value` holds no NaN/Infinity, which JSON cannot carry."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite_json(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_finite_json(v) for v in value)
    return True


# Patterns are precise but unreadable in a CRM's form; say what is expected instead.
_PATTERN_HINTS = {
    _REF_PATTERN: "expected 1-50 characters: letters A-Z, digits, '_' or '-'",
    _EMAIL_PATTERN: "not a valid e-mail address",
    _PHONE_PATTERN: "not a valid phone number (digits, spaces, + ( ) / -; 5-30 characters)",
    _LANGUAGE_PATTERN: "language keys are ISO 639-1 codes in lower case, e.g. 'sv' or 'de'",
    _PORTAL_PATTERN: "portal names are adapter names in lower case, e.g. 'hemnet'",
    _ENERGY_CLASS_PATTERN: "energy class is A+++, A++, A+ or A to H",
}


def _path(loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic location into a canonical path: `media[2].url`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "constrained-")) or "[" in part:
            continue  # pydantic's internal validator frames, not fields
        else:
            out += f".{part}" if out else part
    return out or "<listing>"


def issues_from_validation_error(error: ValidationError) -> list[FieldIssue]:
    """Every problem of a pydantic error as canonical field issues."""
    issues = []
    for item in error.errors(include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "json_invalid":
            detail = message.removeprefix("Invalid JSON: ")
            message = "not valid JSON: " + _FIRST_LINE.sub(r" at column \1", detail)
        elif item["type"] == "string_pattern_mismatch":
            message = _PATTERN_HINTS.get(str(item.get("ctx", {}).get("pattern")), message)
        issues.append(FieldIssue(path=_path(tuple(item["loc"])), message=message))
    return issues


def parse_listing(data: str | bytes | bytearray | dict[str, Any]) -> Listing:
    """Validate JSON text or a mapping into a `Listing`.

    Raises:
        InvalidListingError: with one field issue per problem found.
    """
    try:
        if isinstance(data, str | bytes | bytearray):
            return Listing.model_validate_json(data)
        return Listing.model_validate(data)
    except ValidationError as exc:
        raise InvalidListingError(
            issues_from_validation_error(exc), external_ref=external_ref_of(data)
        ) from None


def external_ref_of(data: object) -> str | None:
    """The `external_ref` of raw input, if it has a usable one (for error messages only)."""
    if isinstance(data, str | bytes | bytearray):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError):
            return None
    ref = data.get("external_ref") if isinstance(data, dict) else None
    return ref if isinstance(ref, str) and _REF.match(ref) else None
