"""`HemnetAdapter`: the listing lifecycle on Hemnet's BrokerAPI, orchestrated.

Speaks the BrokerAPI ("BostadsAPI") as described in portal-docs/hemnet-*.txt, over the paths of
DESIGN.md's wire contract (client.ROUTES). One instance serves one Hemnet account (one API key
lineage). Mapping lives in mapping.py, preflight in rules.py, HTTP in client.py, keys in keys.py.

Agencies: the projection carries the agency's canonical identity under `mapping.AGENCY_KEY`;
on create (and when it changes) the adapter ensures the agency on Hemnet (look up by
`externalId`, create when missing, cache the id) and sends `brokerAgencyId` instead.
Agency details are not updated on Hemnet after creation (the wire contract has no agency PATCH).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from typing import Any, ClassVar

import httpx
import structlog

from listsync.adapter import (
    AccountSettings,
    AdapterSettings,
    Capability,
    CredentialStore,
    FieldIssue,
    Operation,
    OperationContext,
    OperationResult,
    OpKind,
    Projection,
    RemoteRecord,
    Severity,
    TargetState,
)
from listsync.errors import (
    ConflictError,
    InvalidListingError,
    NotFoundError,
    PortalValidationError,
    TransientError,
    UnknownOutcomeError,
)
from listsync.http import PortalHttp
from listsync.model import Agency, Listing, ListingStatus
from listsync.sync import ProjectionDiff, default_plan
from listsync_hemnet import mapping, rules
from listsync_hemnet._support import (
    SharedTransport,
    at_item,
    canonical_index,
    credentials,
    listing_result,
    portal_status,
    remote_of,
    same_instant,
)
from listsync_hemnet.client import PAGE_SIZE, HemnetClient, Reply
from listsync_hemnet.errors import PORTAL, hemnet_error
from listsync_hemnet.keys import (
    HemnetKeyAuth,
    KeyManager,
)
from listsync_hemnet.settings import HemnetAccount, HemnetSettings

__all__ = ["HemnetAccount", "HemnetAdapter", "HemnetSettings"]

log = structlog.stdlib.get_logger(__name__)

JSON = dict[str, Any]

_TARGETS = {
    ListingStatus.DRAFT: TargetState.DRAFT,
    ListingStatus.COMING_SOON: TargetState.PUBLISHED,
    ListingStatus.FOR_SALE: TargetState.PUBLISHED,
    ListingStatus.SOLD: TargetState.SOLD,
    ListingStatus.WITHDRAWN: TargetState.UNPUBLISHED,
}


class HemnetAdapter:
    """Hemnet write adapter: create, patch, images, showings, publish, unpublish, mark sold."""

    name: ClassVar[str] = "hemnet"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.CREATE,
            Capability.UPDATE,
            Capability.PUBLISH,
            Capability.UNPUBLISH,
            Capability.MARK_SOLD,
            Capability.MEDIA,
            Capability.SHOWINGS,
            Capability.READ,
        }
    )
    settings_model: ClassVar[type[AdapterSettings]] = HemnetSettings
    account_model: ClassVar[type[AccountSettings]] = HemnetAccount

    def __init__(
        self,
        settings: HemnetSettings,
        account: HemnetAccount,
        *,
        account_name: str = "default",
        transport: httpx.AsyncBaseTransport | None = None,
        credential_store: CredentialStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Build the adapter for one account.

        Args:
            clock: wall-clock time for key expiry (tests pass the sandbox's clock).
        """
        self.settings = settings
        self.account = account
        self.account_name = account_name
        token, key_id, store = credentials(
            account, account_name, credential_store, base_url=settings.base_url
        )
        common: dict[str, Any] = {
            "portal": PORTAL,
            "account": account_name,
            "error_mapper": functools.partial(hemnet_error, account=account_name),
        }
        keys_transport = SharedTransport(transport) if transport is not None else None
        keys_http = PortalHttp.from_settings(settings, transport=keys_transport, **common)
        self.keys = KeyManager(
            client=HemnetClient(keys_http),
            token=token,
            key_id=key_id,
            window=account.rotate_within_hours * 3600,
            revoke_old=account.revoke_old,
            store=store,
            clock=clock,
            account=account_name,
        )
        http = PortalHttp.from_settings(
            settings, auth=HemnetKeyAuth(self.keys), transport=transport, **common
        )
        self.client = HemnetClient(http)
        self._keys_http = keys_http
        self._agency_ids: dict[str, str] = {}
        self._agencies: dict[str, JSON] = {}
        self._agency_lock = asyncio.Lock()
        # The media URLs `preflight` read, as text, handed to the `project` call of the same
        # listing that (in the planner) follows it: read once per listing instead of twice.
        self._preflighted: tuple[Listing, list[str]] | None = None

    # -- contract: offline -----------------------------------------------------------------
    def preflight(self, listing: Listing) -> list[FieldIssue]:
        """Hemnet's offline rules; see rules.py."""
        urls = mapping.media_urls(listing)
        self._preflighted = (listing, urls)  # holds `listing`: its id is not reused
        return rules.preflight(listing, urls=urls)

    def _media_urls(self, listing: Listing) -> list[str]:
        """The media URLs `preflight` read for this very listing object, else read anew."""
        memo = self._preflighted
        if memo is not None and memo[0] is listing:
            self._preflighted = None
            return memo[1]
        return mapping.media_urls(listing)

    def project(self, listing: Listing) -> Projection:
        """The Hemnet listing body, images, showings and lifecycle target of `listing`."""
        fields = mapping.to_hemnet_listing(listing)
        fields[mapping.AGENCY_KEY] = mapping.to_hemnet_agency(listing.agency)
        target = _TARGETS[listing.status]
        sale = None
        if target is TargetState.SOLD and listing.sale is not None:
            sale = mapping.hemnet_sale(listing.sale)
        return Projection(
            external_ref=listing.external_ref,
            fields=fields,
            media=mapping.hemnet_images(listing, self._media_urls(listing)),
            showings=mapping.hemnet_showings(listing),
            target=target,
            sale=sale,
        )

    def plan(self, diff: ProjectionDiff) -> list[Operation]:
        return default_plan(diff, self.capabilities)

    # -- contract: I/O ---------------------------------------------------------------------
    async def check(self) -> None:
        """`GET /keys`: raises `AuthenticationError` when the key is refused."""
        await self.client.list_keys()

    async def aclose(self) -> None:
        await self.client.http.aclose()
        await self._keys_http.aclose()

    async def apply(self, op: Operation, ctx: OperationContext) -> OperationResult:
        """Execute one operation; "already in that state" counts as success."""
        handlers = {
            OpKind.CREATE: self._create,
            OpKind.UPDATE: self._update,
            OpKind.MEDIA_ADD: self._media_add,
            OpKind.MEDIA_REMOVE: self._media_remove,
            OpKind.SHOWING_CREATE: self._showing_create,
            OpKind.SHOWING_UPDATE: self._showing_update,
            OpKind.SHOWING_DELETE: self._showing_delete,
            OpKind.PUBLISH: self._publish,
            OpKind.UNPUBLISH: self._unpublish,
            OpKind.MARK_SOLD: self._mark_sold,
        }
        handler = handlers.get(op.kind)
        if handler is None:
            raise ConflictError(f"Hemnet cannot {op.kind.value} a listing", portal=PORTAL)
        result = await handler(op, ctx)
        log.info(
            "hemnet_operation_applied",
            account=self.account_name,
            listing=ctx.external_ref,
            operation=op.describe(),
            remote_id=result.remote_id or ctx.remote_id,
        )
        return result

    async def recover(self, op: Operation, ctx: OperationContext) -> OperationResult | None:
        """Find what a non-idempotent operation created, if it landed (by externalId, image
        URL or showing start)."""
        if op.kind is OpKind.CREATE:
            found = await self.client.find_listings(ctx.external_ref)
            if not found:
                return None
            first = min(found, key=lambda body: str(body.get("createdAt", "")))
            return listing_result(Reply(first, None), remote_id=str(first["id"]))
        if ctx.remote_id is None:
            return None
        if op.kind is OpKind.MEDIA_ADD:
            images = await self.client.list_images(ctx.remote_id)
            match = [i for i in images if i.get("url") == op.payload.get("url")]
        elif op.kind is OpKind.SHOWING_CREATE:
            showings = await self.client.list_showings(ctx.remote_id)
            start = op.payload.get("startAt")
            match = [s for s in showings if same_instant(s.get("startAt"), start)]
        else:
            return None
        return OperationResult(remote_id=str(match[0]["id"])) if match else None

    async def fetch(self, external_ref: str, remote_id: str | None) -> RemoteRecord | None:
        """Read the listing back (with its images and showings) as a `RemoteRecord`."""
        if remote_id is not None:
            try:
                body = (await self.client.get_listing(remote_id)).body
            except NotFoundError:
                return None
        else:
            found = await self.client.find_listings(external_ref)
            if not found:
                return None
            body = found[0]
        listing_id = str(body["id"])
        images = await self.client.list_images(listing_id)
        showings = await self.client.list_showings(listing_id)
        agency = await self._agency_of(body.get("brokerAgencyId"))
        listing: Listing | None = None
        try:
            listing = mapping.from_hemnet_listing(
                body, agency=agency, images=images, showings=showings
            )
        except InvalidListingError as exc:
            log.warning("hemnet_read_back_invalid", listing=external_ref, problems=len(exc.issues))
        return RemoteRecord(
            remote_id=listing_id,
            external_ref=body.get("externalId"),
            status=portal_status(body),
            is_visible=body.get("isVisible"),
            is_approved=body.get("isApproved"),
            approval_url=body.get("approvalUrl"),
            listing=listing,
        )

    # -- agencies --------------------------------------------------------------------------
    async def _ensure_agency(self, body: JSON) -> str:
        """Hemnet's id of the agency `body` describes, creating the agency when missing."""
        external_id = str(body["externalId"])
        async with self._agency_lock:
            if external_id in self._agency_ids:
                return self._agency_ids[external_id]
            found = await self.client.find_agencies(external_id)
            if not found:
                try:
                    found = [(await self.client.create_agency(body)).body]
                except UnknownOutcomeError:
                    # The answer was lost: the agency may exist now; look before giving up.
                    found = await self.client.find_agencies(external_id)
                    if not found:
                        raise
                log.info("hemnet_agency_created", account=self.account_name, agency=external_id)
            agency = found[0]
            self._agency_ids[external_id] = str(agency["id"])
            self._agencies[str(agency["id"])] = agency
            return str(agency["id"])

    async def _agency_of(self, agency_id: Any) -> Agency:
        if agency_id is not None and str(agency_id) not in self._agencies:
            for agency in await self.client.find_agencies():
                self._agencies[str(agency["id"])] = agency
        body = self._agencies.get(str(agency_id), {})
        return Agency(
            external_ref=str(body.get("externalId") or "unknown"),
            name=str(body.get("name") or "unknown"),
            email=body.get("emailAddress"),
        )

    async def _with_agency(self, fields: JSON) -> JSON:
        """`fields` for the wire: adapter-local keys stripped, the agency as `brokerAgencyId`."""
        out = {k: v for k, v in fields.items() if not k.startswith("_")}
        agency = fields.get(mapping.AGENCY_KEY)
        if isinstance(agency, dict):
            out["brokerAgencyId"] = await self._ensure_agency(agency)
        return out

    # -- listing -----------------------------------------------------------------------------
    async def _create(self, op: Operation, ctx: OperationContext) -> OperationResult:
        body = await self._with_agency(op.payload or ctx.projection.fields)
        reply = await self.client.create_listing(body)
        return listing_result(reply, remote_id=str(reply.body["id"]))

    async def _update(self, op: Operation, ctx: OperationContext) -> OperationResult:
        listing_id = remote_of(ctx)
        changes = await self._with_agency(op.changes)
        if not changes:
            return listing_result(await self.client.get_listing(listing_id))
        return listing_result(await self.client.update_listing(listing_id, changes))

    # -- images ------------------------------------------------------------------------------
    async def _media_add(self, op: Operation, ctx: OperationContext) -> OperationResult:
        url, index = str(op.payload["url"]), int(op.payload["index"])
        try:
            reply = await self.client.create_image(remote_of(ctx), url, index)
        except PortalValidationError as exc:
            raise at_item(exc, canonical_index(ctx.projection.media, op.key)) from None
        return OperationResult(remote_id=str(reply.body["id"]), request_id=reply.request_id)

    async def _media_remove(self, op: Operation, ctx: OperationContext) -> OperationResult:
        image_id = ctx.item_ids.get(op.key or "")
        if image_id is None:
            return OperationResult()
        try:
            reply = await self.client.delete_image(remote_of(ctx), image_id)
        except NotFoundError:
            return OperationResult()  # already gone
        return OperationResult(request_id=reply.request_id)

    async def _await_images(self, listing_id: str, ctx: OperationContext) -> list[FieldIssue]:
        """Poll until no image is `in_progress` (deadline + backoff); failed images as issues.

        Raises:
            TransientError: images still processing at the deadline (retry later).
            PortalValidationError: no image completed, so Hemnet would refuse to publish.
        """
        limit = min(PAGE_SIZE, max(20, len(ctx.projection.media)))
        deadline = time.monotonic() + self.settings.image_poll_timeout
        delay = self.settings.image_poll_interval
        while True:
            images = await self.client.list_images(listing_id, limit=limit)
            pending = sum(1 for image in images if image.get("state") == "in_progress")
            if not pending:
                break
            if time.monotonic() >= deadline:
                message = f"{pending} image(s) still processing; publishing later"
                raise TransientError(message, portal=PORTAL, account=self.account_name)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.image_poll_max_interval)
        failed = [image for image in images if image.get("state") == "failed"]
        issues = [await self._image_issue(listing_id, image, ctx) for image in failed]
        if not any(image.get("state") == "completed" for image in images):
            if not issues:
                issues = [
                    FieldIssue(
                        path="media",
                        message="at least one image is required to publish",
                        portal=PORTAL,
                        portal_field="images",
                    )
                ]
            raise PortalValidationError(
                "no image could be processed", issues, portal=PORTAL, account=self.account_name
            )
        return [issue.model_copy(update={"severity": Severity.WARNING}) for issue in issues]

    async def _image_issue(self, listing_id: str, image: JSON, ctx: OperationContext) -> FieldIssue:
        detail = await self.client.get_image(listing_id, str(image["id"]))
        item = next((m for m in ctx.projection.media if m.payload["url"] == image.get("url")), None)
        return FieldIssue(
            path=f"media[{item.canonical_index}].url" if item else "media",
            message=str(detail.get("stateMessage") or "the image could not be processed"),
            portal=PORTAL,
            portal_field="url",
            rule="image_failed",
        )

    # -- showings ----------------------------------------------------------------------------
    async def _showing_create(self, op: Operation, ctx: OperationContext) -> OperationResult:
        try:
            reply = await self.client.create_showing(remote_of(ctx), dict(op.payload))
        except PortalValidationError as exc:
            raise at_item(exc, canonical_index(ctx.projection.showings, op.key)) from None
        return OperationResult(remote_id=str(reply.body["id"]), request_id=reply.request_id)

    async def _showing_update(self, op: Operation, ctx: OperationContext) -> OperationResult:
        showing_id = ctx.item_ids[op.key or ""]
        try:
            reply = await self.client.update_showing(remote_of(ctx), showing_id, dict(op.changes))
        except PortalValidationError as exc:
            raise at_item(exc, canonical_index(ctx.projection.showings, op.key)) from None
        return OperationResult(remote_id=showing_id, request_id=reply.request_id)

    async def _showing_delete(self, op: Operation, ctx: OperationContext) -> OperationResult:
        showing_id = ctx.item_ids.get(op.key or "")
        if showing_id is None:
            return OperationResult()
        try:
            reply = await self.client.delete_showing(remote_of(ctx), showing_id)
        except NotFoundError:
            return OperationResult()
        return OperationResult(request_id=reply.request_id)

    # -- lifecycle ---------------------------------------------------------------------------
    async def _publish(self, op: Operation, ctx: OperationContext) -> OperationResult:
        listing_id = remote_of(ctx)
        issues = await self._await_images(listing_id, ctx)
        try:
            reply = await self.client.publish(listing_id)
        except ConflictError:
            reply = await self.client.get_listing(listing_id)
            if not reply.body.get("isPublished"):
                raise
        log.info(
            "hemnet_listing_published",
            listing=ctx.external_ref,
            visible=reply.body.get("isVisible"),
        )
        return listing_result(reply, issues=tuple(issues))

    async def _unpublish(self, op: Operation, ctx: OperationContext) -> OperationResult:
        listing_id = remote_of(ctx)
        try:
            reply = await self.client.unpublish(listing_id)
        except ConflictError:
            reply = await self.client.get_listing(listing_id)
            if reply.body.get("isPublished"):
                raise
        return listing_result(reply)

    async def _mark_sold(self, op: Operation, ctx: OperationContext) -> OperationResult:
        listing_id = remote_of(ctx)
        sale = op.payload or ctx.projection.sale or {}
        try:
            reply = await self.client.mark_sold(listing_id, dict(sale))
        except ConflictError:
            reply = await self.client.get_listing(listing_id)
            if not reply.body.get("sale"):
                raise
        except PortalValidationError as exc:
            raise at_item(exc, 0) from None
        return listing_result(reply)
