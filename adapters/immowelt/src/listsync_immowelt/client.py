"""HTTP calls of the Immowelt listing import API v1: one method per endpoint, one route table.

Paths are relative to the `base_url` setting, which ends in `/v1` (Immowelt's listing import API
document names the servers: production `https://api.aviv-group.com/import-listings/v1`, sandbox
`https://api.aviv-group.com/sandbox/import-listings/v1`). No mapping and no retries here:
`PortalHttp` retries, `mapping.py` builds the bodies. An answer of the wrong shape (not JSON,
not an object, a member missing or of the wrong type) is a `PortalBugError` naming the portal,
the request id, the status and an excerpt of the body.

Presigned media uploads go through a second client without the bearer token, so the token never
reaches the storage host; media downloads go through a third, guarded one (`_media.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from listsync.adapter import Response
from listsync.errors import NotFoundError
from listsync.http import PortalHttp

__all__ = ["REQUEST_ID_HEADER", "ROUTES", "ImmoweltClient"]

ROUTES: Mapping[str, tuple[str, str]] = {
    "create_listing": ("POST", "/listings"),
    "list_listings": ("GET", "/listings"),
    "get_listing": ("GET", "/listings/{id}"),
    "update_listing": ("PUT", "/listings/{id}"),
    "delete_listing": ("DELETE", "/listings/{id}"),
    "create_media": ("POST", "/medias"),
    "health": ("GET", "/health"),
}
"""Operation -> (method, path): the one place the wire paths live."""

REQUEST_ID_HEADER = "x-request-id"
"""The answer header read as the request id (inferred: the document names none; problem
documents carry theirs in `instance`, which `map_error` prefers)."""


def _route(name: str, listing_id: str | None = None) -> tuple[str, str]:
    method, path = ROUTES[name]
    if listing_id is not None:
        path = path.format(id=quote(listing_id, safe=""))
    return method, path


def _string(response: Response, body: Mapping[str, Any], name: str) -> str:
    """`body[name]`, which must be a non-empty string."""
    value = response.field(body, name)
    if not isinstance(value, str) or not value:
        raise response.malformed(f"{name!r} that is not a non-empty string")
    return value


class ImmoweltClient:
    """Typed calls; `api` carries the bearer token, `plain` does not (uploads)."""

    def __init__(self, api: PortalHttp, plain: PortalHttp) -> None:
        self.api = api
        self.plain = plain

    async def create_listing(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """POST /listings -> 202 `{requestId, listingId, externalListingId, warnings}`."""
        method, path = _route("create_listing")
        return (await self.api.request(method, path, json=payload)).json_object()

    async def update_listing(self, listing_id: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """PUT /listings/{id}: full replacement, idempotent."""
        method, path = _route("update_listing", listing_id)
        return (await self.api.request(method, path, json=payload)).json_object()

    async def delete_listing(self, listing_id: str) -> dict[str, Any] | None:
        """DELETE /listings/{id}; None when it was already gone."""
        method, path = _route("delete_listing", listing_id)
        try:
            response = await self.api.request(method, path)
        except NotFoundError:
            return None
        return response.json_object()

    async def get_listing(self, listing_id: str) -> dict[str, Any] | None:
        """GET /listings/{id} -> the `listing` object, None when unknown."""
        method, path = _route("get_listing", listing_id)
        try:
            response = await self.api.request(method, path)
        except NotFoundError:
            return None
        body = response.json_object()
        listing = body.get("listing", body)
        if not isinstance(listing, dict) or not listing:
            raise response.malformed("no listing object")
        return listing

    async def list_listings(self, page_token: str | None) -> tuple[list[str], str | None]:
        """One page of GET /listings: (external listing ids, next page token or None)."""
        method, path = _route("list_listings")
        params = {"nextPageToken": page_token} if page_token else None
        response = await self.api.request(method, path, params=params)
        body = response.json_object()
        ids = body.get("externalListingIds", [])
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise response.malformed("'externalListingIds' that is not a list of strings")
        token = body.get("nextPageToken")
        if token is not None and not isinstance(token, str):
            raise response.malformed("'nextPageToken' that is not a string")
        return ids, token or None

    async def create_media(self, external_media_id: str, file_name: str) -> str:
        """POST /medias -> the presigned upload URL (valid for 60 s).

        Marked idempotent: asking again for the same `externalMediaId` only yields a fresh URL,
        so a retry after a lost answer is safe.
        """
        method, path = _route("create_media")
        body = {"externalMediaId": external_media_id, "fileName": file_name}
        response = await self.api.request(method, path, json=body, idempotent=True)
        return _string(response, response.json_object(), "presignedURL")

    async def upload(self, url: str, content: bytes, content_type: str) -> None:
        """PUT the bytes to a presigned URL (no bearer token)."""
        await self.plain.request(
            "PUT", url, content=content, headers={"Content-Type": content_type}
        )

    async def aclose(self) -> None:
        await self.api.aclose()
        await self.plain.aclose()
