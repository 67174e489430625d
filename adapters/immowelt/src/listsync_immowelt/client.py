"""HTTP calls of the Immowelt listing import API v1: one method per endpoint, one route table.

Paths are relative to the `base_url` setting, which ends in `/v1` (production
`https://api.aviv-group.com/import-listings/v1`, sandbox
`https://api.aviv-group.com/sandbox/import-listings/v1`; portal-docs "Servers"). No mapping and no
retries here: `PortalHttp` retries, `mapping.py` builds the bodies.

Presigned media uploads and media downloads go through a second client without the bearer
token, so the token never reaches the storage host or a media server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from listsync.errors import NotFoundError
from listsync.http import PortalHttp

__all__ = ["ROUTES", "ImmoweltClient"]

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


def _route(name: str, listing_id: str | None = None) -> tuple[str, str]:
    method, path = ROUTES[name]
    if listing_id is not None:
        path = path.format(id=quote(listing_id, safe=""))
    return method, path


class ImmoweltClient:
    """Typed calls; `api` carries the bearer token, `plain` does not (uploads, downloads)."""

    def __init__(self, api: PortalHttp, plain: PortalHttp) -> None:
        self.api = api
        self.plain = plain

    async def create_listing(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """POST /listings -> 202 `{requestId, listingId, externalListingId, warnings}`."""
        method, path = _route("create_listing")
        return dict((await self.api.request(method, path, json=payload)).json())

    async def update_listing(self, listing_id: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """PUT /listings/{id}: full replacement, idempotent."""
        method, path = _route("update_listing", listing_id)
        return dict((await self.api.request(method, path, json=payload)).json())

    async def delete_listing(self, listing_id: str) -> dict[str, Any] | None:
        """DELETE /listings/{id}; None when it was already gone."""
        method, path = _route("delete_listing", listing_id)
        try:
            response = await self.api.request(method, path)
        except NotFoundError:
            return None
        return dict(response.json()) if response.content else {}

    async def get_listing(self, listing_id: str) -> dict[str, Any] | None:
        """GET /listings/{id} -> the `listing` object, None when unknown."""
        method, path = _route("get_listing", listing_id)
        try:
            response = await self.api.request(method, path)
        except NotFoundError:
            return None
        body = response.json()
        return dict(body.get("listing", body))

    async def list_listings(self, page_token: str | None) -> tuple[list[str], str | None]:
        """One page of GET /listings: (external listing ids, next page token or None)."""
        method, path = _route("list_listings")
        params = {"nextPageToken": page_token} if page_token else None
        body = (await self.api.request(method, path, params=params)).json()
        return list(body.get("externalListingIds", [])), body.get("nextPageToken") or None

    async def create_media(self, external_media_id: str, file_name: str) -> str:
        """POST /medias -> the presigned upload URL (valid for 60 s).

        Marked idempotent: asking again for the same `externalMediaId` only yields a fresh URL,
        so a retry after a lost answer is safe.
        """
        method, path = _route("create_media")
        body = {"externalMediaId": external_media_id, "fileName": file_name}
        response = await self.api.request(method, path, json=body, idempotent=True)
        return str(response.json()["presignedURL"])

    async def upload(self, url: str, content: bytes, content_type: str) -> None:
        """PUT the bytes to a presigned URL (no bearer token)."""
        await self.plain.request(
            "PUT", url, content=content, headers={"Content-Type": content_type}
        )

    async def download(self, url: str) -> tuple[bytes, str]:
        """GET media bytes and their content type (no bearer token)."""
        response = await self.plain.request("GET", url)
        return response.content, response.headers.get("Content-Type", "application/octet-stream")

    async def aclose(self) -> None:
        await self.api.aclose()
        await self.plain.aclose()
