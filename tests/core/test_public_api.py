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
        "SyncSyndicator",
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


def test_importing_errors_or_the_model_loads_no_engine() -> None:
    """`listsync.errors` and `listsync.model` load neither the engine nor sqlite3, rich or
    stevedore (a fresh interpreter, since this one has loaded them already)."""
    import subprocess
    import sys

    code = (
        "import sys, listsync.errors, listsync.model, listsync.adapter\n"
        "heavy = {'sqlite3', 'rich', 'stevedore', 'listsync.sync', 'listsync.syndicator'}\n"
        "assert not heavy & set(sys.modules), sorted(heavy & set(sys.modules))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603  (this interpreter, a fixed script)
