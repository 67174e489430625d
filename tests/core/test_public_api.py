"""The names `import listsync` offers: a deliberate, reviewed list."""

from __future__ import annotations

import listsync

# The one place the public API is written down. Adding a name to `listsync.__all__` means
# adding it here too (the engine adds `Syndicator`, the sync facade for embedding).
PUBLIC_API = frozenset(
    {
        "AuthenticationError",
        "ConfigurationError",
        "FieldIssue",
        "InvalidListingError",
        "Listing",
        "ListsyncError",
        "PortalError",
        "Syndicator",
        "parse_listing",
    }
)


def test_all_is_exactly_the_public_api() -> None:
    """`listsync.__all__` lists exactly the reviewed names, without duplicates."""
    assert sorted(listsync.__all__) == sorted(PUBLIC_API)
    assert len(listsync.__all__) == len(set(listsync.__all__))


def test_every_public_name_is_importable() -> None:
    """Each name in `__all__` is an attribute of the package."""
    missing = [name for name in listsync.__all__ if not hasattr(listsync, name)]
    assert missing == []
