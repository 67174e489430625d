"""The canonical `Listing`: one portal-neutral description of a property mandate."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Self

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
    model_validator,
)

from listsync.errors import FieldIssue, InvalidListingError
from listsync.model._types import (
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
    "issues_from_validation_error",
    "parse_listing",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

Ref = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,50}$")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Email = Annotated[
    str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$", max_length=320)
]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()/-]{5,30}$")]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
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
    postal_code: Annotated[str, StringConstraints(max_length=12)]
    city: ShortText
    municipality: ShortText | None = None
    region: ShortText | None = None
    show_full_address: bool = True

    @field_validator("postal_code")
    @classmethod
    def _postal_code_for_country(cls, value: str, info: ValidationInfo) -> str:
        country = info.data.get("country")
        if country is None:  # the country itself is invalid and reported on its own path
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
    model_config = _FROZEN

    energy_class: Annotated[str, StringConstraints(pattern=r"^(A\+{0,3}|[B-G])$")] | None = None
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

    @model_validator(mode="after")
    def _end_after_start(self) -> Self:
        if self.end is not None and self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class Sale(BaseModel):
    """The final sale, reported when the listing is sold."""

    model_config = _FROZEN

    price: Money
    date: dt.date
    price_public: bool = True


class Links(BaseModel):
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
    living_area: NonNegativeDecimal | None = None
    supplemental_area: NonNegativeDecimal | None = None
    plot_area: NonNegativeDecimal | None = None
    usable_area: NonNegativeDecimal | None = None
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
    sale: Sale | None = None
    links: Links | None = None
    property_designation: Annotated[str, StringConstraints(max_length=100)] | None = None
    portals: tuple[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")], ...] = ()
    extensions: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("portals")
    @classmethod
    def _unique_portals(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("each portal may be named once")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.status is ListingStatus.SOLD and self.sale is None:
            raise ValueError("a sold listing needs `sale` (price and date)")
        if self.construction_year and self.renovation_year:
            if self.renovation_year < self.construction_year:
                raise ValueError("renovation_year is before construction_year")
        return self


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
        issues.append(FieldIssue(path=_path(tuple(item["loc"])), message=message))
    return issues


def parse_listing(data: str | bytes | dict[str, Any]) -> Listing:
    """Validate JSON text or a mapping into a `Listing`.

    Raises:
        InvalidListingError: with one field issue per problem found.
    """
    try:
        if isinstance(data, dict):
            return Listing.model_validate(data)
        return Listing.model_validate_json(data)
    except ValidationError as exc:
        ref = data.get("external_ref") if isinstance(data, dict) else None
        raise InvalidListingError(
            issues_from_validation_error(exc), external_ref=ref if isinstance(ref, str) else None
        ) from None
