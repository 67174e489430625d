"""The Immowelt write adapter (AVIV listing import API v1).

Docs: ../shared/portal-docs/immowelt-listing-import-api.txt and PORTALS.md §3. Orchestration
only: the wire calls are in `client.py`, the payload in `mapping.py`, the rules in `rules.py`.

Lifecycle: a created listing is published (no PUBLISH step). for_sale / coming_soon project to
PUBLISHED; draft, withdrawn and sold project to ABSENT, i.e. DELETE: v1 has no sold endpoint and
`management.marketStatus` is not confirmed for this API (PORTALS.md §3.8), so the documents only
support removing a sold listing. Updates are full, idempotent PUTs of the whole projection.

Media: `MEDIA_ADD` asks `POST /medias` for a presigned URL and uploads the bytes within the 60 s
window (asking again when the window was missed); the listing's `media[]` references it by
`externalMediaId`, so the create/update that follows attaches it. `plan()` therefore orders
media additions before the create/update. Media removal needs no call: the next PUT drops the
reference.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple
from urllib.parse import urlsplit

import httpx
import structlog
from pydantic import Field, SecretStr, field_validator

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
    ProjectedItem,
    Projection,
    RemoteRecord,
    TargetState,
    _item,
)
from listsync.errors import (
    ConflictError,
    FieldIssue,
    InvalidListingError,
    NotFoundError,
    PortalError,
    PortalValidationError,
)
from listsync.http import PortalHttp
from listsync.model import Listing, ListingStatus, parse_listing
from listsync.sync import ProjectionDiff, default_plan
from listsync_immowelt.auth import SCOPES, ImmoweltAuth, TokenManager, narrow_scopes
from listsync_immowelt.client import ImmoweltClient
from listsync_immowelt.errors import map_error, with_listing_paths
from listsync_immowelt.mapping import (
    PORTAL,
    from_immowelt_payload,
    media_file_name,
    media_refs,
    to_immowelt_payload,
)
from listsync_immowelt.rules import check_all, rule_11_estate_type_unchanged

__all__ = ["ImmoweltAccount", "ImmoweltAdapter", "ImmoweltSettings"]

log = structlog.stdlib.get_logger(__name__)

SANDBOX_BASE_URL = "https://api.aviv-group.com/sandbox/import-listings/v1"
PRODUCTION_BASE_URL = "https://api.aviv-group.com/import-listings/v1"
TOKEN_URL = "https://auth.api.aviv-group.com/oauth/token"  # noqa: S105  (a URL, not a secret)
_KNOWN_SCOPES = frozenset({*SCOPES.values(), "clim:listings:*", "clim:medias:*"})
_PUBLISHED = frozenset({ListingStatus.FOR_SALE, ListingStatus.COMING_SOON})


class ImmoweltSettings(AdapterSettings):
    """Portal-level settings.

    Attributes:
        base_url: API root including `/v1`; defaults to the portal's sandbox (production is
            `https://api.aviv-group.com/import-listings/v1`).
        token_url: the OAuth2 token endpoint.
        audience: the token `audience`; defaults to `base_url` (inferred, PORTALS.md §3.2).
        scopes: "narrow" requests only the scopes `operations` need; or an explicit list
            (the `clim:listings:*` / `clim:medias:*` forms only when listed here).
        operations: the operations this installation performs (default: all capabilities).
        software_name: `metadata.source.softwareName`.
        token_leeway: seconds before expiry at which the token is renewed.
        media_mirror: fetch media bytes from `{media_mirror}/{host}{path}` instead of the URL.
        media_upload_attempts: how often a missed 60 s upload window is retried.
    """

    base_url: str = SANDBOX_BASE_URL
    token_url: str = TOKEN_URL
    audience: str | None = None
    scopes: Literal["narrow"] | tuple[str, ...] = "narrow"
    operations: tuple[Capability, ...] | None = None
    software_name: str = Field(default="listsync", min_length=1)
    token_leeway: int = Field(default=300, ge=0)
    media_mirror: str | None = None
    media_upload_attempts: int = Field(default=3, ge=1)
    # AVIV's sibling Seeker Leads API allows 10 concurrent requests (PORTALS.md §3.7).
    max_concurrency: int = Field(default=10, ge=1)

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        if isinstance(value, tuple):
            unknown = sorted(set(value) - _KNOWN_SCOPES)
            if unknown:
                raise ValueError(f"unknown scope(s) {unknown}; scopes are case sensitive")
        return value


class ImmoweltAccount(AccountSettings):
    """One Immowelt API client (one agency or customer)."""

    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    external_customer_id: str = Field(min_length=1)
    token_cache_path: Path | None = None


class _Built(NamedTuple):
    """A listing's payload and `media_refs`, as `preflight` hands them to `project`."""

    listing: Listing
    payload: dict[str, Any]
    media: list[tuple[str, str]]


def _target(listing: Listing) -> TargetState:
    return TargetState.PUBLISHED if listing.status in _PUBLISHED else TargetState.ABSENT


def _currency_issues(listing: Listing) -> list[FieldIssue]:
    rent, auction, fee = listing.rent, listing.auction, listing.brokerage_fee
    money = {
        "asking_price": listing.asking_price,
        "monthly_fee": listing.monthly_fee,
        "rent.base": rent.base if rent else None,
        "rent.total": rent.total if rent else None,
        "rent.service_charges": rent.service_charges if rent else None,
        "rent.heating": rent.heating if rent else None,
        "rent.deposit": rent.deposit if rent else None,
        "auction.minimum_bid": auction.minimum_bid if auction else None,
        "auction.starting_price": auction.starting_price if auction else None,
        "brokerage_fee.amount": fee.amount if fee else None,
    }
    return [
        FieldIssue(
            path=f"{path}.currency",
            message=f"Immowelt takes amounts in EUR, not {m.currency}",
            portal=PORTAL,
            rule="currency",
        )
        for path, m in money.items()
        if m is not None and m.currency != "EUR"
    ]


class ImmoweltAdapter:
    """Writes listings to Immowelt for one API client (account)."""

    name: ClassVar[str] = "immowelt"
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
    ) -> None:
        self.settings = settings
        self.account = account
        self.account_name = account_name
        self.scopes = self._scopes(settings)
        self.tokens = TokenManager(
            client_id=account.client_id,
            client_secret=account.client_secret.get_secret_value(),
            token_url=settings.token_url,
            audience=settings.audience or settings.base_url,
            scopes=self.scopes,
            account=account_name,
            cache_path=account.token_cache_path,
            leeway=settings.token_leeway,
            clock=clock,
            transport=transport,
            headers={"User-Agent": self._user_agent()},
            timeout=settings.timeout,
        )
        self._client = ImmoweltClient(
            self._http(transport, ImmoweltAuth(self.tokens)), self._http(transport, None)
        )
        self._credential_store = credential_store  # Immowelt tokens are renewed, not rotated
        # What `preflight` built, handed to the `project` call of the same listing that (in
        # the planner) follows it, so it is built once per listing instead of twice.
        self._preflighted: _Built | None = None

    def _scopes(self, settings: ImmoweltSettings) -> list[str]:
        if isinstance(settings.scopes, tuple):
            return list(settings.scopes)
        ops = settings.operations if settings.operations is not None else self.capabilities
        return narrow_scopes(ops)

    def _user_agent(self) -> str:
        from listsync.http import user_agent  # noqa: PLC0415  (same helper PortalHttp uses)

        return user_agent(self.settings.user_agent)

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
        )

    # -- offline -------------------------------------------------------------------------
    def payload(self, listing: Listing) -> dict[str, Any]:
        """The import payload for `listing` as this account would send it."""
        return self._build(listing).payload

    def _build(self, listing: Listing) -> _Built:
        media = media_refs(listing)
        payload = to_immowelt_payload(
            listing,
            software_name=self.settings.software_name,
            external_customer_id=self.account.external_customer_id,
            media=media,
        )
        return _Built(listing, payload, media)

    def preflight(self, listing: Listing) -> list[FieldIssue]:
        """The 21 business rules (except 11, see `plan`) and EUR amounts, offline."""
        built = self._preflighted
        if built is None or built.listing is not listing:
            built = self._preflighted = self._build(listing)  # holds `listing`: no id reuse
        return check_all(built.payload, listing) + _currency_issues(listing)

    def _take_built(self, listing: Listing) -> _Built:
        """What `preflight` built for this very listing object, else the same built anew."""
        built = self._preflighted
        if built is not None and built.listing is listing:
            self._preflighted = None  # each projection gets a payload of its own
            return built
        return self._build(listing)

    def project(self, listing: Listing) -> Projection:
        built = self._take_built(listing)
        media = tuple(
            _item(ref, i, {"externalMediaId": ref, "fileName": media_file_name(url), "url": url})
            for i, (url, ref) in enumerate(built.media)
        )
        return Projection(
            external_ref=listing.external_ref,
            fields=built.payload,
            media=media,
            target=_target(listing),
        )

    def plan(self, diff: ProjectionDiff) -> list[Operation]:
        """`default_plan`, with media uploads first so the create/update attaches them in time.

        Raises:
            InvalidListingError: the update would change `estateType` (rule 11).
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
        bound = log.bind(portal=PORTAL, account=self.account_name, listing=ctx.external_ref)
        bound.debug("operation_start", op=op.describe())
        if op.kind is OpKind.CREATE:
            return await self._create(ctx)
        if op.kind is OpKind.UPDATE:
            return await self._send(ctx, create=False)
        if op.kind is OpKind.DELETE:
            body = await self._client.delete_listing(ctx.remote_id or ctx.external_ref)
            bound.info("listing_deleted", request_id=(body or {}).get("requestId"))
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
        log.info(
            "listing_submitted",
            portal=PORTAL,
            account=self.account_name,
            listing=ctx.external_ref,
            request_id=body.get("requestId"),
            listing_id=body.get("listingId"),
            warnings=body.get("warnings") or [],
        )
        return OperationResult(
            remote_id=str(body.get("externalListingId") or ctx.external_ref),
            status=PortalStatus.SUBMITTED,
            request_id=body.get("requestId"),
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
        parts = urlsplit(url)
        query = f"?{parts.query}" if parts.query else ""
        return f"{mirror.rstrip('/')}/{parts.netloc}{parts.path}{query}"

    async def _add_media(self, item: dict[str, Any], ctx: OperationContext) -> OperationResult:
        media_ref = str(item["externalMediaId"])
        try:
            content, content_type = await self._client.download(self._media_source(item["url"]))
        except NotFoundError:
            index = next((m.canonical_index for m in ctx.projection.media if m.key == media_ref), 0)
            issue = FieldIssue(
                path=f"media[{index}].url",
                message="the image could not be downloaded (HTTP 404)",
                portal=PORTAL,
            )
            raise InvalidListingError([issue], external_ref=ctx.external_ref) from None
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
    async def fetch(self, external_ref: str, remote_id: str | None) -> RemoteRecord | None:
        """Read one listing back (GET /listings/{externalListingId})."""
        found = await self._client.get_listing(remote_id or external_ref)
        if found is None:
            return None
        try:
            listing: Listing | None = parse_listing(from_immowelt_payload(found))
        except InvalidListingError:
            listing = None
        return RemoteRecord(
            remote_id=remote_id or external_ref,
            external_ref=external_ref,
            status=PortalStatus.LIVE,
            listing=listing,
        )

    async def remote_ids(self) -> AsyncIterator[str]:
        """Every external listing id of this account, paging with `nextPageToken`."""
        token: str | None = None
        while True:
            ids, token = await self._client.list_listings(token)
            for listing_id in ids:
                yield listing_id
            if token is None:
                return

    async def check(self) -> None:
        """Fetch a token (or reuse the cached one); raises `AuthenticationError` if refused."""
        await self.tokens.access_token()

    async def aclose(self) -> None:
        await self._client.aclose()
        await self.tokens.aclose()
