"""Booli's name in listsync and its settings: the portal table and the account's credentials.

Booli signs every request with a registered caller id and a private key (see `auth`); both are
`SecretStr`, so they never appear in logs, reprs or error messages.
"""

from __future__ import annotations

from typing import Final

from pydantic import Field, SecretStr

from listsync.adapter import AccountSettings, AdapterSettings

__all__ = [
    "DEFAULT_MAX_PAGES",
    "DEFAULT_OVERLAP",
    "MAX_LIMIT",
    "PORTAL",
    "BooliAccount",
    "BooliSettings",
]

PORTAL: Final = "booli"
"""The adapter's name: the entry point, `BooliAdapter.name` and every error's `portal`."""

MAX_LIMIT: Final = 500
"""The most objects one page may hold (Booli's documented maximum `limit`)."""

DEFAULT_OVERLAP: Final = 10
DEFAULT_MAX_PAGES: Final = 10_000


class BooliSettings(AdapterSettings):
    """Booli settings (`[portals.booli]`).

    Attributes:
        referer: sent as `Referer`; Booli asks callers to say who they are.
        page_size: objects per request (Booli allows at most 500).
        page_overlap: objects re-read per page so a changing result set skips nothing.
        max_pages: hard cap on requests per search.
        cache_ttl: response cache lifetime in seconds; 0 (the default) switches it off.
    """

    base_url: str = "https://api.booli.se"
    referer: str | None = None
    page_size: int = Field(default=MAX_LIMIT, ge=1, le=MAX_LIMIT)
    page_overlap: int = Field(default=DEFAULT_OVERLAP, ge=0)
    max_pages: int = Field(default=DEFAULT_MAX_PAGES, ge=1)
    cache_ttl: float = Field(default=0.0, ge=0)


class BooliAccount(AccountSettings):
    """Booli credentials: the registered caller id and its private key."""

    caller_id: SecretStr
    api_key: SecretStr
