"""Hemnet BrokerAPI calls: one typed method per endpoint, the route table in one place.

Paths follow the wire contract in DESIGN.md ("The wire contract we assume"): Hemnet's real paths
sit behind its Swagger, so aligning with it is a change to `ROUTES` only. Bodies are flat JSON;
single resources come back wrapped in their singular name (`{"listing": {...}}`), lists as
`{"<plural>": [...], "totalCount": N}` with `limit`/`offset`. No mapping and no retries here:
`PortalHttp` retries, mapping.py maps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

import httpx
from pydantic import SecretStr

from listsync.http import PortalHttp

__all__ = ["ROUTES", "HemnetClient", "Reply"]

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
"""Page size for list calls (Hemnet's image list defaults to 20; S000 says to raise it)."""

JSON = dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """A successful answer: the unwrapped resource and Hemnet's request id."""

    body: JSON
    request_id: str | None


class HemnetClient:
    """Typed calls over one `PortalHttp`.

    `token` on the key calls sets the bearer explicitly: the key manager uses it on its own
    un-authenticated `PortalHttp` while it rotates.
    """

    def __init__(self, http: PortalHttp) -> None:
        self.http = http

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
        )
        return Reply(_body(response), response.headers.get("X-Request-Id"))

    async def _pages(self, route: str, plural: str, **kw: Any) -> AsyncIterator[JSON]:
        """Every item of a list endpoint, paging with limit/offset until totalCount."""
        params: dict[str, Any] = dict(kw.pop("params", None) or {})
        limit = int(params.pop("limit", PAGE_SIZE))
        offset = 0
        while True:
            page = {**params, "limit": limit, "offset": offset}
            reply = await self._call(route, params=page, **kw)
            items = reply.body.get(plural) or []
            for item in items:
                yield item
            offset += len(items)
            if not items or offset >= int(reply.body.get("totalCount", offset)):
                return

    # -- keys ------------------------------------------------------------------------------
    async def list_keys(self, *, token: SecretStr | None = None) -> list[JSON]:
        return [k async for k in self._pages("list_keys", "keys", token=token)]

    async def get_key(self, key_id: str, *, token: SecretStr | None = None) -> JSON:
        return _unwrap(await self._call("get_key", key_id=key_id, token=token), "key").body

    async def create_key(self, name: str, *, token: SecretStr | None = None) -> JSON:
        """`{"authToken", "key"}`; not retried (a lost answer would orphan a key)."""
        return (await self._call("create_key", json={"name": name}, token=token)).body

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


def _body(response: httpx.Response) -> JSON:
    if not response.content:
        return {}
    data = response.json()
    return data if isinstance(data, dict) else {"data": data}


def _unwrap(reply: Reply, name: str) -> Reply:
    inner = reply.body.get(name)
    return Reply(inner if isinstance(inner, dict) else reply.body, reply.request_id)
