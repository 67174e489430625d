"""Create, update, media, read back, paging and delete against the sandbox in process."""

from __future__ import annotations

import httpx
import pytest
from structlog.testing import capture_logs

from listsync.adapter import Operation, OperationContext, OpKind, PortalStatus
from listsync.errors import InvalidListingError, UnknownOutcomeError
from listsync.sandbox import FaultConfig
from listsync.testing import Driver, ManualClock
from listsync_immowelt import ImmoweltAdapter
from listsync_immowelt.sandbox import ImmoweltSandbox

from .conftest import AdapterFactory, applied_kinds, make_listing, prepared, sync, with_media


def _writes(sandbox: ImmoweltSandbox) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in sandbox.write_requests() if r.path != "/oauth/token"]


async def test_full_lifecycle(adapter: ImmoweltAdapter, sandbox: ImmoweltSandbox) -> None:
    """Media are uploaded before the create that references them; an update is one full PUT;
    an unchanged listing sends nothing; the listing reads back; withdrawal deletes it."""
    driver = Driver(adapter)
    listing = with_media(make_listing(), "front.jpg", "kitchen.jpg")
    await driver.sync(listing)
    assert applied_kinds(driver) == [OpKind.MEDIA_ADD, OpKind.MEDIA_ADD, OpKind.CREATE]
    stored = sandbox.listings()["DE-1001"]
    assert [m["externalMediaId"] for m in stored["media"]] == list(sandbox.uploaded)
    assert all(content.startswith(b"\xff\xd8") for content in sandbox.uploaded.values())
    mirror = [r for r in sandbox.requests if r.path.startswith("/_mirror/")]
    assert [r.path for r in mirror] == [
        "/_mirror/crm.example.com/img/DE-1001/front.jpg",
        "/_mirror/crm.example.com/img/DE-1001/kitchen.jpg",
    ]

    before = len(_writes(sandbox))
    updated = with_media(make_listing(asking_price={"amount": "430000"}), "front.jpg")
    await driver.sync(updated)
    assert _writes(sandbox)[before:] == [("PUT", "/v1/listings/DE-1001")]
    assert sandbox.listings()["DE-1001"]["data"]["prices"]["buy"] == {"amount": 430000}
    assert len(sandbox.listings()["DE-1001"]["media"]) == 1

    assert await driver.sync(updated) == []

    record = await adapter.fetch("DE-1001", driver.remote_id)
    assert record is not None
    assert record.status is PortalStatus.LIVE
    assert record.listing is not None
    assert record.listing.asking_price is not None
    assert record.listing.asking_price.amount == 430000
    assert record.listing.address.postal_code == "10115"
    assert record.listing.coordinates is not None
    assert record.listing.coordinates.lon == pytest.approx(13.3849)

    results = await sync(driver, make_listing(status="withdrawn"))
    assert [r.status for r in results] == [PortalStatus.DELETED]
    assert "DE-1001" not in sandbox.listings()
    assert await adapter.fetch("DE-1001", None) is None


async def test_paging_through_all_listings(
    adapter: ImmoweltAdapter, sandbox: ImmoweltSandbox
) -> None:
    """`records` follows nextPageToken (page size 3) and yields each listing exactly once."""
    refs = [f"DE-{n}" for n in range(2000, 2008)]
    for ref in refs:
        await Driver(adapter).sync(make_listing(external_ref=ref))
    seen = [remote_id async for _, remote_id in adapter.records()]
    assert seen == refs
    pages = [r for r in sandbox.requests if r.method == "GET" and r.path == "/v1/listings"]
    assert len(pages) == 3
    assert "nextPageToken" not in pages[0].query


async def test_sold_listing_is_deleted_and_draft_is_never_sent(
    adapter: ImmoweltAdapter, sandbox: ImmoweltSandbox
) -> None:
    """Immowelt v1 has no sold endpoint: a sold listing is removed; a draft is not created."""
    driver = Driver(adapter)
    assert await driver.sync(make_listing(status="draft")) == []
    await driver.sync(make_listing())
    sold = make_listing(
        status="sold", sale={"price": {"amount": "440000", "currency": "EUR"}, "date": "2026-05-01"}
    )
    await driver.sync(sold)
    assert applied_kinds(driver)[-1] is OpKind.DELETE
    assert sandbox.listings() == {}


async def test_create_of_an_existing_listing_replaces_it(
    make_adapter: AdapterFactory, sandbox: ImmoweltSandbox
) -> None:
    """A create that meets 409 (the listing exists) is completed with a PUT."""
    await Driver(make_adapter()).sync(make_listing())
    results = await sync(Driver(make_adapter()), make_listing(living_area="70"))
    assert [r.remote_id for r in results] == ["DE-1001"]
    assert _writes(sandbox)[-2:] == [("POST", "/v1/listings"), ("PUT", "/v1/listings/DE-1001")]
    assert sandbox.listings()["DE-1001"]["data"]["spaces"]["residential"]["livingSpace"] == 70


async def test_lost_create_response_is_recovered_by_lookup(
    adapter: ImmoweltAdapter, sandbox: ImmoweltSandbox
) -> None:
    """A create whose answer is lost raises UnknownOutcomeError; `recover` finds it landed."""
    listing = make_listing()
    await adapter.check()
    sandbox.set_faults(FaultConfig(drop_rate=1.0, methods=("POST",), exclude_paths=("/oauth",)))
    projection = prepared(adapter, listing)
    ctx = OperationContext(external_ref="DE-1001", remote_id=None, projection=projection)
    op = Operation(kind=OpKind.CREATE, payload=projection.fields)
    with pytest.raises(UnknownOutcomeError):
        await adapter.apply(op, ctx)
    sandbox.set_faults(FaultConfig())
    recovered = await adapter.recover(op, ctx)
    assert recovered is not None
    assert recovered.remote_id == "DE-1001"
    other = ctx.model_copy(update={"external_ref": "DE-404"})
    assert await adapter.recover(op, other) is None


class _SlowFirstUpload(httpx.AsyncBaseTransport):
    """Lets the sandbox clock pass 61 s before the first presigned upload arrives."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: ManualClock) -> None:
        self.inner = inner
        self.clock = clock
        self.delayed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/_upload/") and not self.delayed:
            self.delayed = True
            self.clock.advance(61)
        return await self.inner.handle_async_request(request)


async def test_missed_upload_window_retries_the_whole_media_step(
    make_adapter: AdapterFactory, sandbox: ImmoweltSandbox, clock: ManualClock
) -> None:
    """An upload refused because its 60 s URL expired leads to a new POST /medias and a
    successful upload; the listing then attaches the media."""
    adapter = make_adapter(transport=_SlowFirstUpload(sandbox.transport(), clock))
    with capture_logs() as logs:
        await Driver(adapter).sync(with_media(make_listing(), "front.jpg"))
    media_posts = [r for r in sandbox.requests if r.path == "/v1/medias"]
    uploads = [r.status for r in sandbox.requests if r.path.startswith("/_upload/")]
    assert len(media_posts) == 2
    assert uploads == [403, 200]
    assert "media_upload_window_missed" in [e["event"] for e in logs]
    assert len(sandbox.listings()["DE-1001"]["media"]) == 1


async def test_media_expired_before_attach_is_uploaded_again(
    adapter: ImmoweltAdapter, sandbox: ImmoweltSandbox, clock: ManualClock
) -> None:
    """When the create comes more than 60 s after the upload, the sandbox refuses the stale
    media reference; the adapter uploads it again and the create succeeds."""
    listing = with_media(make_listing(), "front.jpg")
    projection = prepared(adapter, listing)
    ctx = OperationContext(
        external_ref="DE-1001", remote_id=None, projection=projection, listing=listing
    )
    item = projection.media[0]
    await adapter.apply(Operation(kind=OpKind.MEDIA_ADD, key=item.key, payload=item.payload), ctx)
    clock.advance(120)
    result = await adapter.apply(Operation(kind=OpKind.CREATE, payload=projection.fields), ctx)
    assert result.remote_id == "DE-1001"
    assert [r.status for r in sandbox.requests if r.path == "/v1/listings"] == [400, 202]
    assert len([r for r in sandbox.requests if r.path == "/v1/medias"]) == 2


async def test_image_missing_on_the_mirror_is_an_invalid_listing(
    adapter: ImmoweltAdapter,
) -> None:
    """A media URL the mirror cannot serve fails the step with the canonical media path."""
    listing = with_media(make_listing(), "ok.jpg", "missing.jpg")
    with pytest.raises(InvalidListingError) as invalid:
        await Driver(adapter).sync(listing)
    assert [i.path for i in invalid.value.issues] == ["media[1].url"]


async def test_listings_expire_90_days_after_last_write(
    adapter: ImmoweltAdapter, sandbox: ImmoweltSandbox, clock: ManualClock
) -> None:
    """The sandbox deletes a listing 90 days after its last write, as the portal's does."""
    driver = Driver(adapter)
    await driver.sync(make_listing())
    clock.advance(60 * 86400)
    await driver.sync(make_listing(living_area="80"))
    clock.advance(60 * 86400)
    assert "DE-1001" in sandbox.listings()
    clock.advance(31 * 86400)
    assert sandbox.listings() == {}
    assert await adapter.fetch("DE-1001", None) is None


async def test_accounts_are_isolated(
    make_adapter: AdapterFactory, sandbox: ImmoweltSandbox
) -> None:
    """Each API client sees only its own listings; the request log names the client."""
    first = make_adapter()
    second = make_adapter(account="agency-b")
    await Driver(first).sync(make_listing())
    assert await second.fetch("DE-1001", None) is None
    assert [i async for i in second.records()] == []
    principals = {r.principal for r in sandbox.requests if r.path.startswith("/v1/")}
    assert principals == {ImmoweltSandbox.DEFAULT_CLIENT, "agency-b-client"}
    assert sandbox.listings("agency-b") == {}
