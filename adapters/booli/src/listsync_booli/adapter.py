"""The Booli read adapter: signed searches of `/listings` and `/sold` as canonical listings.

Booli is read-only: the adapter declares `READ` and `SEARCH` and implements
`listsync.adapter.ReadAdapter` (no `prepare`: nothing is ever sent to Booli). This module only
orchestrates: the query (`_query`), the paging (`_paging`), the endpoints (`client`) and the
mapping of each object (`mapping`). Objects that cannot become canonical listings are skipped,
logged as `booli_object_skipped` and counted in `skipped`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import ClassVar

import httpx
from typing_extensions import override

from listsync.adapter import AccountSettings, AdapterSettings, Capability, CredentialStore
from listsync.errors import InvalidListingError
from listsync.http import PortalHttp
from listsync.log import get_logger
from listsync.model import Listing
from listsync_booli._cache import ResponseCache
from listsync_booli._paging import Page, paginate
from listsync_booli._query import BooliQuery
from listsync_booli.auth import BooliSigningAuth
from listsync_booli.client import ACCEPT, BooliClient, Kind
from listsync_booli.errors import map_error
from listsync_booli.mapping import booli_id_of, to_listing
from listsync_booli.settings import PORTAL, BooliAccount, BooliSettings

__all__ = ["BooliAdapter"]

log = get_logger(__name__)


class BooliAdapter:
    """Reads Booli listings and sold objects (one instance per Booli account).

    Args:
        settings: portal settings.
        account: credentials.
        account_name: the account's name in the configuration.
        transport: an httpx transport (tests pass `BooliSandbox().transport()`).
        credential_store: unused: Booli credentials are static and never renewed.
    """

    name: ClassVar[str] = PORTAL
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
        headers = {"Accept": ACCEPT}
        if settings.referer:
            headers["Referer"] = settings.referer
        http = PortalHttp.from_settings(
            settings,
            portal=PORTAL,
            account=account_name,
            error_mapper=map_error,
            auth=auth or BooliSigningAuth(account.caller_id, account.api_key),
            transport=transport,
            headers=headers,
        )
        self.client = BooliClient(http, ResponseCache(settings.cache_ttl))

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
