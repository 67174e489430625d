"""Booli search parameters, validated before anything is sent.

A search needs at least one location parameter: `q`, `center` (with `dim`), `bbox` or `areaId`.
`limit` is at most 500 (the portal's documented maximum). Filters for sold prices and dates are
only accepted on `/sold`. Unknown parameter names are refused, so a typo never widens a search.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from listsync_booli.auth import SIGNATURE_PARAMS
from listsync_booli.errors import InvalidQueryError
from listsync_booli.settings import MAX_LIMIT

__all__ = ["OBJECT_TYPES", "BooliQuery"]

OBJECT_TYPES = frozenset(
    {"villa", "lägenhet", "gård", "tomt-mark", "fritidshus", "parhus", "radhus", "kedjehus"}
)
"""The `objectType` filter's slugs (responses use display names such as `Tomt/Mark`)."""

_SOLD_ONLY = frozenset(
    {"minSoldPrice", "maxSoldPrice", "minSoldSqmPrice", "maxSoldSqmPrice", "minSoldDate",
     "maxSoldDate"}
)  # fmt: skip
_NUMBER = r"-?\d+(?:\.\d+)?"
_PAIR = re.compile(rf"^{_NUMBER},{_NUMBER}$")
_BBOX = re.compile(rf"^{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}$")
_IDS = re.compile(r"^\d+(?:,\d+)*$")

Amount = Annotated[int, Field(ge=0)]
Area = Annotated[float, Field(ge=0)]
Year = Annotated[int, Field(ge=1000, le=2100)]


def _yyyymmdd(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        dt.datetime.strptime(value, "%Y%m%d")  # noqa: DTZ007  (a date, no time zone involved)
    except ValueError:
        raise ValueError("expected a date as YYYYMMDD") from None
    return value


class BooliQuery(BaseModel):
    """The query parameters of `/listings` and `/sold` (Booli's camelCase names as aliases)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    q: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    center: str | None = None
    dim: str | None = None
    bbox: str | None = None
    area_id: str | None = Field(default=None, alias="areaId")
    min_list_price: Amount | None = Field(default=None, alias="minListPrice")
    max_list_price: Amount | None = Field(default=None, alias="maxListPrice")
    min_list_sqm_price: Amount | None = Field(default=None, alias="minListSqmPrice")
    max_list_sqm_price: Amount | None = Field(default=None, alias="maxListSqmPrice")
    min_rooms: Area | None = Field(default=None, alias="minRooms")
    max_rooms: Area | None = Field(default=None, alias="maxRooms")
    max_rent: Amount | None = Field(default=None, alias="maxRent")
    min_living_area: Area | None = Field(default=None, alias="minLivingArea")
    max_living_area: Area | None = Field(default=None, alias="maxLivingArea")
    min_plot_area: Area | None = Field(default=None, alias="minPlotArea")
    max_plot_area: Area | None = Field(default=None, alias="maxPlotArea")
    object_type: str | None = Field(default=None, alias="objectType")
    min_construction_year: Year | None = Field(default=None, alias="minConstructionYear")
    max_construction_year: Year | None = Field(default=None, alias="maxConstructionYear")
    min_published: str | None = Field(default=None, alias="minPublished")
    max_published: str | None = Field(default=None, alias="maxPublished")
    price_decrease: Annotated[int, Field(ge=1, le=1)] | None = Field(
        default=None, alias="priceDecrease"
    )
    is_new_construction: Annotated[int, Field(ge=0, le=1)] | None = Field(
        default=None, alias="isNewConstruction"
    )
    include_unset: Annotated[int, Field(ge=0, le=1)] | None = Field(
        default=None, alias="includeUnset"
    )
    min_sold_price: Amount | None = Field(default=None, alias="minSoldPrice")
    max_sold_price: Amount | None = Field(default=None, alias="maxSoldPrice")
    min_sold_sqm_price: Amount | None = Field(default=None, alias="minSoldSqmPrice")
    max_sold_sqm_price: Amount | None = Field(default=None, alias="maxSoldSqmPrice")
    min_sold_date: str | None = Field(default=None, alias="minSoldDate")
    max_sold_date: str | None = Field(default=None, alias="maxSoldDate")
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] | None = None
    offset: Annotated[int, Field(ge=0)] | None = None

    @field_validator("center", "dim")
    @classmethod
    def _pair(cls, value: str | None) -> str | None:
        if value is not None and not _PAIR.match(value):
            raise ValueError("expected two numbers separated by a comma")
        return value

    @field_validator("bbox")
    @classmethod
    def _bbox(cls, value: str | None) -> str | None:
        if value is not None and not _BBOX.match(value):
            raise ValueError("expected lat_lo,lng_lo,lat_hi,lng_hi")
        return value

    @field_validator("area_id")
    @classmethod
    def _ids(cls, value: str | None) -> str | None:
        if value is not None and not _IDS.match(value):
            raise ValueError("expected comma-separated area ids")
        return value

    @field_validator("object_type")
    @classmethod
    def _object_types(cls, value: str | None) -> str | None:
        if value is None:
            return None
        unknown = [v for v in value.lower().split(",") if v.strip() not in OBJECT_TYPES]
        if unknown:
            raise ValueError(f"unknown object type(s) {', '.join(unknown)}")
        return value.lower()

    @field_validator("min_published", "max_published", "min_sold_date", "max_sold_date")
    @classmethod
    def _dates(cls, value: str | None) -> str | None:
        return _yyyymmdd(value)

    @model_validator(mode="after")
    def _location(self) -> Self:
        if not (self.q or self.center or self.bbox or self.area_id):
            raise ValueError("a location is required: one of q, center (+dim), bbox, areaId")
        if self.dim is not None and self.center is None:
            raise ValueError("dim needs center")
        return self

    @classmethod
    def parse(cls, params: Mapping[str, str], *, sold: bool = False) -> Self:
        """Validate raw `key=value` parameters.

        Raises:
            InvalidQueryError: naming the first offending parameter.
        """
        given = dict(params)
        reserved = SIGNATURE_PARAMS & given.keys()
        if reserved:
            raise InvalidQueryError("is added by the signature", key=f"query.{min(reserved)}")
        if not sold and (_SOLD_ONLY & given.keys()):
            name = min(_SOLD_ONLY & given.keys())
            raise InvalidQueryError("is only accepted for sold objects", key=f"query.{name}")
        try:
            return cls.model_validate(given)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            loc = ".".join(str(part) for part in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            if first["type"] == "extra_forbidden":
                message = "unknown query parameter"
            raise InvalidQueryError(message, key=f"query.{loc}" if loc else "query") from None

    def to_params(self) -> dict[str, str]:
        """The parameters as Booli spells them, without `limit`/`offset` (paging sets those)."""
        data = self.model_dump(by_alias=True, exclude_none=True, exclude={"limit", "offset"})
        return {key: _text(value) for key, value in data.items()}


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
