"""State and server-side rules of the Hemnet sandbox (see sandbox.py).

Everything here is synchronous and in memory; `sandbox.py` turns it into HTTP. Rules follow the
portal's documents where they speak (errors, PATCH null, image states, approval, sale) and are
**inferred** elsewhere (value checks, which fields publishing needs): the same inferences as
rules.py, so preflight and the sandbox agree.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from listsync_hemnet._housing_forms import HemnetTenure, HousingForm
from listsync_hemnet.rules import SWEDEN_BOUNDS, check_url

__all__ = [
    "Account",
    "Image",
    "Key",
    "ListingRecord",
    "Problem",
    "publish_problems",
    "validate_listing",
    "validate_showing",
]

JSON = dict[str, Any]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_POSTCODE = re.compile(r"^[1-9]\d{4}$")
_APARTMENT = re.compile(r"^\d{4}$")


class Problem(Exception):  # noqa: N818  (a response to render, not an error of the sandbox)
    """An error answer in Hemnet's format: `{"errors": [...]}` with an HTTP status."""

    def __init__(self, status: int, errors: list[JSON], headers: dict[str, str] | None = None):
        super().__init__(errors[0]["message"] if errors else str(status))
        self.status = status
        self.errors = errors
        self.headers = headers or {}

    @classmethod
    def validation(cls, problems: list[tuple[str, str]]) -> Problem:
        return cls(
            422,
            [
                {
                    "type": "ValidationError",
                    "message": f"{name} {text}",
                    "field": name,
                    "fieldMessage": text,
                }
                for name, text in problems
            ],
        )

    @classmethod
    def transition(cls, message: str) -> Problem:
        return cls(422, [{"type": "TransitionError", "message": message}])

    @classmethod
    def generic(cls, status: int, message: str) -> Problem:
        return cls(status, [{"type": "GenericError", "message": message}])


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


def new_id(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")


@dataclass
class Key:
    id: str
    token: str
    name: str
    created_at: float
    expires_at: float
    created_by: JSON = field(default_factory=dict)
    revoked: bool = False
    last_used_at: float | None = None

    def view(self, now: float) -> JSON:
        state = "revoked" if self.revoked else "expired" if now >= self.expires_at else "active"
        return {
            "id": self.id,
            "name": self.name,
            "expiresAt": iso(self.expires_at),
            "lastUsedAt": iso(self.last_used_at),
            "createdBy": self.created_by,
            "state": state,
        }


@dataclass
class Image:
    id: str
    url: str
    index: int
    created_at: float

    def state(self, now: float, processing: float) -> tuple[str, str | None]:
        if now < self.created_at + processing:
            return "in_progress", None
        lowered = self.url.lower()
        if "unreachable" in lowered:
            return "failed", "The image could not be downloaded: the host did not answer."
        if "missing" in lowered:
            return "failed", "The image could not be downloaded: the server answered 404."
        return "completed", None


@dataclass
class ListingRecord:
    id: str
    fields: JSON
    created_at: float
    published: bool = False
    approved: bool = False
    sale: JSON | None = None
    sold_at: float | None = None
    unpublished_at: float | None = None
    images: dict[str, Image] = field(default_factory=dict)
    showings: dict[str, JSON] = field(default_factory=dict)


@dataclass
class Account:
    name: str
    keys: dict[str, Key] = field(default_factory=dict)
    agencies: dict[str, JSON] = field(default_factory=dict)
    listings: dict[str, ListingRecord] = field(default_factory=dict)

    def current_key(self) -> Key:
        usable = [k for k in self.keys.values() if not k.revoked]
        return max(usable or self.keys.values(), key=lambda k: k.created_at)


def _text(limit: int) -> Callable[[str, Any], list[tuple[str, str]]]:
    def check(name: str, value: Any) -> list[tuple[str, str]]:
        if not isinstance(value, str) or not value.strip():
            return [(name, "must be a non-empty string")]
        return [(name, f"is longer than {limit} characters")] if len(value) > limit else []

    return check


def _number(*, integer: bool, top: float) -> Callable[[str, Any], list[tuple[str, str]]]:
    def check(name: str, value: Any) -> list[tuple[str, str]]:
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            return [(name, "must be an integer" if integer else "must be a number")]
        return [] if 0 <= value <= top else [(name, f"must be between 0 and {top:g}")]

    return check


def _flag(name: str, value: Any) -> list[tuple[str, str]]:
    return [] if isinstance(value, bool) else [(name, "must be true or false")]


def _pattern(regex: re.Pattern[str], text: str) -> Callable[[str, Any], list[tuple[str, str]]]:
    def check(name: str, value: Any) -> list[tuple[str, str]]:
        return [] if isinstance(value, str) and regex.match(value) else [(name, text)]

    return check


def _tenure(name: str, value: Any) -> list[tuple[str, str]]:
    valid = {t.value for t in HemnetTenure}
    return [] if value in valid else [(name, f"must be one of {', '.join(sorted(valid))}")]


def _housing_form(name: str, value: Any) -> list[tuple[str, str]]:
    ok = isinstance(value, int) and not isinstance(value, bool)
    if ok and HousingForm(value).series is not None:
        return []
    return [(name, "is not a valid housing form")]


def _object(
    checks: dict[str, Callable[[str, Any], list[tuple[str, str]]]],
) -> Callable[[str, Any], list[tuple[str, str]]]:
    def check(name: str, value: Any) -> list[tuple[str, str]]:
        if not isinstance(value, dict):
            return [(name, "must be an object")]
        out: list[tuple[str, str]] = []
        for key, item in value.items():
            sub = f"{name}.{key}"
            if key not in checks:
                out.append((sub, "is not a known field"))
            elif item is not None:
                out += checks[key](sub, item)
        return out

    return check


def _url(name: str, value: Any) -> list[tuple[str, str]]:
    return (
        []
        if isinstance(value, str) and check_url(value) is None
        else [(name, "is not a valid URL")]
    )


def _latitude(name: str, value: Any) -> list[tuple[str, str]]:
    ok = isinstance(value, int | float) and SWEDEN_BOUNDS[0] <= value <= SWEDEN_BOUNDS[1]
    return [] if ok else [(name, "is not a latitude in Sweden")]


def _longitude(name: str, value: Any) -> list[tuple[str, str]]:
    ok = isinstance(value, int | float) and SWEDEN_BOUNDS[2] <= value <= SWEDEN_BOUNDS[3]
    return [] if ok else [(name, "is not a longitude in Sweden")]


def _year(name: str, value: Any) -> list[tuple[str, str]]:
    ok = isinstance(value, int) and not isinstance(value, bool) and 1000 <= value <= 2100
    return [] if ok else [(name, "must be a year")]


LISTING_FIELDS: dict[str, Callable[[str, Any], list[tuple[str, str]]]] = {
    "externalId": _text(50),
    "brokerAgencyId": _text(100),
    "tenure": _tenure,
    "housingForm": _housing_form,
    "streetAddress": _text(200),
    "postCode": _pattern(_POSTCODE, "must be 5 digits"),
    "postalArea": _text(200),
    "apartmentNumber": _pattern(_APARTMENT, "must be Skatteverket's 4-digit number"),
    "coordinates": _object({"latitude": _latitude, "longitude": _longitude}),
    "askingPrice": _number(integer=True, top=1e10),
    "monthlyFee": _number(integer=True, top=1e10),
    "yearlyRunningCosts": _number(integer=True, top=1e10),
    "livingArea": _number(integer=False, top=1e4),
    "supplementalArea": _number(integer=False, top=1e4),
    "landArea": _number(integer=False, top=1e8),
    "numberOfRooms": _number(integer=False, top=100),
    "numberOfBedrooms": _number(integer=True, top=100),
    "description": _text(20_000),
    "tagline": _text(200),
    "urls": _object({"brokerPage": _url, "allImages": _url}),
    "broker": _object(
        {
            "emailAddress": _pattern(_EMAIL, "is not a valid e-mail address"),
            "phoneNumber": _text(30),
        }
    ),
    "isForeclosure": _flag,
    "isNewConstruction": _flag,
    "propertyDesignation": _text(100),
    "constructionSpan": _object({"from": _year, "to": _year}),
}
REQUIRED = ("externalId", "brokerAgencyId", "tenure", "housingForm", "streetAddress", "postCode")


def validate_listing(body: Any, *, partial: bool, agencies: dict[str, JSON]) -> JSON:
    """The accepted body; raises a 422 `Problem` listing every invalid field."""
    if not isinstance(body, dict):
        raise Problem.generic(400, "The request body must be a JSON object")
    problems: list[tuple[str, str]] = []
    for name, value in body.items():
        if name not in LISTING_FIELDS:
            problems.append((name, "is not a known field"))
        elif value is None:
            if name in REQUIRED or name == "postalArea":
                problems.append((name, "cannot be unset"))
        else:
            problems += LISTING_FIELDS[name](name, value)
    agency = body.get("brokerAgencyId")
    if isinstance(agency, str) and agency not in agencies:
        problems.append(("brokerAgencyId", "does not exist"))
    if not partial:
        problems += [(n, "is required") for n in (*REQUIRED, "postalArea") if body.get(n) is None]
    if problems:
        raise Problem.validation(problems)
    return body


def publish_problems(record: ListingRecord, now: float, processing: float) -> list[tuple[str, str]]:
    """What keeps a listing from being published (the inferred requirements of rules.py)."""
    fields = record.fields
    problems = [
        (name, "is required for publishing")
        for name in ("askingPrice", "coordinates", "description")
        if fields.get(name) is None
    ]
    series = HousingForm(int(fields.get("housingForm", 900))).series
    if fields.get("livingArea") is None and series not in (500, 900):
        problems.append(("livingArea", "is required for publishing"))
    states = [image.state(now, processing)[0] for image in record.images.values()]
    if "completed" not in states:
        problems.append(("images", "at least one completed image is required to publish"))
    return problems


def _datetime(name: str, value: Any) -> list[tuple[str, str]]:
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return [(name, "is not a date-time")]
    return [] if parsed.tzinfo is not None else [(name, "needs a UTC offset")]


SHOWING_FIELDS: dict[str, Callable[[str, Any], list[tuple[str, str]]]] = {
    "startAt": _datetime,
    "endAt": _datetime,
    "isAllDay": _flag,
    "description": _text(1000),
}


def validate_showing(body: Any, *, partial: bool) -> JSON:
    """The accepted showing body (PATCH: null unsets, except `startAt`)."""
    if not isinstance(body, dict):
        raise Problem.generic(400, "The request body must be a JSON object")
    problems: list[tuple[str, str]] = []
    for name, value in body.items():
        if name not in SHOWING_FIELDS:
            problems.append((name, "is not a known field"))
        elif value is None:
            if name == "startAt":
                problems.append((name, "cannot be unset"))
        else:
            problems += SHOWING_FIELDS[name](name, value)
    if not partial and body.get("startAt") is None:
        problems.append(("startAt", "is required"))
    if problems:
        raise Problem.validation(problems)
    return body
