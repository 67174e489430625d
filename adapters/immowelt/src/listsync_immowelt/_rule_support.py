"""What the Immowelt rules share: limits, vocabularies, patterns and the helpers that turn a
finding into a `FieldIssue` (rules.py holds the 21 rules themselves)."""

from __future__ import annotations

import datetime as dt
import re
import types
from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard

from listsync.errors import FieldIssue
from listsync.model import Listing
from listsync_immowelt._payload import Leaf, Payload, leaves_under, value_at
from listsync_immowelt.mapping import canonical_path
from listsync_immowelt.settings import PORTAL

MAX_TEXT = 3999
MAX_SPACE = 99_999_999
MAX_COUNT = 999_999
MAX_PRICE = 9_999_999_999_999
EARLIEST_NEW_BUILD = dt.date(1900, 1, 1)

# Rule 6. Complete lists are enforced; for a partial list (the docs page was truncated) only a
# value documented for another estate type counts as a mismatch.
TRADING_SUBTYPES = frozenset({"STORE", "SHOWROOM_SPACE", "SHOPPING_CENTRE", "KIOSK", "SALES_AREA"})
HOUSE_SUBTYPES = frozenset(
    {
        "APARTMENT_HOUSE", "BUNGALOW", "CASTLE", "MANOR_HOUSE", "CHALET", "FARMHOUSE", "FINCA",
        "GARDEN_HOUSE", "GITE", "LIVING_AND_COMMERCIAL", "MOUNTAIN_HUT", "MULTI_FAMILY_HOUSE",
        "RESIDENTIAL_COMPLEX", "RUSTICO",
    }
)  # fmt: skip
SUBTYPES: Mapping[str, tuple[frozenset[str], bool]] = {
    "house": (HOUSE_SUBTYPES, False),
    "trading": (TRADING_SUBTYPES, True),
}

# Rule 7 (AVTS vocabulary plus S004's EMPTY); BUY_AUCTION is a buy.
_BUY = frozenset(
    {"RESALE", "NEW_BUILD_UNIT", "NEW_BUILD_PROJECT", "NEW_BUILD_INVESTMENT_PRODUCT",
     "BUSINESS_SALE_GOODWILL", "LIFE_ANNUITY", "NEW_HOME"}
)  # fmt: skip
DISTRIBUTION_SUBTYPES: Mapping[str, frozenset[str]] = {
    "BUY": _BUY,
    "BUY_AUCTION": _BUY,
    "RENT": frozenset(
        {
            "CLASSIC",
            "NEW_BUILD_UNIT",
            "EMPTY",
            "NEW_BUILD_PROJECT",
            "NEW_BUILD_INVESTMENT_PRODUCT",
            "BUSINESS",
            "BUSINESS_LEASEBACK",
            "TEMPORARY",
            "VACATION",
        }
    ),
    "COMPULSORY_AUCTION": frozenset({"COMPULSORY_AUCTION"}),
}
NEW_BUILD = frozenset(
    {"NEW_BUILD_UNIT", "NEW_BUILD_PROJECT", "NEW_BUILD_INVESTMENT_PRODUCT", "NEW_HOME"}
)

# Rules 8 and 9: the types are documented (AVD), the sub-type lists were not retrieved (inferred).
PROJECT_ESTATE: Mapping[str, frozenset[str]] = {
    "NEW_BUILD_PROJECT": frozenset({"APARTMENT", "HOUSE", "MIXED"}),
    "NEW_HOME_PROJECT": frozenset({"HOUSE"}),
}
PROJECT_DISTRIBUTION: Mapping[str, frozenset[str]] = {
    "BUY": frozenset({"NEW_BUILD_PROJECT", "NEW_HOME"}),
    "RENT": frozenset({"NEW_BUILD_PROJECT"}),
    "BUY_RENT": frozenset({"NEW_BUILD_PROJECT", "NEW_HOME"}),
}

EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}$"
)
# The document's regex /^+?\d{1,3}[- ]?\d{1,4}[- ]?\d{4,10}$/, with "/" accepted as delimiter.
PHONE_RE = re.compile(r"^\+?\d{1,3}[- /]?\d{1,4}[- /]?\d{4,10}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
URL_RE = re.compile(r"^https?://([A-Za-z0-9-]+\.)+[A-Za-z]{2,}(:\d+)?(/\S*)?$")
HTML_RE = re.compile(r"<\s*/?\s*[A-Za-z][^>]*>|&[a-z]+;")
TEXT_URL_RE = re.compile(r"(?i)\b(https?://|www\.)\S+")
TEXT_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)*\.[A-Za-z]{2,}")
TEXT_PHONE_RE = re.compile(r"(?<![\w.,])(\+|0)\d(?:[ /-]?\d){6,}")
PHONE_START_RE = re.compile(r"[+0]\d")


def make_issue(pointer: str, message: str, rule: int, listing: Listing | None) -> FieldIssue:
    return FieldIssue(
        path=canonical_path(pointer, listing),
        message=message,
        portal=PORTAL,
        portal_field=pointer,
        rule=f"rule-{rule:02d}",
    )


_JSON_TYPES: tuple[tuple[type | types.UnionType, str], ...] = (
    (bool, "a boolean"),  # before int: a bool is an int to `isinstance`
    (int | float, "a number"),
    (str, "a string"),
    (Mapping, "an object"),
    (list, "an array"),
    (type(None), "null"),
)


def _json_type(value: Any) -> str:
    return next(
        (name for kind, name in _JSON_TYPES if isinstance(value, kind)), type(value).__name__
    )


def type_issue(
    pointer: str, expected: str, value: Any, rule: int, listing: Listing | None
) -> FieldIssue:
    """A value of the wrong JSON type (from an extension) where a rule reads a field."""
    name = pointer.rsplit("/", 1)[-1]
    msg = f"{name} must be {expected}, not {_json_type(value)}"
    return make_issue(pointer, msg, rule, listing)


def not_strings(fields: Iterable[Leaf], rule: int, listing: Listing | None) -> list[FieldIssue]:
    """Rule `rule`'s issues for vocabulary fields holding anything but a string (or None).

    The rules look such a value up in a table of strings; a list or an object would make the
    lookup raise, and any other type is no value of the vocabulary either.
    """
    return [
        type_issue(pointer, "a string", value, rule, listing)
        for pointer, value in fields
        if value is not None and not isinstance(value, str)
    ]


def is_in(value: Any, vocabulary: frozenset[str]) -> bool:
    """`value in vocabulary`, False (not TypeError) for an unhashable list or object."""
    return isinstance(value, str) and value in vocabulary


def is_number(value: Any) -> TypeGuard[int | float]:
    """A JSON number: an `int` or `float`, not a `bool`. (The exact types first: an
    `isinstance` against the union costs as much as the rest of a range rule's test.)"""
    kind = type(value)
    if kind is int or kind is float:
        return True
    return isinstance(value, int | float) and not isinstance(value, bool)


def texts_of(payload: Payload) -> list[Leaf]:
    return leaves_under(value_at(payload, "/data/texts") or {}, "/data/texts")
