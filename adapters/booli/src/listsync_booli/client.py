"""Booli HTTP calls (API v2, https://api.booli.se): the route table and one method per endpoint.

Every call is a signed GET (`signing.BooliSigningAuth`) with
`Accept: application/vnd.booli-v2+json`, which both asks for JSON and pins the API version.
Retries, limits and error mapping live in `listsync.http.PortalHttp`; this module decodes the
bodies and consults the response cache. Single objects come back wrapped in an array
(`{"listings": [{...}]}`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import httpx

from listsync.errors import NotFoundError, PortalBugError
from listsync.http import PortalHttp
from listsync_booli.cache import ResponseCache
from listsync_booli.errors import PORTAL, booli_error
from listsync_booli.paging import Page

__all__ = [
    "ACCEPT",
    "ROUTES",
    "BooliClient",
    "Kind",
    "build_http",
]

ACCEPT: Final = "application/vnd.booli-v2+json"
Kind = Literal["listings", "sold"]

ROUTES: Final[Mapping[str, str]] = {
    "listings": "/listings",
    "sold": "/sold",
    "areas": "/areas",
    "listing": "/listings/{booli_id}",
    "sold_object": "/sold/{booli_id}",
}
_SINGLE_ROUTE: Final[Mapping[Kind, str]] = {"listings": "listing", "sold": "sold_object"}


class BooliClient:
    """Typed access to Booli's endpoints over one `PortalHttp`."""

    def __init__(self, http: PortalHttp, cache: ResponseCache | None = None) -> None:
        self.http = http
        self.cache = cache or ResponseCache()

    async def _get_json(self, path: str, params: Mapping[str, str]) -> Any:
        cached = self.cache.get(path, params)
        if cached is not None:
            return cached
        response = await self.http.request("GET", path, params=dict(params))
        try:
            body = json.loads(response.content)
        except ValueError:
            raise PortalBugError(
                f"GET {path} answered {response.status_code} without a JSON body", portal=PORTAL
            ) from None
        if not isinstance(body, Mapping):
            raise PortalBugError(f"GET {path} answered JSON that is not an object", portal=PORTAL)
        self.cache.put(path, params, body)
        return body

    async def search_page(
        self, kind: Kind, params: Mapping[str, str], *, offset: int, limit: int
    ) -> Page:
        """One page of `/listings` or `/sold`."""
        query = {**params, "offset": str(offset), "limit": str(limit)}
        body = await self._get_json(ROUTES[kind], query)
        return Page(items=_objects(body, kind, ROUTES[kind]), total=_total(body, ROUTES[kind]))

    async def get_object(self, kind: Kind, booli_id: int) -> Mapping[str, Any] | None:
        """One object by booliId, or None when Booli answers 404."""
        path = ROUTES[_SINGLE_ROUTE[kind]].format(booli_id=booli_id)
        try:
            body = await self._get_json(path, {})
        except NotFoundError:
            return None
        objects = _objects(body, kind, path)
        return objects[0] if objects else None

    async def areas(self, params: Mapping[str, str]) -> Sequence[Mapping[str, Any]]:
        """Areas (`/areas`) matching a name or position."""
        body = await self._get_json(ROUTES["areas"], params)
        return _objects(body, "areas", ROUTES["areas"])


def _objects(body: Mapping[str, Any], key: str, path: str) -> Sequence[Mapping[str, Any]]:
    items = body.get(key, [])
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise PortalBugError(f"GET {path}: `{key}` is not a list of objects", portal=PORTAL)
    return items


def _total(body: Mapping[str, Any], path: str) -> int:
    total = body.get("totalCount")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise PortalBugError(f"GET {path}: missing or invalid totalCount", portal=PORTAL)
    return total


def build_http(
    *,
    base_url: str,
    account: str,
    auth: httpx.Auth,
    transport: httpx.AsyncBaseTransport | None,
    options: Mapping[str, Any],
    referer: str | None,
    user_agent: str | None,
) -> PortalHttp:
    """The one `PortalHttp` of an adapter instance, with Booli's headers."""
    headers = {"Accept": ACCEPT}
    if referer:
        headers["Referer"] = referer
    return PortalHttp(
        portal=PORTAL,
        account=account,
        base_url=base_url,
        error_mapper=booli_error,
        auth=auth,
        transport=transport,
        headers=headers,
        user_agent_extra=user_agent,
        **options,
    )
