"""The canonical, portal-neutral listing model.

Every model is frozen and forbids unknown keys. Paths in errors are canonical dotted paths
(`address.postal_code`, `media[2].url`, `description.sv`).
"""

from listsync.model._listing import (
    Address,
    Agency,
    Agent,
    Auction,
    BrokerageFee,
    Energy,
    Links,
    Listing,
    LocalizedText,
    Media,
    Rent,
    Sale,
    Showing,
    issues_from_validation_error,
    parse_listing,
)
from listsync.model._types import (
    CURRENCIES,
    Category,
    GeoPoint,
    ListingStatus,
    MediaKind,
    Money,
    Tenure,
    Transaction,
    canonical_postal_code,
)

__all__ = [
    "CURRENCIES",
    "Address",
    "Agency",
    "Agent",
    "Auction",
    "BrokerageFee",
    "Category",
    "Energy",
    "GeoPoint",
    "Links",
    "Listing",
    "ListingStatus",
    "LocalizedText",
    "Media",
    "MediaKind",
    "Money",
    "Rent",
    "Sale",
    "Showing",
    "Tenure",
    "Transaction",
    "canonical_postal_code",
    "issues_from_validation_error",
    "parse_listing",
]
