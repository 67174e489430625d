"""listsync: syndicate real-estate listings from broker CRMs to property portals."""

from listsync.errors import (
    AuthenticationError,
    ConfigurationError,
    FieldIssue,
    InvalidListingError,
    ListsyncError,
    PortalError,
)
from listsync.model import Listing, parse_listing
from listsync.syndicator import Syndicator

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "FieldIssue",
    "InvalidListingError",
    "Listing",
    "ListsyncError",
    "PortalError",
    "Syndicator",
    "parse_listing",
]
