"""listsync: syndicate real-estate listings from broker CRMs to property portals.

The names below are loaded on first use, so `import listsync.errors` or `import listsync.model`
loads neither the engine nor its dependencies (SQLite, rich, stevedore).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from listsync.errors import (
        AuthenticationError,
        ConfigurationError,
        FieldIssue,
        InvalidListingError,
        ListsyncError,
        PortalError,
    )
    from listsync.model import Listing, parse_listing
    from listsync.syndicator import SyncSyndicator, Syndicator

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "FieldIssue",
    "InvalidListingError",
    "Listing",
    "ListsyncError",
    "PortalError",
    "SyncSyndicator",
    "Syndicator",
    "parse_listing",
]

_HOMES = {
    "AuthenticationError": "listsync.errors",
    "ConfigurationError": "listsync.errors",
    "FieldIssue": "listsync.errors",
    "InvalidListingError": "listsync.errors",
    "ListsyncError": "listsync.errors",
    "PortalError": "listsync.errors",
    "Listing": "listsync.model",
    "parse_listing": "listsync.model",
    "Syndicator": "listsync.syndicator",
    "SyncSyndicator": "listsync.syndicator",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'listsync' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
