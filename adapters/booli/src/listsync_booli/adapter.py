"""The Booli read adapter: signed searches of `/listings` and `/sold` as canonical listings.

Booli API v2 (portal-docs/booli-api-introduction-sv.txt; PORTALS.md §2). Booli is read-only:
the adapter declares `READ` and `SEARCH` and implements `listsync.adapter.ReadAdapter`.
Objects that cannot become canonical listings (see `mapping`) are skipped, logged as
`booli_object_skipped` and counted in `skipped`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import ClassVar

import httpx
import structlog
from pydantic import Field, SecretStr
from typing_extensions import override

from listsync.adapter import AccountSettings, AdapterSettings, Capability, CredentialStore
from listsync.errors import FieldIssue, InvalidListingError
from listsync.model import Listing
from listsync_booli.cache import ResponseCache
from listsync_booli.client import BooliClient, Kind, build_http
from listsync_booli.errors import PORTAL
from listsync_booli.mapping import booli_id_of, to_listing
from listsync_booli.paging import DEFAULT_MAX_PAGES, DEFAULT_OVERLAP, Page, paginate
from listsync_booli.query import MAX_LIMIT, BooliQuery
from listsync_booli.signing import BooliSigningAuth

__all__ = ["BooliAccount", "BooliAdapter", "BooliSettings"]

log = structlog.stdlib.get_logger(__name__)


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


class BooliAdapter:
    """Reads Booli listings and sold objects (one instance per Booli account).

    Args:
        settings: portal settings.
        account: credentials.
        account_name: the account's name in the configuration.
        transport: an httpx transport (tests pass `BooliSandbox().transport()`).
        credential_store: unused: Booli credentials are static and never renewed.
    """

    name: ClassVar[str] = "booli"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.READ, Capability.SEARCH})
    settings_model: ClassVar[type[AdapterSettings]] = BooliSettings
    account_model: ClassVar[type[AccountSettings]] = BooliAccount

    def __init__(
        self,
        settings: BooliSettings,
        account: BooliAccount,
        *,
        account_name: str = "default",
        transport: httpx.AsyncBaseTransport | None = None,
        credential_store: CredentialStore | None = None,
        auth: BooliSigningAuth | None = None,
    ) -> None:
        self.settings = settings
        self.account_name = account_name
        self.skipped: list[InvalidListingError] = []
        self.client = BooliClient(
            build_http(
                base_url=settings.base_url,
                account=account_name,
                auth=auth or BooliSigningAuth(account.caller_id, account.api_key),
                transport=transport,
                referer=settings.referer,
                user_agent=settings.user_agent,
                options={
                    "timeout": settings.timeout,
                    "max_concurrency": settings.max_concurrency,
                    "requests_per_second": settings.requests_per_second,
                    "max_attempts": settings.max_attempts,
                    "max_retry_wait": settings.max_retry_wait,
                },
            ),
            ResponseCache(settings.cache_ttl),
        )

    def preflight(self, listing: Listing) -> list[FieldIssue]:
        """Always `[]`: Booli is read-only, so no listing is ever sent to it."""
        return []

    async def check(self) -> None:
        """Make one small signed search; raises `AuthenticationError` (403) when refused."""
        await self.client.search_page("listings", {"q": "stockholm"}, offset=0, limit=1)

    def search(self, query: Mapping[str, str], *, sold: bool = False) -> AsyncIterator[Listing]:
        """Every matching listing (or sold object) exactly once, paging to the end.

        The query is validated at once (`InvalidQueryError`), before anything is sent.
        `limit` in the query sets the page size, `offset` the first offset.
        """
        parsed = BooliQuery.parse(query, sold=sold)
        return self._search(parsed, "sold" if sold else "listings")

    async def _search(self, query: BooliQuery, kind: Kind) -> AsyncIterator[Listing]:
        params = query.to_params()

        async def fetch(offset: int, limit: int) -> Page:
            return await self.client.search_page(kind, params, offset=offset, limit=limit)

        objects = paginate(
            fetch,
            limit=query.limit or self.settings.page_size,
            start=query.offset or 0,
            overlap=self.settings.page_overlap,
            max_pages=self.settings.max_pages,
        )
        async for obj in objects:
            listing = self._map(obj, sold=kind == "sold")
            if listing is not None:
                yield listing

    def _map(self, obj: Mapping[str, object], *, sold: bool) -> Listing | None:
        try:
            return to_listing(obj, sold=sold)
        except InvalidListingError as exc:
            self.skipped.append(exc)
            log.warning(
                "booli_object_skipped",
                portal=PORTAL,
                account=self.account_name,
                booli_id=booli_id_of(obj),
                issues=[str(issue) for issue in exc.issues],
            )
            return None

    async def get(self, remote_id: str, *, sold: bool = False) -> Listing | None:
        """One object by booliId (`123` or `booli-123`); None when Booli does not know it."""
        ident = remote_id.removeprefix("booli-")
        if not ident.isdigit():
            return None  # not a booliId, so no such object
        obj = await self.client.get_object("sold" if sold else "listings", int(ident))
        return None if obj is None else self._map(obj, sold=sold)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.http.aclose()

    @override
    def __repr__(self) -> str:
        return f"BooliAdapter(account={self.account_name!r}, base_url={self.settings.base_url!r})"
