"""Hemnet BrokerAPI calls: one typed method per endpoint, the route table in one place.

Hemnet's real paths sit behind its Swagger; `ROUTES` holds the ones listsync assumes, so aligning
with the Swagger is a change to `ROUTES` only (the sandbox serves exactly these). Bodies are flat
JSON; single resources come back wrapped in their singular name (`{"listing": {...}}`), lists as
`{"<plural>": [...], "totalCount": N}` with `limit`/`offset`. No mapping and no retries here:
`PortalHttp` retries, mapping.py maps.

Answers of the wrong shape (not JSON, not an object, a list that is not a list, a resource
without its `id`) raise `PortalBugError` naming the request, status and request id, through the
contract's `Response`; nothing here raises `KeyError` or `JSONDecodeError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

from pydantic import SecretStr

from listsync.adapter import Response
from listsync.http import PortalHttp

__all__ = ["PAGE_SIZE", "ROUTES", "HemnetClient", "Reply"]

ROUTES: Final[dict[str, tuple[str, str]]] = {
    "list_keys": ("GET", "/keys"),
    "get_key": ("GET", "/keys/{key_id}"),
    "create_key": ("POST", "/keys"),
    "delete_key": ("DELETE", "/keys/{key_id}"),
    "create_agency": ("POST", "/broker_agencies"),
    "list_agencies": ("GET", "/broker_agencies"),
    "create_listing": ("POST", "/listings"),
    "list_listings": ("GET", "/listings"),
    "get_listing": ("GET", "/listings/{listing_id}"),
    "update_listing": ("PATCH", "/listings/{listing_id}"),
    "create_image": ("POST", "/listings/{listing_id}/images"),
    "list_images": ("GET", "/listings/{listing_id}/images"),
    "get_image": ("GET", "/listings/{listing_id}/images/{image_id}"),
    "delete_image": ("DELETE", "/listings/{listing_id}/images/{image_id}"),
    "publish": ("POST", "/listings/{listing_id}/publish"),
    "unpublish": ("POST", "/listings/{listing_id}/unpublish"),
    "mark_sold": ("POST", "/listings/{listing_id}/sale"),
    "create_showing": ("POST", "/listings/{listing_id}/showings"),
    "list_showings": ("GET", "/listings/{listing_id}/showings"),
    "update_showing": ("PATCH", "/listings/{listing_id}/showings/{showing_id}"),
    "delete_showing": ("DELETE", "/listings/{listing_id}/showings/{showing_id}"),
}
"""Operation -> (method, path template). The sandbox serves exactly these."""

PAGE_SIZE = 100
"""Page size for list calls: the largest the wire contract allows (`limit` 1..100; Hemnet's
lists default to 20, and its guide says to raise `limit` to see every image)."""

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer: the unwrapped resource and the answer it came from."""

    body: JSON
    response: Response

    @property
    def request_id(self) -> str | None:
        return self.response.request_id

    @property
    def id(self) -> str:
        """The resource's `id`; `PortalBugError` when the answer has none."""
        return str(self.response.field(self.body, "id"))

    def field(self, name: str) -> Any:
        """`body[name]`; `PortalBugError` when the answer has no such field."""
        return self.response.field(self.body, name)


class HemnetClient:
    """Typed calls over one `PortalHttp`.

    `token` on the key calls sets the bearer explicitly: the key manager uses it on its own
    un-authenticated `PortalHttp`. With `retry=False` every call is sent once
    (`PortalHttp.request(..., retry=False)`): the key manager's calls run inside another
    request's auth flow, whose own retries cover them.
    """

    def __init__(self, http: PortalHttp, *, retry: bool = True) -> None:
        self.http = http
        self._retry = retry

    async def _call(
        self,
        route: str,
        *,
        json: JSON | None = None,
        params: dict[str, Any] | None = None,
        token: SecretStr | None = None,
        idempotent: bool | None = None,
        **ids: str,
    ) -> Reply:
        method, template = ROUTES[route]
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else None
        response = await self.http.request(
            method,
            template.format(**ids),
            json=json,
            params=params,
            headers=headers,
            idempotent=idempotent,
            retry=self._retry,
        )
        return Reply(response.json_object(), response)

    async def _pages(self, route: str, plural: str, **kw: Any) -> AsyncIterator[JSON]:
        """Every item of a list endpoint, paging with limit/offset until totalCount."""
        params: dict[str, Any] = dict(kw.pop("params", None) or {})
        limit = int(params.pop("limit", PAGE_SIZE))
        offset = 0
        while True:
            page = {**params, "limit": limit, "offset": offset}
            reply = await self._call(route, params=page, **kw)
            items = _items(reply, plural)
            for item in items:
                yield item
            offset += len(items)
            total = reply.body.get("totalCount", offset)
            if not isinstance(total, int) or isinstance(total, bool):
                raise reply.response.malformed(f"a totalCount of {total!r}")
            if not items or offset >= total:
                return

    # -- keys ------------------------------------------------------------------------------
    async def list_keys(self, *, token: SecretStr | None = None) -> list[JSON]:
        return [k async for k in self._pages("list_keys", "keys", token=token)]

    async def get_key(self, key_id: str, *, token: SecretStr | None = None) -> JSON:
        return _unwrap(await self._call("get_key", key_id=key_id, token=token), "key").body

    async def create_key(self, name: str, *, token: SecretStr | None = None) -> Reply:
        """`{"authToken", "key"}`; a POST, so never resent once it may have landed."""
        return await self._call("create_key", json={"name": name}, token=token)

    async def delete_key(self, key_id: str, *, token: SecretStr | None = None) -> None:
        await self._call("delete_key", key_id=key_id, token=token)

    # -- agencies --------------------------------------------------------------------------
    async def create_agency(self, body: JSON) -> Reply:
        return _unwrap(await self._call("create_agency", json=body), "brokerAgency")

    async def find_agencies(self, external_id: str | None = None) -> list[JSON]:
        params = {"externalId": external_id} if external_id else {}
        return [a async for a in self._pages("list_agencies", "brokerAgencies", params=params)]

    # -- listings --------------------------------------------------------------------------
    async def create_listing(self, body: JSON) -> Reply:
        return _unwrap(await self._call("create_listing", json=body), "listing")

    async def find_listings(self, external_id: str) -> list[JSON]:
        params = {"externalId": external_id}
        return [item async for item in self._pages("list_listings", "listings", params=params)]

    def listings(self) -> AsyncIterator[JSON]:
        """Every listing of the account, `PAGE_SIZE` (the most a page may hold) at a time."""
        return self._pages("list_listings", "listings")

    async def get_listing(self, listing_id: str) -> Reply:
        return _unwrap(await self._call("get_listing", listing_id=listing_id), "listing")

    async def update_listing(self, listing_id: str, changes: JSON) -> Reply:
        reply = await self._call("update_listing", listing_id=listing_id, json=changes)
        return _unwrap(reply, "listing")

    async def publish(self, listing_id: str) -> Reply:
        # A repeated publish is refused as a transition, never applied twice: safe to retry.
        reply = await self._call("publish", listing_id=listing_id, idempotent=True)
        return _unwrap(reply, "listing")

    async def unpublish(self, listing_id: str) -> Reply:
        reply = await self._call("unpublish", listing_id=listing_id, idempotent=True)
        return _unwrap(reply, "listing")

    async def mark_sold(self, listing_id: str, sale: JSON) -> Reply:
        reply = await self._call("mark_sold", listing_id=listing_id, json=sale, idempotent=True)
        return _unwrap(reply, "listing")

    # -- images ----------------------------------------------------------------------------
    async def create_image(self, listing_id: str, url: str, index: int) -> Reply:
        body = {"url": url, "index": index}
        return _unwrap(await self._call("create_image", listing_id=listing_id, json=body), "image")

    async def list_images(self, listing_id: str, *, limit: int = PAGE_SIZE) -> list[JSON]:
        params = {"limit": limit}
        pages = self._pages("list_images", "images", params=params, listing_id=listing_id)
        return [image async for image in pages]

    async def get_image(self, listing_id: str, image_id: str) -> JSON:
        reply = await self._call("get_image", listing_id=listing_id, image_id=image_id)
        return _unwrap(reply, "image").body

    async def delete_image(self, listing_id: str, image_id: str) -> Reply:
        return await self._call("delete_image", listing_id=listing_id, image_id=image_id)

    # -- showings --------------------------------------------------------------------------
    async def create_showing(self, listing_id: str, body: JSON) -> Reply:
        reply = await self._call("create_showing", listing_id=listing_id, json=body)
        return _unwrap(reply, "showing")

    async def list_showings(self, listing_id: str) -> list[JSON]:
        pages = self._pages("list_showings", "showings", listing_id=listing_id)
        return [showing async for showing in pages]

    async def update_showing(self, listing_id: str, showing_id: str, changes: JSON) -> Reply:
        reply = await self._call(
            "update_showing", listing_id=listing_id, showing_id=showing_id, json=changes
        )
        return _unwrap(reply, "showing")

    async def delete_showing(self, listing_id: str, showing_id: str) -> Reply:
        return await self._call("delete_showing", listing_id=listing_id, showing_id=showing_id)


def _items(reply: Reply, plural: str) -> list[JSON]:
    """The `plural` list of a page: objects that each have an `id`."""
    items = reply.body.get(plural)
    if items is None:
        return []
    if not isinstance(items, list):
        raise reply.response.malformed(f"{plural!r} that is not a list")
    for item in items:
        if not isinstance(item, dict) or "id" not in item:
            raise reply.response.malformed(f"an entry of {plural!r} without an 'id'")
    return items


def _unwrap(reply: Reply, name: str) -> Reply:
    """The resource inside `{"<name>": {...}}` (or the body itself when it is not wrapped)."""
    inner = reply.body.get(name, reply.body)
    if not isinstance(inner, dict):
        raise reply.response.malformed(f"a {name!r} that is not an object")
    return Reply(inner, reply.response)
