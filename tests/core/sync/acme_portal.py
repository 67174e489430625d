"""A small but real write adapter and its fake portal, for testing the engine.

The "acme" portal: bearer tokens per account, listings by externalId, images, publish,
unpublish, sold, delete; JSON errors `{"errors": [{"field", "message"}]}`. The sandbox records
the principal of every request, counts requests in flight per principal, and can hold the
response of the N-th create (after committing it) so a test can kill the client at that moment.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from listsync.adapter import (
    AccountSettings,
    AdapterSettings,
    Capability,
    CredentialStore,
    Operation,
    OperationContext,
    OperationResult,
    OpKind,
    PortalStatus,
    Prepared,
    ProjectedItem,
    Projection,
    RemoteRecord,
    TargetState,
)
from listsync.adapter import Response as HttpAnswer
from listsync.errors import (
    AuthenticationError,
    FieldIssue,
    PortalError,
    PortalValidationError,
    Severity,
)
from listsync.http import PortalHttp, error_from_status
from listsync.model import Listing, ListingStatus
from listsync.sandbox import FaultConfig, Sandbox

FIELD_PATHS = {"price": "asking_price.amount", "title": "headline", "city": "address.city"}


class AcmeSettings(AdapterSettings):
    """Portal settings of the acme test portal."""


class AcmeAccount(AccountSettings):
    token: SecretStr


class _Bearer(httpx.Auth):
    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request


def map_error(response: HttpAnswer, portal: str = "acme") -> PortalError:
    try:
        errors = response.json_object().get("errors", [])
    except PortalError:
        errors = []
    message = "; ".join(str(e.get("message")) for e in errors) or f"HTTP {response.status}"
    if response.status == 422:
        issues = [
            FieldIssue(
                path=FIELD_PATHS.get(e.get("field", ""), "<listing>"),
                message=e.get("message", ""),
                portal=portal,
                portal_field=e.get("field"),
            )
            for e in errors
        ]
        return PortalValidationError(message, issues, portal=portal, status_code=422)
    if response.status == 401:
        return AuthenticationError(message, portal=portal, status_code=401)
    return error_from_status(response, portal=portal, message=message)


def media_key(url: str) -> str:
    return hashlib.sha1(url.encode()).hexdigest()[:12]  # noqa: S324  (a key, not security)


class AcmeAdapter:
    """Write adapter for the acme test portal."""

    name: ClassVar[str] = "acme"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.CREATE,
            Capability.UPDATE,
            Capability.DELETE,
            Capability.MEDIA,
            Capability.PUBLISH,
            Capability.UNPUBLISH,
            Capability.MARK_SOLD,
        }
    )
    settings_model: ClassVar[type[AdapterSettings]] = AcmeSettings
    account_model: ClassVar[type[AccountSettings]] = AcmeAccount

    def __init__(
        self,
        settings: AdapterSettings,
        account: AccountSettings,
        *,
        account_name: str = "default",
        transport: httpx.AsyncBaseTransport | None = None,
        credential_store: CredentialStore | None = None,
    ) -> None:
        assert isinstance(account, AcmeAccount)
        self.account_name = account_name
        self.http = PortalHttp(
            portal=self.name,
            account=account_name,
            base_url=settings.base_url,
            error_mapper=lambda r: map_error(r, self.name),
            auth=_Bearer(account.token),
            transport=transport,
            timeout=settings.timeout,
            max_concurrency=settings.max_concurrency,
            requests_per_second=settings.requests_per_second,
            max_attempts=settings.max_attempts,
            max_retry_wait=settings.max_retry_wait,
        )

    def prepare(self, listing: Listing) -> Prepared:
        return Prepared.of(self.preflight(listing), self.project(listing))

    def preflight(self, listing: Listing) -> list[FieldIssue]:
        issues = []
        if listing.asking_price is None and listing.status is not ListingStatus.SOLD:
            issues.append(
                FieldIssue(
                    path="asking_price",
                    message="an asking price is required",
                    portal=self.name,
                    portal_field="price",
                )
            )
        if not listing.media:
            issues.append(
                FieldIssue(
                    path="media",
                    message="listings without images get fewer views",
                    portal=self.name,
                    severity=Severity.WARNING,
                )
            )
        return issues

    def project(self, listing: Listing) -> Projection:
        fields: dict[str, Any] = {
            "title": next(iter(listing.headline.values()), listing.address.street),
            "city": listing.address.city,
            "price": int(listing.asking_price.amount) if listing.asking_price else None,
            "rooms": str(listing.rooms) if listing.rooms is not None else None,
            "agency": listing.agency.external_ref,
        }
        media = tuple(
            ProjectedItem(key=media_key(str(m.url)), canonical_index=i, payload={"url": str(m.url)})
            for i, m in enumerate(listing.media)
        )
        target = {
            ListingStatus.DRAFT: TargetState.DRAFT,
            ListingStatus.COMING_SOON: TargetState.DRAFT,
            ListingStatus.FOR_SALE: TargetState.PUBLISHED,
            ListingStatus.SOLD: TargetState.SOLD,
            ListingStatus.WITHDRAWN: TargetState.UNPUBLISHED,
        }[listing.status]
        sale = {"price": int(listing.sale.price.amount)} if listing.sale else None
        return Projection(
            external_ref=listing.external_ref,
            fields={k: v for k, v in fields.items() if v is not None},
            media=media,
            target=target,
            sale=sale,
        )

    async def apply(self, op: Operation, ctx: OperationContext) -> OperationResult:
        rid = ctx.remote_id
        base = f"/listings/{rid}"
        req = self.http.request
        if op.kind is OpKind.CREATE:
            body = (
                await req("POST", "/listings", json={"externalId": ctx.external_ref, **op.payload})
            ).json()
            return OperationResult(remote_id=body["id"], status=PortalStatus.DRAFT)
        if op.kind is OpKind.UPDATE:
            await req("PATCH", base, json=op.changes)
            return OperationResult()
        if op.kind is OpKind.DELETE:
            await req("DELETE", base)
            return OperationResult(status=PortalStatus.DELETED, is_visible=False)
        if op.kind is OpKind.MEDIA_ADD:
            body = (await req("POST", f"{base}/images", json={"key": op.key, **op.payload})).json()
            return OperationResult(remote_id=body["id"])
        if op.kind is OpKind.MEDIA_REMOVE:
            image_id = ctx.item_ids.get(op.key or "")
            if image_id is not None:
                await req("DELETE", f"{base}/images/{image_id}")
            return OperationResult()
        path = {OpKind.PUBLISH: "publish", OpKind.UNPUBLISH: "unpublish", OpKind.MARK_SOLD: "sold"}
        body = (
            await req("POST", f"{base}/{path[op.kind]}", json=op.payload, idempotent=True)
        ).json()
        return OperationResult(
            status=PortalStatus(body["status"]), is_visible=body["visible"], is_approved=True
        )

    async def recover(self, op: Operation, ctx: OperationContext) -> OperationResult | None:
        if op.kind is OpKind.CREATE:
            found = (
                await self.http.request("GET", "/listings", params={"externalId": ctx.external_ref})
            ).json()["listings"]
            return OperationResult(remote_id=found[0]["id"]) if found else None
        if op.kind is OpKind.MEDIA_ADD and ctx.remote_id:
            images = (await self.http.request("GET", f"/listings/{ctx.remote_id}/images")).json()
            hit = [i for i in images["images"] if i["key"] == op.key]
            return OperationResult(remote_id=hit[0]["id"]) if hit else None
        return None

    async def fetch(self, external_ref: str, remote_id: str | None) -> RemoteRecord | None:
        found = (
            await self.http.request("GET", "/listings", params={"externalId": external_ref})
        ).json()["listings"]
        if not found:
            return None
        item = found[0]
        return RemoteRecord(
            remote_id=item["id"], external_ref=external_ref, status=PortalStatus(item["status"])
        )

    async def check(self) -> None:
        await self.http.request("GET", "/listings")

    async def aclose(self) -> None:
        await self.http.aclose()


class BetaAdapter(AcmeAdapter):
    """The same portal software under another name: a second portal in account tests."""

    name: ClassVar[str] = "beta"


def _error(status: int, message: str, field: str | None = None) -> JSONResponse:
    item = {"message": message, **({"field": field} if field else {})}
    return JSONResponse({"errors": [item]}, status)


class AcmeSandbox(Sandbox):
    """The fake acme portal (in-memory, per-principal listings)."""

    name: ClassVar[str] = "acme"

    def __init__(
        self,
        *,
        faults: FaultConfig | None = None,
        clock: Callable[[], float] = time.time,
        tokens: Mapping[str, str] | None = None,
        hold_seconds: float = 0.0,
    ) -> None:
        self.tokens = dict(tokens or {"tok-default": "default"})
        self.revoked: set[str] = set()
        self.listings: dict[str, dict[str, Any]] = {}
        self.hold_seconds = hold_seconds
        self.in_flight: dict[str, int] = defaultdict(int)
        self.max_in_flight: dict[str, int] = defaultdict(int)
        self.pause_on_create: int | None = None
        self.paused = False
        self.release = False
        self.creates = 0
        self._ids = itertools.count(1)
        super().__init__(faults=faults, clock=clock)

    # -- Sandbox contract ------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/listings", self._create, methods=["POST"]),
            Route("/listings", self._search, methods=["GET"]),
            Route("/listings/{lid}", self._patch, methods=["PATCH"]),
            Route("/listings/{lid}", self._delete, methods=["DELETE"]),
            Route("/listings/{lid}/images", self._add_image, methods=["POST"]),
            Route("/listings/{lid}/images", self._images, methods=["GET"]),
            Route("/listings/{lid}/images/{iid}", self._remove_image, methods=["DELETE"]),
            Route("/listings/{lid}/{action}", self._transition, methods=["POST"]),
        ]

    def principal(self, request: Request) -> str | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return self.tokens.get(token)

    def client_settings(self, base_url: str, account: str = "default") -> dict[str, Any]:
        token = next(t for t, p in self.tokens.items() if p == account)
        return {"base_url": base_url, "token": token}

    def fault_response(self, status: int, headers: Mapping[str, str]) -> Response:
        return JSONResponse({"errors": [{"message": "injected"}]}, status, dict(headers))

    # -- helpers for tests -----------------------------------------------------------------
    def by_external_id(self, principal: str | None = None) -> dict[str, int]:
        """How many listings each externalId has (per principal when given)."""
        counts: dict[str, int] = defaultdict(int)
        for item in self.listings.values():
            if principal is None or item["principal"] == principal:
                counts[item["externalId"]] += 1
        return dict(counts)

    def duplicates(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for item in self.listings.values():
            counts[(item["principal"], item["externalId"])] += 1
        return {k: n for k, n in counts.items() if n > 1}

    def image_duplicates(self) -> int:
        return sum(
            len(item["images"]) - len({i["key"] for i in item["images"].values()})
            for item in self.listings.values()
        )

    # -- endpoints -------------------------------------------------------------------------
    async def _auth(self, request: Request) -> str | Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.tokens or token in self.revoked:
            return _error(401, "invalid or revoked token")
        return self.tokens[token]

    async def _enter(self, principal: str) -> None:
        self.in_flight[principal] += 1
        self.max_in_flight[principal] = max(
            self.max_in_flight[principal], self.in_flight[principal]
        )
        if self.hold_seconds:
            await asyncio.sleep(self.hold_seconds)
        self.in_flight[principal] -= 1

    def _owned(self, request: Request, principal: str) -> dict[str, Any] | None:
        item = self.listings.get(request.path_params["lid"])
        return item if item is not None and item["principal"] == principal else None

    async def _create(self, request: Request) -> Response:
        principal = await self._auth(request)
        if isinstance(principal, Response):
            return principal
        await self._enter(principal)
        body = await request.json()
        if body.get("price") is not None and body["price"] > 900_000_000:
            return _error(422, "price is not plausible", "price")
        lid = f"L{next(self._ids)}"
        ext = body.pop("externalId")
        self.listings[lid] = {
            "id": lid,
            "externalId": ext,
            "principal": principal,
            "fields": body,
            "status": "draft",
            "images": {},
        }
        self.creates += 1
        if self.pause_on_create == self.creates:
            self.paused = True
            while not self.release:
                await asyncio.sleep(0.01)
        return JSONResponse({"id": lid, "status": "draft"}, 201)

    async def _search(self, request: Request) -> Response:
        principal = await self._auth(request)
        if isinstance(principal, Response):
            return principal
        ext = request.query_params.get("externalId")
        found = [
            {"id": i["id"], "externalId": i["externalId"], "status": i["status"]}
            for i in self.listings.values()
            if i["principal"] == principal and (ext is None or i["externalId"] == ext)
        ]
        return JSONResponse({"listings": found, "totalCount": len(found)})

    async def _patch(self, request: Request) -> Response:
        principal = await self._auth(request)
        if isinstance(principal, Response):
            return principal
        await self._enter(principal)
        item = self._owned(request, principal)
        if item is None:
            return _error(404, "no such listing")
        for key, value in (await request.json()).items():
            if value is None:
                item["fields"].pop(key, None)
            else:
                item["fields"][key] = value
        return JSONResponse({"id": item["id"]})

    async def _delete(self, request: Request) -> Response:
        principal = await self._auth(request)
        if isinstance(principal, Response):
            return principal
        item = self._owned(request, principal)
        if item is None:
            return _error(404, "no such listing")
        item["status"] = "deleted"
        return Response(status_code=204)

    async def _add_image(self, request: Request) -> Response:
        principal = await self._auth(request)
        if isinstance(principal, Response):
            return principal
        await self._enter(principal)
        item = self._owned(request, principal)
        if item is None:
            return _error(404, "no such listing")
        body = await request.json()
        iid = f"I{next(self._ids)}"
        item["images"][iid] = {"id": iid, "key": body["key"], "url": body["url"]}
        return JSONResponse({"id": iid}, 201)

    async def _images(self, request: Request) -> Response:
        principal = await self._auth(request)
        if isinstance(principal, Response):
            return principal
        item = self._owned(request, principal)
        if item is None:
            return _error(404, "no such listing")
        return JSONResponse({"images": list(item["images"].values())})

    async def _remove_image(self, request: Request) -> Response:
        principal = await self._auth(request)
        if isinstance(principal, Response):
            return principal
        item = self._owned(request, principal)
        if item is None:
            return _error(404, "no such listing")
        item["images"].pop(request.path_params["iid"], None)
        return Response(status_code=204)

    async def _transition(self, request: Request) -> Response:
        principal = await self._auth(request)
        if isinstance(principal, Response):
            return principal
        await self._enter(principal)
        item = self._owned(request, principal)
        action = request.path_params["action"]
        if item is None or action not in ("publish", "unpublish", "sold"):
            return _error(404, "not found")
        if action == "publish" and not item["images"]:
            return _error(409, "a listing needs an image to be published")
        item["status"] = {"publish": "live", "unpublish": "withdrawn", "sold": "sold"}[action]
        if action == "sold":
            item["sale"] = await request.json()
        return JSONResponse({"status": item["status"], "visible": item["status"] == "live"})


def listing_data(
    ref: str,
    *,
    agency: str = "agency-a",
    price: int | None = 2_000_000,
    images: int = 2,
    portals: tuple[str, ...] = ("acme",),
    status: str = "for_sale",
    **extra: Any,
) -> dict[str, Any]:
    """A valid canonical listing as JSON-ready data."""
    data: dict[str, Any] = {
        "external_ref": ref,
        "agency": {"external_ref": agency, "name": f"Agency {agency}"},
        "category": "apartment",
        "status": status,
        "address": {
            "country": "SE",
            "street": "Storgatan 1",
            "postal_code": "11122",
            "city": "Stockholm",
        },
        "headline": {"sv": f"Lägenhet {ref}"},
        "rooms": "3",
        "media": [{"url": f"https://img.example.com/{ref}/{i}.jpg"} for i in range(images)],
        "portals": list(portals),
    }
    if price is not None:
        data["asking_price"] = {"amount": str(price), "currency": "SEK"}
    if status == "sold":
        data["sale"] = {
            "price": {"amount": str(price or 1), "currency": "SEK"},
            "date": "2026-05-01",
            "price_public": True,
        }
    data.update(extra)
    return data
