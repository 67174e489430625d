"""`HemnetAdapter`: the listing lifecycle on Hemnet's BrokerAPI, orchestrated.

Speaks the BrokerAPI ("BostadsAPI") as Hemnet's guides describe it, over the paths of
`client.ROUTES`. One instance serves one Hemnet account (one API key lineage). Mapping lives in
mapping.py, the offline rules in rules.py, HTTP in client.py, keys in auth.py, error answers in
errors.py; this module only orchestrates.

Agencies: the projection carries the agency's identity as `refs["agency"]` (the BrokerAgency
body, keyed by the canonical `externalId`), never inside the listing fields. A create resolves
it, and an update resolves it when it changed: the adapter ensures the agency on Hemnet (look up
by `externalId`, create when missing, cache the id) and sends `brokerAgencyId`. Agency details
are not updated on Hemnet after creation (the wire contract has no agency PATCH).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, ClassVar

import httpx

from listsync.adapter import (
    AccountSettings,
    AdapterSettings,
    Capability,
    CreatedRefs,
    CredentialStore,
    FieldIssue,
    Operation,
    OperationContext,
    OperationResult,
    OpKind,
    Prepared,
    Projection,
    RemoteRecord,
    Severity,
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
from listsync.log import get_logger, info_enabled
from listsync.model import Agency, Listing
from listsync_hemnet import mapping, rules
from listsync_hemnet._support import (
    SharedTransport,
    at_item,
    canonical_index,
    listing_result,
    portal_status,
    remote_of,
    same_instant,
)
from listsync_hemnet.auth import (
    HemnetKeyAuth,
    KeyManager,
    SharedCredentials,
    credentials,
    token_origin,
)
from listsync_hemnet.client import PAGE_SIZE, HemnetClient
from listsync_hemnet.errors import map_error
from listsync_hemnet.settings import PORTAL, HemnetAccount, HemnetSettings

__all__ = ["HemnetAdapter"]

log = get_logger(__name__)
_stdlib_log = logging.getLogger(__name__)

# The method that applies each kind of operation (looked up per call, so tests can wrap one).
_HANDLERS = {
    OpKind.CREATE: "_create",
    OpKind.UPDATE: "_update",
    OpKind.MEDIA_ADD: "_media_add",
    OpKind.MEDIA_REMOVE: "_media_remove",
    OpKind.SHOWING_CREATE: "_showing_create",
    OpKind.SHOWING_UPDATE: "_showing_update",
    OpKind.SHOWING_DELETE: "_showing_delete",
    OpKind.PUBLISH: "_publish",
    OpKind.UNPUBLISH: "_unpublish",
    OpKind.MARK_SOLD: "_mark_sold",
}

JSON = dict[str, Any]

_LEGACY_AGENCY_FIELD = "_agency"
"""Where projections and operations stored before refs existed kept the agency (as a field):
never sent, and its removal from the fields is not a change to send."""


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
            "error_mapper": functools.partial(map_error, account=account_name),
            "request_id_header": "X-Request-Id",
        }
        keys_transport = SharedTransport(transport) if transport is not None else None
        keys_http = PortalHttp.from_settings(settings, transport=keys_transport, **common)
        self.keys = KeyManager(
            client=HemnetClient(keys_http, retry=False),
            token=token,
            key_id=key_id,
            window=account.rotate_within_hours * 3600,
            revoke_old=account.revoke_old,
            store=store,
            clock=clock,
            account=account_name,
            shared=credential_store if isinstance(credential_store, SharedCredentials) else None,
            origin=token_origin(account.token, settings.base_url),
        )
        http = PortalHttp.from_settings(
            settings, auth=HemnetKeyAuth(self.keys), transport=transport, **common
        )
        self.client = HemnetClient(http)
        self._keys_http = keys_http
        self._agency_ids: dict[str, str] = {}
        self._agencies: dict[str, JSON] = {}
        self._agency_lock = asyncio.Lock()
        self._agency_misses: set[str] = set()
        self._index: dict[str, list[tuple[str, str]]] | None = None
        self._index_lock = asyncio.Lock()
        self._created = CreatedRefs()  # what this instance created (not kept in the index)

    # -- contract: offline -----------------------------------------------------------------
    def prepare(self, listing: Listing) -> Prepared:
        """Hemnet's offline rules (rules.py) and, unless one is an error, the projection
        (`mapping.project`)."""
        urls = mapping.media_urls(listing)
        issues = rules.preflight(listing, urls=urls)
        if not issues:  # most listings: nothing to look through
            return Prepared((), mapping.project(listing, urls))
        if any(issue.severity is Severity.ERROR for issue in issues):
            return Prepared(tuple(issues), None)
        return Prepared(tuple(issues), mapping.project(listing, urls))

    # -- contract: I/O ---------------------------------------------------------------------
    async def check(self) -> None:
        """`GET /keys`: raises `AuthenticationError` when the key is refused."""
        await self.client.list_keys()

    async def aclose(self) -> None:
        await self.client.http.aclose()
        await self._keys_http.aclose()

    async def apply(self, op: Operation, ctx: OperationContext) -> OperationResult:
        """Execute one operation; "already in that state" counts as success."""
        name = _HANDLERS.get(op.kind)
        if name is None:
            raise ConflictError(f"Hemnet cannot {op.kind.value} a listing", portal=PORTAL)
        result: OperationResult = await getattr(self, name)(op, ctx)
        if info_enabled(_stdlib_log):
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
            self._remember(ctx.external_ref, str(first["id"]))
            return listing_result(first, remote_id=str(first["id"]))
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

    async def fetch(
        self, external_ref: str, remote_id: str | None, *, like: Projection | None = None
    ) -> RemoteRecord | None:
        """The listing as Hemnet holds it, with its images and showings, as a `RemoteRecord`
        whose `projection` is in `prepare`'s terms (`mapping.read_projection`; `like` settles
        what Hemnet says differently, e.g. housing-form codes by series); None when Hemnet has
        no such record.

        By `remote_id`: `GET /listings/{id}` (404 -> None). By `external_ref`: the account's
        index (`_lookup`: `GET /listings` paged at the largest page size once per adapter
        instance, then answered from memory), then `GET /listings/{id}` of the record found.
        Either way `GET .../images` and `GET .../showings` follow, and the account's agencies
        are listed once per instance. So a record found costs 3 requests, a ref not on
        Hemnet none beyond the index pages (`ceil(listings / 100)`, at least 1).
        """
        if remote_id is None:
            remote_id = await self._lookup(external_ref)
            if remote_id is None:
                return None
        try:
            reply = await self.client.get_listing(remote_id)
        except NotFoundError:
            self._forget(external_ref, remote_id)
            return None
        body, listing_id = reply.body, reply.id
        images = await self.client.list_images(listing_id)
        showings = await self.client.list_showings(listing_id)
        agency_body = await self._agency_body(body.get("brokerAgencyId"))
        projection, item_ids = mapping.read_projection(
            body, agency=agency_body, images=images, showings=showings, like=like
        )
        listing: Listing | None = None
        try:
            listing = mapping.from_hemnet_listing(
                body, agency=_agency_model(agency_body), images=images, showings=showings
            )
        except InvalidListingError as exc:
            log.warning("hemnet_read_back_invalid", listing=external_ref, problems=len(exc.issues))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            # A body of a shape the mapping does not expect: the record without its listing.
            log.warning("hemnet_read_back_unreadable", listing=external_ref, error=repr(exc))
        return RemoteRecord(
            remote_id=listing_id,
            external_ref=body.get("externalId"),
            status=portal_status(body),
            is_visible=body.get("isVisible"),
            is_approved=body.get("isApproved"),
            approval_url=body.get("approvalUrl"),
            listing=listing,
            projection=projection,
            item_ids=item_ids,
        )

    async def records(self) -> AsyncIterator[tuple[str | None, str]]:
        """`(externalId, id)` of every listing of this account, each once (`GET /listings`
        paged to the end at the largest page size)."""
        seen: set[str] = set()
        async for body in self.client.listings():
            listing_id = str(body["id"])  # list entries are checked for their id
            if listing_id in seen:
                continue
            seen.add(listing_id)
            ref = body.get("externalId")
            yield (str(ref) if ref is not None else None), listing_id

    # -- the account's index -----------------------------------------------------------------
    async def _lookup(self, external_ref: str) -> str | None:
        """Hemnet's id of the listing with this `externalId` (the oldest, should there be
        several), from the index of the account's listings read once per instance.

        Listings this instance creates are found too (`_created_here`), not kept in the index;
        one created meanwhile by another system is not seen until the next instance (the next
        run). `recover()` does not use the index: it asks Hemnet (`externalId` filter) what a
        lost create left.
        """
        async with self._index_lock:
            if self._index is None:
                index: dict[str, list[tuple[str, str]]] = {}
                async for body in self.client.listings():
                    ref = body.get("externalId")
                    if ref is not None:
                        entry = (str(body.get("createdAt") or ""), str(body["id"]))
                        index.setdefault(str(ref), []).append(entry)
                self._index = {ref: sorted(set(found)) for ref, found in index.items()}
                log.debug("hemnet_index_built", account=self.account_name, refs=len(index))
        found = self._index.get(external_ref)
        if found:  # older than anything this instance created
            return found[0][1]
        return await self._created_here(external_ref)

    async def _created_here(self, external_ref: str) -> str | None:
        """Hemnet's id of a listing this instance created, None when it created none with
        this ref. The latest creates are known with their ids (`CreatedRefs`, bounded, so the
        memory of a long run does not grow with every listing); an earlier one (or, rarely, a
        ref the filter claims wrongly) is asked for by `externalId` (the oldest is the one)."""
        if external_ref not in self._created:
            return None
        recent = self._created.remote_id(external_ref)
        if recent is not None:
            return recent
        found = await self.client.find_listings(external_ref)
        if not found:
            return None
        return str(min(found, key=lambda body: str(body.get("createdAt", "")))["id"])

    def _remember(self, external_ref: str, listing_id: str) -> None:
        self._created.add(external_ref, listing_id)

    def _forget(self, external_ref: str, listing_id: str) -> None:
        if self._created.remote_id(external_ref) == listing_id:
            self._created.discard(external_ref)
        if self._index is not None and external_ref in self._index:
            kept = [e for e in self._index[external_ref] if e[1] != listing_id]
            if kept:
                self._index[external_ref] = kept
            else:
                del self._index[external_ref]

    # -- agencies --------------------------------------------------------------------------
    async def _ensure_agency(self, body: JSON) -> str:
        """Hemnet's id of the agency `body` describes, creating the agency when missing."""
        external_id = str(body["externalId"])
        async with self._agency_lock:
            if external_id in self._agency_ids:
                return self._agency_ids[external_id]
            found = await self.client.find_agencies(external_id)  # entries have an id
            if found:
                agency = found[0]
            else:
                try:
                    reply = await self.client.create_agency(body)
                    agency = {**reply.body, "id": reply.id}
                except (UnknownOutcomeError, ConflictError, PortalValidationError):
                    # The answer was lost, or another run (a worker sharing the account)
                    # created the agency since the look-up ("externalId is already taken"):
                    # look again before giving up.
                    found = await self.client.find_agencies(external_id)
                    if not found:
                        raise
                    agency = found[0]
                log.info("hemnet_agency_created", account=self.account_name, agency=external_id)
            agency_id = str(agency["id"])
            self._agency_ids[external_id] = agency_id
            self._agencies[agency_id] = agency
            return agency_id

    async def _agency_body(self, agency_id: Any) -> JSON | None:
        """The BrokerAgency body with this id; None when Hemnet has none. The account's
        agencies are listed when an id is not known yet, once per unknown id and instance."""
        if agency_id is None:
            return None
        wanted = str(agency_id)
        async with self._agency_lock:
            if wanted not in self._agencies and wanted not in self._agency_misses:
                for agency in await self.client.find_agencies():
                    self._agencies[str(agency["id"])] = agency
                    self._agency_ids.setdefault(str(agency.get("externalId")), str(agency["id"]))
                if wanted not in self._agencies:
                    self._agency_misses.add(wanted)
        return self._agencies.get(wanted)

    async def _agency_id(self, ref: Any) -> str:
        """Hemnet's id for the projection's agency ref (the BrokerAgency body)."""
        if not isinstance(ref, Mapping) or not ref.get("externalId"):
            raise ValueError(f"the agency ref has no externalId: {ref!r}")  # not from prepare
        return await self._ensure_agency(dict(ref))

    # -- listing -----------------------------------------------------------------------------
    async def _create(self, op: Operation, ctx: OperationContext) -> OperationResult:
        body = dict(op.payload or ctx.projection.fields)
        body.pop(_LEGACY_AGENCY_FIELD, None)  # a create journalled before refs existed
        refs = op.refs or ctx.projection.refs
        if mapping.AGENCY in refs:
            body["brokerAgencyId"] = await self._agency_id(refs[mapping.AGENCY])
        reply = await self.client.create_listing(body)
        self._remember(ctx.external_ref, reply.id)
        return listing_result(reply, remote_id=reply.id)

    async def _update(self, op: Operation, ctx: OperationContext) -> OperationResult:
        listing_id = remote_of(ctx)
        changes = dict(op.changes)
        changes.pop(_LEGACY_AGENCY_FIELD, None)
        if op.refs.get(mapping.AGENCY) is not None:  # changed (None: unset, which Hemnet cannot do)
            changes["brokerAgencyId"] = await self._agency_id(op.refs[mapping.AGENCY])
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
        return OperationResult(remote_id=reply.id, request_id=reply.request_id)

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
                        rule="publish-image",
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
            rule="image-failed",
        )

    # -- showings ----------------------------------------------------------------------------
    async def _showing_create(self, op: Operation, ctx: OperationContext) -> OperationResult:
        try:
            reply = await self.client.create_showing(remote_of(ctx), dict(op.payload))
        except PortalValidationError as exc:
            raise at_item(exc, canonical_index(ctx.projection.showings, op.key)) from None
        return OperationResult(remote_id=reply.id, request_id=reply.request_id)

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
        if info_enabled(_stdlib_log):
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


def _agency_model(body: JSON | None) -> Agency:
    """The canonical agency of a BrokerAgency body (placeholders when Hemnet has none)."""
    body = body or {}
    return Agency(
        external_ref=str(body.get("externalId") or "unknown"),
        name=str(body.get("name") or "unknown"),
        email=body.get("emailAddress"),
    )
