"""Booli HTTP calls (API v2, https://api.booli.se): the route table and one method per endpoint.

Every call is a signed GET (`auth.BooliSigningAuth`) with `Accept: application/vnd.booli-v2+json`,
which both asks for JSON and pins the API version. Retries, limits and error mapping live in
`listsync.http.PortalHttp`; this module checks the shape of the bodies (an answer of the wrong
shape is a `PortalBugError`, never a `KeyError`) and consults the response cache. Single objects
come back wrapped in an array (`{"listings": [{...}]}`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal, TypeVar

from listsync.adapter import Response
from listsync.errors import NotFoundError
from listsync.http import PortalHttp
from listsync_booli._cache import ResponseCache
from listsync_booli._paging import Page

__all__ = ["ACCEPT", "ROUTES", "BooliClient", "Kind"]

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
T = TypeVar("T")


class BooliClient:
    """Typed access to Booli's endpoints over one `PortalHttp`."""

    def __init__(self, http: PortalHttp, cache: ResponseCache | None = None) -> None:
        self.http = http
        self.cache = cache or ResponseCache()

    async def _get(self, path: str, params: Mapping[str, str], read: Callable[[Response], T]) -> T:
        """What `read` makes of Booli's answer to `GET path` (from the cache when it holds it;
        only answers `read` accepted are cached)."""
        cached = self.cache.get(path, params)
        if cached is not None:
            found: T = cached
            return found
        response = await self.http.request("GET", path, params=dict(params))
        result = read(response)
        self.cache.put(path, params, result)
        return result

    async def search_page(
        self, kind: Kind, params: Mapping[str, str], *, offset: int, limit: int
    ) -> Page:
        """One page of `/listings` or `/sold`."""
        query = {**params, "offset": str(offset), "limit": str(limit)}

        def read(response: Response) -> Page:
            body = response.json_object()
            return Page(items=_objects(response, body, kind), total=_total(response, body))

        return await self._get(ROUTES[kind], query, read)

    async def get_object(self, kind: Kind, booli_id: int) -> Mapping[str, Any] | None:
        """One object by booliId, or None when Booli answers 404."""
        path = ROUTES[_SINGLE_ROUTE[kind]].format(booli_id=booli_id)
        try:
            objects = await self._get(path, {}, lambda r: _objects(r, r.json_object(), kind))
        except NotFoundError:
            return None
        return objects[0] if objects else None

    async def areas(self, params: Mapping[str, str]) -> Sequence[Mapping[str, Any]]:
        """Areas (`/areas`) matching a name or position."""
        return await self._get(
            ROUTES["areas"], params, lambda r: _objects(r, r.json_object(), "areas")
        )


def _objects(response: Response, body: Mapping[str, Any], key: str) -> Sequence[Mapping[str, Any]]:
    items = body.get(key, [])
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise response.malformed(f"`{key}` that is not a list of objects")
    return items


def _total(response: Response, body: Mapping[str, Any]) -> int:
    total = body.get("totalCount")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise response.malformed("a missing or invalid totalCount")
    return total
