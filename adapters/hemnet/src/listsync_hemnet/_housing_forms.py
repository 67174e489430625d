"""Hemnet housing-form codes: integer codes in series of 100.

Hemnet's guide to migrating from its SOAP API says ("Dealing with unknown HousingForm codes"):
Hemnet may add codes (an unknown code such as 620 must be treated as its series base, 600) and
remove codes (a removed 601 reads back as 600). So a code is kept as sent or read, its series is
always known, and two codes are compared with `HousingForm.equivalent`, never with `==`.

The apartment series (300) is **inferred**: the SOAP migration table prints "Apartment (400)",
which collides with Vacation Home (400); series 3xx is the only undocumented residential one.
7xx and 8xx are reserved series: codes there are truly unknown.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum

from listsync.model import Category, Listing, Tenure

__all__ = [
    "KNOWN_CODES",
    "RESIDENTIAL",
    "SERIES",
    "HemnetTenure",
    "HousingForm",
    "canonical_tenure",
    "category_for",
    "housing_form_for",
    "parse_code",
    "tenure_for",
]


class HemnetTenure(StrEnum):
    """Hemnet's tenure values (wire strings **inferred**; the Swagger holds the real ones)."""

    OWNED = "OWNED"
    TENANT_OWNERSHIP = "TENANT_OWNERSHIP"
    RENTAL = "RENTAL"
    OTHER = "OTHER"
    UNKNOWN = "UNKNOWN"


SERIES: dict[int, str] = {
    100: "house",
    200: "terraced_house",
    300: "apartment",
    400: "vacation_home",
    500: "plot",
    600: "homestead",
    900: "other",
}
"""Series base -> name. 7xx/8xx are reserved and therefore absent."""

KNOWN_CODES: dict[int, str] = {
    100: "house",
    200: "terraced_house",
    201: "row_house",
    202: "linked_house",
    203: "twin_house",
    300: "apartment",
    400: "vacation_home",
    401: "vacation_house",
    402: "winterized_vacation_home",
    500: "plot",
    600: "homestead",
    601: "estate_without_cultivation",
    602: "agricultural_estate",
    603: "foresting_estate",
    900: "other",
}


@dataclass(frozen=True, slots=True)
class HousingForm:
    """One housing-form code as sent or read; the raw `code` is never lost."""

    code: int

    @property
    def series(self) -> int | None:
        """The base of the code's known series (620 -> 600), None for reserved/out of range."""
        base = (self.code // 100) * 100
        return base if 100 <= self.code <= 999 and base in SERIES else None

    @property
    def known(self) -> bool:
        return self.code in KNOWN_CODES

    @property
    def effective(self) -> int | None:
        """The code listsync acts on: itself when known, else its series base (620 -> 600)."""
        return self.code if self.known else self.series

    @property
    def name(self) -> str:
        """`row_house`, `unknown_homestead` for 620, `unknown` for reserved codes."""
        if self.known:
            return KNOWN_CODES[self.code]
        return f"unknown_{SERIES[self.series]}" if self.series is not None else "unknown"

    def equivalent(self, other: HousingForm) -> bool:
        """Whether a read-back `other` means what `self` said.

        Equal effective codes are equivalent (620 ~ 600); so is a series base read back for a
        member of its series (Hemnet removed the member: a sent 601 reads back as 600).
        """
        if self.effective is not None and self.effective == other.effective:
            return True
        if self.series is None or self.series != other.series:
            return self.code == other.code
        return self.effective == self.series or other.effective == other.series

    def __str__(self) -> str:
        return str(self.code)


def parse_code(value: object) -> HousingForm | None:
    """A `HousingForm` from an int or a digit string ("602"); None when it is not a code."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return HousingForm(value)
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) == 3:
        return HousingForm(int(value.strip()))
    return None


_CATEGORY_CODES: dict[Category, int] = {
    Category.HOUSE_DETACHED: 100,
    Category.HOUSE_TERRACED: 201,
    Category.HOUSE_LINKED: 202,
    Category.HOUSE_SEMI_DETACHED: 203,
    Category.APARTMENT: 300,
    Category.VACATION_HOME: 400,
    Category.PLOT: 500,
    Category.FARM: 600,
    Category.SENIOR: 900,
    Category.OTHER: 900,
}
"""Canonical category -> default code; categories absent here are not residential."""

RESIDENTIAL = frozenset(_CATEGORY_CODES)


@functools.lru_cache(maxsize=1024)
def housing_form_for(category: Category, subcategory: str | None) -> HousingForm:
    """The code to send: a code `subcategory` of the category's series wins (e.g. "602" for a
    farm), an unknown one folded to its series base (620 -> 600); otherwise the category's
    default. Non-residential categories map to 900.

    Kept per (category, subcategory): a `HousingForm` is immutable, and preflight and the
    projection both ask for every listing."""
    default = HousingForm(_CATEGORY_CODES.get(category, 900))
    given = parse_code(subcategory)
    if given is not None and given.series is not None and given.series == default.series:
        return HousingForm(given.effective or given.series)
    return default


def category_for(form: HousingForm) -> Category:
    """The canonical category of a code read from Hemnet (unknown codes by their series)."""
    by_code = {
        201: Category.HOUSE_TERRACED,
        202: Category.HOUSE_LINKED,
        203: Category.HOUSE_SEMI_DETACHED,
    }
    if form.effective in by_code:
        return by_code[form.effective]
    by_series = {
        100: Category.HOUSE_DETACHED,
        200: Category.HOUSE_TERRACED,
        300: Category.APARTMENT,
        400: Category.VACATION_HOME,
        500: Category.PLOT,
        600: Category.FARM,
    }
    return by_series.get(form.series or 0, Category.OTHER)


_TENURES: dict[Tenure, HemnetTenure] = {
    Tenure.FREEHOLD: HemnetTenure.OWNED,
    # Tomträtt: the building is owned, the land leased; Hemnet models it as owned with a
    # yearly leasehold fee (yearlyLeaseholdFee, "coming soon"). Inferred.
    Tenure.LEASEHOLD: HemnetTenure.OWNED,
    Tenure.COOPERATIVE: HemnetTenure.TENANT_OWNERSHIP,
    Tenure.RENTAL: HemnetTenure.RENTAL,
    Tenure.OTHER: HemnetTenure.OTHER,
    Tenure.UNKNOWN: HemnetTenure.UNKNOWN,
}
_TENURES_BACK: dict[HemnetTenure, Tenure] = {
    HemnetTenure.OWNED: Tenure.FREEHOLD,
    HemnetTenure.TENANT_OWNERSHIP: Tenure.COOPERATIVE,
    HemnetTenure.RENTAL: Tenure.RENTAL,
    HemnetTenure.OTHER: Tenure.OTHER,
    HemnetTenure.UNKNOWN: Tenure.UNKNOWN,
}


def tenure_for(listing: Listing) -> tuple[HemnetTenure, HousingForm]:
    """(tenure, housingForm) for a canonical listing."""
    return _TENURES[listing.tenure], housing_form_for(listing.category, listing.subcategory)


def canonical_tenure(value: str | None) -> Tenure:
    """The canonical tenure of a Hemnet tenure string (unknown strings -> UNKNOWN)."""
    try:
        return _TENURES_BACK[HemnetTenure(value or "")]
    except ValueError:
        return Tenure.UNKNOWN
