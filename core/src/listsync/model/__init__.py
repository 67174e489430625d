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
    external_ref_of,
    issues_from_validation_error,
    parse_listing,
)
from listsync.model._schema import (
    JSON_SCHEMA_DIALECT,
    listing_json_schema,
    render_listing_json_schema,
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
from listsync.model._urls import media_url_texts, url_text

__all__ = [
    "CURRENCIES",
    "JSON_SCHEMA_DIALECT",
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
    "external_ref_of",
    "issues_from_validation_error",
    "listing_json_schema",
    "media_url_texts",
    "parse_listing",
    "render_listing_json_schema",
    "url_text",
]
