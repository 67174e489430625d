"""The whole listing lifecycle against the Hemnet sandbox, in process."""

from __future__ import annotations

from typing import Any

import pytest

from listsync.adapter import OpKind, PortalStatus
from listsync.errors import PortalValidationError
from listsync.testing import Driver
from listsync_hemnet import HemnetAdapter
from listsync_hemnet.sandbox import HemnetSandbox

from .conftest import BASE_URL, FakeClock, listing_data, make_listing, split_settings


def _writes(sandbox: HemnetSandbox, since: int) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in sandbox.requests[since:] if r.is_write]


PRICE = {"amount": "4750000", "currency": "SEK"}


async def test_full_lifecycle(sandbox: HemnetSandbox, driver: Driver) -> None:
    """Agency, create, PATCH of one field, null on removal, images, publish, approval, showing
    change, unpublish, re-publish and a sale with a private price all reach the sandbox."""
    listing_id = await _create_and_publish(sandbox, driver)
    await _approve(sandbox, driver, listing_id)
    await _patch_fields(sandbox, driver, listing_id)
    current = await _change_showing(sandbox, driver)
    await _unpublish_and_republish(sandbox, driver, current)
    await _sell_privately(sandbox, driver, listing_id, current)


async def _create_and_publish(sandbox: HemnetSandbox, driver: Driver) -> str:
    listing = make_listing()
    done = await driver.sync_steps(listing)
    kinds = [op.kind for op, _ in done]
    assert kinds == [
        OpKind.CREATE,
        OpKind.MEDIA_ADD,
        OpKind.MEDIA_ADD,
        OpKind.SHOWING_CREATE,
        OpKind.PUBLISH,
    ]
    listing_id = driver.remote_id
    assert listing_id is not None
    [agency_post] = [r for r in sandbox.requests if r.path == "/broker_agencies" and r.is_write]
    assert agency_post.body["externalId"] == "agency-7"
    create = next(r for r in sandbox.requests if r.path == "/listings" and r.method == "POST")
    assert create.body["brokerAgencyId"].startswith("ag")
    assert set(create.body) == set(done[0][0].payload) | {"brokerAgencyId"}
    publish = done[-1][1]
    assert publish.status is PortalStatus.AWAITING_APPROVAL
    assert publish.is_approved is False
    assert publish.is_visible is False
    assert publish.approval_url
    assert listing_id in publish.approval_url
    return listing_id


async def _approve(sandbox: HemnetSandbox, driver: Driver, listing_id: str) -> None:
    """Approval in Kundportalen is reported on the next read."""
    listing = make_listing()
    sandbox.approve(listing_id)
    record = await driver.adapter.fetch(listing.external_ref, listing_id)
    assert record is not None
    assert (record.status, record.is_approved, record.is_visible) == (PortalStatus.LIVE, True, True)


async def _patch_fields(sandbox: HemnetSandbox, driver: Driver, listing_id: str) -> None:
    """One changed field -> a PATCH with exactly that field; a removed one -> null."""
    mark = len(sandbox.requests)
    price = PRICE
    await driver.sync(make_listing(asking_price=price))
    patches = [r for r in sandbox.requests[mark:] if r.method == "PATCH"]
    assert [(p.path, p.body) for p in patches] == [
        (f"/listings/{listing_id}", {"askingPrice": 4750000})
    ]
    assert _writes(sandbox, mark) == [("PATCH", f"/listings/{listing_id}")]

    # A removed field -> null.
    mark = len(sandbox.requests)
    await driver.sync(make_listing(asking_price=price, monthly_fee=None))
    [patch] = [r for r in sandbox.requests[mark:] if r.method == "PATCH"]
    assert patch.body == {"monthlyFee": None}
    assert "monthlyFee" not in sandbox.listings()[0]


async def _change_showing(sandbox: HemnetSandbox, driver: Driver) -> dict[str, Any]:
    """A showing's end changes -> a showing PATCH; then the end is removed -> null."""
    price = PRICE
    mark = len(sandbox.requests)
    moved = [{"start": "2027-02-01T17:00:00+01:00", "end": "2027-02-01T18:30:00+01:00"}]
    await driver.sync(make_listing(asking_price=price, monthly_fee=None, showings=moved))
    [patch] = [r for r in sandbox.requests[mark:] if r.method == "PATCH"]
    assert "/showings/" in patch.path
    assert patch.body == {"endAt": "2027-02-01T18:30:00+01:00"}
    mark = len(sandbox.requests)
    open_end = [{"start": "2027-02-01T17:00:00+01:00", "note": "Välkomna!"}]
    await driver.sync(make_listing(asking_price=price, monthly_fee=None, showings=open_end))
    [patch] = [r for r in sandbox.requests[mark:] if r.method == "PATCH"]
    assert patch.body == {"endAt": None, "description": "Välkomna!"}
    return {"asking_price": price, "monthly_fee": None, "showings": open_end}


async def _unpublish_and_republish(
    sandbox: HemnetSandbox, driver: Driver, current: dict[str, Any]
) -> None:
    """Withdrawn -> unpublish; for sale again -> publish."""
    done = await driver.sync_steps(make_listing(status="withdrawn", **current))
    assert [op.kind for op, _ in done] == [OpKind.UNPUBLISH]
    assert done[0][1].status is PortalStatus.WITHDRAWN
    assert sandbox.listings()[0]["isVisible"] is False
    done = await driver.sync_steps(make_listing(**current))
    assert [op.kind for op, _ in done] == [OpKind.PUBLISH]
    assert done[0][1].status is PortalStatus.LIVE


async def _sell_privately(
    sandbox: HemnetSandbox, driver: Driver, listing_id: str, current: dict[str, Any]
) -> None:
    """Sold with a private price: marked sold (never unpublished), Hemnet unpublishes it."""
    sale = {"price": {"amount": "4800000", "currency": "SEK"}, "date": "2027-03-01"}
    mark = len(sandbox.requests)
    done = await driver.sync_steps(
        make_listing(status="sold", sale={**sale, "price_public": False}, **current)
    )
    assert [op.kind for op, _ in done] == [OpKind.MARK_SOLD]
    assert _writes(sandbox, mark) == [("POST", f"/listings/{listing_id}/sale")]
    [sale_post] = [r for r in sandbox.requests[mark:] if r.method == "POST"]
    assert sale_post.body == {"price": 4800000, "isPricePublic": False, "soldAt": "2027-03-01"}
    [remote] = sandbox.listings()
    assert remote["sale"]["isPricePublic"] is False
    assert (remote["isPublished"], remote["isVisible"]) == (False, False)
    assert done[0][1].status is PortalStatus.SOLD

    # Nothing changed: nothing is sent.
    mark = len(sandbox.requests)
    assert (
        await driver.sync(
            make_listing(status="sold", sale={**sale, "price_public": False}, **current)
        )
        == []
    )
    assert len(sandbox.requests) == mark


async def test_images_are_replaced_and_failures_land_on_the_media_entry(
    sandbox: HemnetSandbox, driver: Driver
) -> None:
    """Removed images are deleted; a failed image's stateMessage becomes an issue on its
    canonical media entry while the listing is still published with the completed one."""
    media = [
        {"url": "https://img.example.se/obj-1001/1.jpg"},
        {"url": "https://img.example.se/obj-1001/missing.jpg"},
    ]
    done = await driver.sync_steps(make_listing(media=media))
    publish = done[-1][1]
    assert [(i.path, i.portal_field, i.rule) for i in publish.issues] == [
        ("media[1].url", "url", "image-failed")
    ]
    assert "404" in publish.issues[0].message
    assert sandbox.listings()[0]["isPublished"] is True

    mark = len(sandbox.requests)
    await driver.sync(make_listing(media=media[:1]))
    [(method, path)] = _writes(sandbox, mark)
    assert method == "DELETE"
    assert "/images/" in path


async def test_publish_refused_when_no_image_completes(
    sandbox: HemnetSandbox, driver: Driver
) -> None:
    """With every image failed the adapter does not publish and reports the media entries."""
    media = [{"url": "https://unreachable.example.se/a.jpg"}]
    with pytest.raises(PortalValidationError) as info:
        await driver.sync(make_listing(media=media))
    assert [(i.path, i.rule) for i in info.value.issues] == [("media[0].url", "image-failed")]
    assert not any(r.path.endswith("/publish") for r in sandbox.requests)
    assert sandbox.listings()[0]["isPublished"] is False


async def test_draft_is_created_but_not_published(sandbox: HemnetSandbox, driver: Driver) -> None:
    """A draft listing is created with its images but no publish request is sent."""
    done = await driver.sync_steps(make_listing(status="draft"))
    assert OpKind.PUBLISH not in [op.kind for op, _ in done]
    assert sandbox.listings()[0]["isPublished"] is False


async def test_auto_approval_makes_the_listing_visible_on_publish(clock: FakeClock) -> None:
    """On an auto-approving contract the publish result already reports a visible listing."""
    sandbox = HemnetSandbox(clock=clock, auto_approve=True)
    settings, account = split_settings(sandbox.client_settings(BASE_URL))
    adapter = HemnetAdapter(
        settings, account, transport=sandbox.transport(), credential_store=_noop, clock=clock
    )
    try:
        done = await Driver(adapter).sync_steps(make_listing())
    finally:
        await adapter.aclose()
    result = done[-1][1]
    assert (result.status, result.is_visible, result.is_approved) == (PortalStatus.LIVE, True, True)


async def _noop(portal: str, account: str, secrets: object) -> None:
    return None


def test_listing_data_is_valid() -> None:
    """The fixture listing passes the canonical model (guards the other tests' premise)."""
    assert make_listing(**listing_data()).external_ref == "obj-1001"
