"""The Immowelt write adapter (AVIV listing import API v1): orchestration only.

The settings are in `settings.py`, the token in `auth.py`, the wire calls in `client.py`, the
payload in `mapping.py`, the rules in `rules.py` and the error answers in `errors.py`.

Lifecycle: a created listing is published (no PUBLISH step). for_sale / coming_soon project to
PUBLISHED; draft, withdrawn and sold project to ABSENT, i.e. DELETE: Immowelt's listing import
API document has no sold endpoint in v1 and does not confirm `management.marketStatus` for this
API, so it only supports removing a sold listing. Updates are full, idempotent PUTs of the
whole projection.

Media: the bytes come from `media_mirror` or from the URL itself, fetched only from public
addresses unless a setting allows more (`_media.py`: no SSRF). `MEDIA_ADD` asks `POST /medias`
for a presigned URL and uploads the bytes within the 60 s window (asking again when the window
was missed); the listing's `media[]` references it by `externalMediaId`, so the create/update
that follows attaches it. `plan()` therefore orders media additions before the create/update.
Media removal needs no call: the next PUT drops the reference. `plan()` also blocks an update
that would change the estate type (rule 11).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from listsync.adapter import (
    AccountSettings,
    AdapterSettings,
    Capability,
    CreatedRefs,
    CredentialStore,
    Operation,
    OperationContext,
    OperationResult,
    OpKind,
    PortalStatus,
    Prepared,
    ProjectedItem,
    Projection,
    ProjectionDiff,
    RemoteRecord,
    TargetState,
    default_plan,
)
from listsync.errors import (
    ConflictError,
    FieldIssue,
    InvalidListingError,
    NotFoundError,
    PortalError,
    PortalValidationError,
)
from listsync.http import PortalHttp, default_transport, user_agent
from listsync.log import debug_enabled, get_logger, info_enabled
from listsync.model import Listing, parse_listing
from listsync_immowelt._media import (
    GuardedTransport,
    MediaPolicy,
    MediaRefusedError,
    Resolver,
    fetch_media,
    system_resolver,
)
from listsync_immowelt._readback import remote_projection
from listsync_immowelt.auth import ImmoweltAuth, SharedTokens, TokenManager, token_cache_file
from listsync_immowelt.client import REQUEST_ID_HEADER, ImmoweltClient
from listsync_immowelt.errors import map_error, with_listing_paths
from listsync_immowelt.mapping import from_immowelt_payload, project_with_urls
from listsync_immowelt.rules import check_mapped, currency_issues, rule_11_estate_type_unchanged
from listsync_immowelt.settings import PORTAL, ImmoweltAccount, ImmoweltSettings

__all__ = ["ImmoweltAdapter"]

log = get_logger(__name__)
_stdlib_log = logging.getLogger(__name__)
# `http(s)://netloc/path` with no query, fragment, userinfo or characters `urlsplit` strips.
_PLAIN_MEDIA_URL = re.compile(
    r"https?://(?P<netloc>[A-Za-z0-9.:-]+)(?P<path>(?:/[A-Za-z0-9._~/%-]*)?)"
)


def _text(value: Any) -> str | None:
    """A string member of an answer, None when absent or of another type (informational)."""
    return value if isinstance(value, str) and value else None


def _media_issue(index: int, reason: str) -> FieldIssue:
    return FieldIssue(
        path=f"media[{index}].url",
        message=f"the media file is not fetched: {reason}",
        portal=PORTAL,
        rule="media-url",
    )


class ImmoweltAdapter:
    """Writes listings to Immowelt for one API client (account)."""

    name: ClassVar[str] = PORTAL
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.CREATE, Capability.UPDATE, Capability.DELETE, Capability.MEDIA, Capability.READ}
    )
    settings_model: ClassVar[type[AdapterSettings]] = ImmoweltSettings
    account_model: ClassVar[type[AccountSettings]] = ImmoweltAccount

    def __init__(
        self,
        settings: ImmoweltSettings,
        account: ImmoweltAccount,
        *,
        account_name: str = "default",
        transport: httpx.AsyncBaseTransport | None = None,
        credential_store: CredentialStore | None = None,
        clock: Callable[[], float] = time.time,
        media_transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        """
        Args:
            transport: sends every request (default: listsync's; tests: the sandbox's).
            media_transport: connects for media downloads, after `GuardedTransport` checked
                the address (default: `transport`, else httpx's, which keeps the TLS server
                name of the host while connecting to the checked address); without either,
                media from trusted hosts (the mirror) go over listsync's kept-alive transport.
            resolver: resolves media hosts before they are checked (default: the system's).
        """
        self.settings = settings
        self.account = account
        self.account_name = account_name
        self.scopes = settings.requested_scopes(self.capabilities)
        self.tokens = TokenManager(
            client_id=account.client_id,
            client_secret=account.client_secret.get_secret_value(),
            token_url=settings.token_url,
            audience=settings.audience or settings.base_url,
            scopes=self.scopes,
            account=account_name,
            cache_path=account.token_cache_path
            or (
                token_cache_file(settings.token_cache_dir, account_name)
                if settings.token_cache_dir is not None
                else None
            ),
            leeway=settings.token_leeway,
            clock=clock,
            transport=transport,
            headers={"User-Agent": user_agent(settings.user_agent)},
            timeout=settings.timeout,
            shared=credential_store if isinstance(credential_store, SharedTokens) else None,
        )
        self._client = ImmoweltClient(
            self._http(transport, ImmoweltAuth(self.tokens)), self._http(transport, None)
        )
        self.media_policy = MediaPolicy.build(
            allow_private=settings.media_allow_private,
            allowed_hosts=settings.media_allowed_hosts,
            mirror=settings.media_mirror,
            max_bytes=settings.media_max_bytes,
            content_types=settings.media_content_types,
        )
        # No kept-alive connections: one to a checked address must not carry another host's
        # request after its TLS name was verified for the first. Trusted hosts (the mirror)
        # are never pinned: listsync's kept-alive transport serves them.
        inner = (
            media_transport
            or transport
            or httpx.AsyncHTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))
        )
        trusted = (
            default_transport(settings.max_concurrency, max_response_bytes=settings.media_max_bytes)
            if media_transport is None and transport is None
            else None
        )
        self._media_http = PortalHttp.from_settings(
            settings.model_copy(update={"max_response_bytes": settings.media_max_bytes}),
            portal=PORTAL,
            account=account_name,
            error_mapper=map_error,
            transport=GuardedTransport(
                inner, self.media_policy, resolver or system_resolver, trusted=trusted
            ),
        )
        self._credential_store = credential_store  # a shared one also holds the token
        self._lookups = 0
        self._index: set[str] | None = None
        self._index_lock = asyncio.Lock()
        self._created = CreatedRefs()  # what this instance created (not kept in the index)

    def _http(
        self, transport: httpx.AsyncBaseTransport | None, auth: httpx.Auth | None
    ) -> PortalHttp:
        return PortalHttp.from_settings(
            self.settings,
            portal=PORTAL,
            account=self.account_name,
            error_mapper=map_error,
            auth=auth,
            transport=transport,
            request_id_header=REQUEST_ID_HEADER if auth is not None else None,
        )

    # -- offline -------------------------------------------------------------------------
    def prepare(self, listing: Listing) -> Prepared:
        """The 21 business rules (except 11, see `plan`), EUR amounts and the projection, in
        one pass over one payload."""
        projection, urls = project_with_urls(
            listing, self.settings.software_name, self.account.external_customer_id
        )
        issues = check_mapped(projection.fields, listing) + currency_issues(listing)
        if self.settings.media_mirror is None:
            issues += self._media_url_issues(urls)
        return Prepared.of(issues, projection)

    def _media_url_issues(self, urls: list[str]) -> list[FieldIssue]:
        """Media URLs (the listing's, in order) refused without I/O (scheme, an IP or loopback
        host): the listing is blocked before anything is sent; the rest is checked when each
        URL is fetched."""
        refused = self.media_policy.offline_refusals(urls)
        return [_media_issue(index, reason) for index, reason in refused] if refused else []

    def plan(self, diff: ProjectionDiff) -> list[Operation]:
        """`default_plan`, with media uploads first so the create/update attaches them in time.

        Raises:
            InvalidListingError: the update would change `estateType` (rule 11, at the
                canonical path `category`): the listing is blocked and nothing is sent.
        """
        desired = diff.desired
        if diff.exists and diff.sent is not None and desired.target is not TargetState.ABSENT:
            issues = rule_11_estate_type_unchanged(diff.sent.fields, desired.fields)
            if issues:
                raise InvalidListingError(issues, external_ref=desired.external_ref)
        ops = default_plan(diff, self.capabilities)
        first = [op for op in ops if op.kind is OpKind.MEDIA_ADD]
        return first + [op for op in ops if op.kind is not OpKind.MEDIA_ADD]

    # -- writes --------------------------------------------------------------------------
    async def apply(self, op: Operation, ctx: OperationContext) -> OperationResult:
        if debug_enabled(_stdlib_log):
            log.debug(
                "operation_start",
                portal=PORTAL,
                account=self.account_name,
                listing=ctx.external_ref,
                op=op.describe(),
            )
        if op.kind is OpKind.CREATE:
            return await self._create(ctx)
        if op.kind is OpKind.UPDATE:
            return await self._send(ctx, create=False)
        if op.kind is OpKind.DELETE:
            body = await self._client.delete_listing(ctx.remote_id or ctx.external_ref)
            self._created.discard(ctx.remote_id or ctx.external_ref)
            if self._index is not None:
                self._index.discard(ctx.remote_id or ctx.external_ref)
            log.info(
                "listing_deleted",
                portal=PORTAL,
                account=self.account_name,
                listing=ctx.external_ref,
                request_id=_text((body or {}).get("requestId")),
            )
            return OperationResult(status=PortalStatus.DELETED)
        if op.kind is OpKind.MEDIA_ADD:
            return await self._add_media(op.payload, ctx)
        if op.kind is OpKind.MEDIA_REMOVE:
            # No media endpoint to call: the PUT that dropped the reference detached it.
            return OperationResult()
        raise ValueError(f"{PORTAL} cannot apply {op.kind.value}; check capabilities first")

    async def _create(self, ctx: OperationContext) -> OperationResult:
        try:
            return await self._send(ctx, create=True)
        except ConflictError:
            # The listing exists already (an earlier create landed): replace it instead.
            log.info("listing_exists_on_create", portal=PORTAL, listing=ctx.external_ref)
            return await self._send(ctx, create=False)

    async def _send(self, ctx: OperationContext, *, create: bool) -> OperationResult:
        """POST or PUT the full projection; re-upload media the portal no longer knows, once."""
        fields = ctx.projection.fields
        try:
            body = await self._post_or_put(fields, ctx, create=create)
        except PortalValidationError as exc:
            stale = self._stale_media(exc, ctx)
            if not stale:
                raise with_listing_paths(exc, ctx.listing) from exc
            for item in stale:
                await self._add_media(item.payload, ctx)
            try:
                body = await self._post_or_put(fields, ctx, create=create)
            except PortalValidationError as again:
                raise with_listing_paths(again, ctx.listing) from again
        if info_enabled(_stdlib_log):
            log.info(
                "listing_submitted",
                portal=PORTAL,
                account=self.account_name,
                listing=ctx.external_ref,
                request_id=_text(body.get("requestId")),
                listing_id=_text(body.get("listingId")),
                warnings=body.get("warnings") or [],
            )
        remote_id = _text(body.get("externalListingId")) or ctx.external_ref
        self._created.add(remote_id)  # bounded: the id list does not grow per listing created
        return OperationResult(
            remote_id=remote_id,
            status=PortalStatus.SUBMITTED,
            request_id=_text(body.get("requestId")),
        )

    async def _post_or_put(
        self, fields: dict[str, Any], ctx: OperationContext, *, create: bool
    ) -> dict[str, Any]:
        if create:
            return await self._client.create_listing(fields)
        return await self._client.update_listing(ctx.remote_id or ctx.external_ref, fields)

    @staticmethod
    def _stale_media(exc: PortalValidationError, ctx: OperationContext) -> list[ProjectedItem]:
        """Media items the portal refused as unknown or expired (missed attach window)."""
        refs = ctx.projection.fields.get("media")
        refs = refs if isinstance(refs, list) else []  # an odd extension may replace the list
        stale_ids = set()
        for issue in exc.issues:
            parts = (issue.portal_field or "").split("/")
            if len(parts) >= 3 and parts[1] == "media" and parts[2].isdigit():
                index = int(parts[2])
                if index < len(refs) and isinstance(refs[index], dict):  # else: not ours
                    stale_ids.add(refs[index].get("externalMediaId"))
        if len(stale_ids) != len(exc.issues):
            return []  # other problems too: report them rather than re-upload
        return [item for item in ctx.projection.media if item.key in stale_ids]

    def _media_source(self, url: str) -> str:
        mirror = self.settings.media_mirror
        if mirror is None:
            return url
        plain = _PLAIN_MEDIA_URL.fullmatch(url)
        if plain is not None:  # what `urlsplit` reads from it, without splitting
            return f"{mirror.rstrip('/')}/{plain['netloc']}{plain['path']}"
        parts = urlsplit(url)
        query = f"?{parts.query}" if parts.query else ""
        return f"{mirror.rstrip('/')}/{parts.netloc}{parts.path}{query}"

    async def _add_media(self, item: dict[str, Any], ctx: OperationContext) -> OperationResult:
        media_ref = str(item["externalMediaId"])
        source = self._media_source(item["url"])
        try:
            content, content_type = await fetch_media(self._media_http, source, self.media_policy)
        except (NotFoundError, MediaRefusedError) as exc:
            index = next((m.canonical_index for m in ctx.projection.media if m.key == media_ref), 0)
            reason = "HTTP 404" if isinstance(exc, NotFoundError) else str(exc)
            log.warning("media_refused", portal=PORTAL, listing=ctx.external_ref, reason=reason)
            raise InvalidListingError(
                [_media_issue(index, reason)], external_ref=ctx.external_ref
            ) from None
        attempts = self.settings.media_upload_attempts
        for attempt in range(1, attempts + 1):
            upload_url = await self._client.create_media(media_ref, str(item["fileName"]))
            try:
                await self._client.upload(upload_url, content, content_type)
            except PortalError as exc:
                if exc.status_code not in (400, 403) or attempt == attempts:
                    raise
                log.info(
                    "media_upload_window_missed", portal=PORTAL, media=media_ref, attempt=attempt
                )
                continue
            break
        if info_enabled(_stdlib_log):
            log.info("media_uploaded", portal=PORTAL, listing=ctx.external_ref, media=media_ref)
        return OperationResult(remote_id=media_ref)

    async def recover(self, op: Operation, ctx: OperationContext) -> OperationResult | None:
        """A create landed when the listing can be read back; media are always re-requested."""
        if op.kind is not OpKind.CREATE:
            return None
        found = await self._client.get_listing(ctx.external_ref)
        if found is None:
            return None
        return OperationResult(remote_id=ctx.external_ref, status=PortalStatus.SUBMITTED)

    # -- reads ---------------------------------------------------------------------------
    async def fetch(
        self, external_ref: str, remote_id: str | None, *, like: Projection | None = None
    ) -> RemoteRecord | None:
        """What Immowelt holds for the listing (`GET /listings/{externalListingId}`), None on 404.

        The path id is the listing's ref (`offererEstateId`), so a look-up by ref is the same
        GET. After `lookup_index_after` look-ups by ref, the account's ids are paged once and
        later look-ups of a ref that is not there cost no request (adoption of many new
        listings); a ref listed there is then read with one GET. The list follows this
        adapter's deletes, and its own creates count as listed (`CreatedRefs`: bounded
        memory; a ref it wrongly claims costs one GET answered 404); a listing another system
        creates after it was read is not adopted, and its create meets a 409, which `_create`
        turns into a PUT (no duplicate either way). The projection is in `prepare`'s terms
        (`_readback`): media payloads come from `like`, since the portal does not echo media
        URLs back.
        """
        listing_id = remote_id or external_ref
        if remote_id is None and not await self._may_exist(external_ref):
            return None
        found = await self._client.get_listing(listing_id)
        if found is None:
            self._created.discard(listing_id)
            if self._index is not None:
                self._index.discard(listing_id)
            return None
        projection, item_ids = remote_projection(found, external_ref=external_ref, like=like)
        try:
            listing: Listing | None = parse_listing(from_immowelt_payload(found))
        except InvalidListingError:
            listing = None
        return RemoteRecord(
            remote_id=listing_id,
            external_ref=external_ref,
            status=PortalStatus.LIVE,
            listing=listing,
            projection=projection,
            item_ids=item_ids,
        )

    async def _may_exist(self, external_ref: str) -> bool:
        """False when the account's id list (read once, see `fetch`) lacks `external_ref`."""
        self._lookups += 1
        if self._index is None and self._lookups > self.settings.lookup_index_after:
            async with self._index_lock:
                if self._index is None:
                    self._index = {remote_id async for _, remote_id in self.records()}
                    log.debug("listing_index_read", portal=PORTAL, size=len(self._index))
        index = self._index
        return index is None or external_ref in index or external_ref in self._created

    async def records(self) -> AsyncIterator[tuple[str | None, str]]:
        """`(externalListingId, externalListingId)` of every listing of this account, paging
        `GET /listings` with `nextPageToken` to the end (the id is the listing's ref)."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            ids, token = await self._client.list_listings(token)
            for listing_id in ids:
                if listing_id not in seen:  # a listing written while paging may move pages
                    seen.add(listing_id)
                    yield listing_id, listing_id
            if token is None:
                return

    async def check(self) -> None:
        """Fetch a token (or reuse the cached one); raises `AuthenticationError` if refused."""
        await self.tokens.access_token()

    async def aclose(self) -> None:
        await self._client.aclose()
        await self._media_http.aclose()
        await self.tokens.aclose()
