"""Lost responses: recover before re-sending leaves exactly one record on Hemnet."""

from __future__ import annotations

import pytest

from listsync.adapter import Operation, OpKind
from listsync.errors import UnknownOutcomeError
from listsync.sandbox import FaultConfig
from listsync.testing import Driver
from listsync_hemnet.sandbox import HemnetSandbox

from .conftest import make_listing


async def test_lost_create_is_recovered_without_a_duplicate(
    sandbox: HemnetSandbox, driver: Driver
) -> None:
    """POST /listings lands but its answer is dropped; recover finds it by externalId and the
    run carries on with one listing."""
    listing = make_listing()
    desired = driver.desired(listing)
    create = Operation(kind=OpKind.CREATE, payload=dict(desired.fields), refs=dict(desired.refs))
    ctx = driver.context(desired, listing)
    sandbox.set_faults(
        FaultConfig(drop_rate=1.0, methods=("POST",), exclude_paths=("/broker_agencies",))
    )
    with pytest.raises(UnknownOutcomeError):
        await driver.adapter.apply(create, ctx)
    sandbox.set_faults(FaultConfig())
    assert len(sandbox.listings()) == 1  # the write happened, only its answer was lost
    result = await driver.adapter.recover(create, ctx)
    assert result is not None
    assert result.remote_id
    driver.record(create, result, desired)
    await driver.sync(listing)
    assert len(sandbox.listings()) == 1
    assert sandbox.listings()[0]["isPublished"] is True


async def test_lost_agency_create_is_found_again(sandbox: HemnetSandbox, driver: Driver) -> None:
    """When the agency POST's answer is lost, the retry finds the agency instead of creating a
    second one, and the listing is created once."""
    listing = make_listing()
    desired = driver.desired(listing)
    create = Operation(kind=OpKind.CREATE, payload=dict(desired.fields), refs=dict(desired.refs))
    ctx = driver.context(desired, listing)
    sandbox.set_faults(FaultConfig(drop_rate=1.0, methods=("POST",), max_faults=1))
    result = await driver.adapter.apply(create, ctx)
    assert result.remote_id
    agencies = [r for r in sandbox.write_requests() if r.path == "/broker_agencies"]
    assert len(agencies) == 1
    assert len(sandbox.listings()) == 1


async def test_lost_image_and_showing_creates_are_recovered(
    sandbox: HemnetSandbox, driver: Driver
) -> None:
    """MEDIA_ADD and SHOWING_CREATE are found by URL and start time after a lost answer."""
    listing = make_listing(status="draft")
    await driver.sync(listing)
    desired = driver.desired(listing)
    ctx = driver.context(desired, listing)
    image, showing = desired.media[0], desired.showings[0]
    for kind, item in ((OpKind.MEDIA_ADD, image), (OpKind.SHOWING_CREATE, showing)):
        op = Operation(kind=kind, key=item.key, payload=item.payload)
        found = await driver.adapter.recover(op, ctx)
        assert found is not None
        assert found.remote_id == driver.item_ids[item.key]
    missing = Operation(
        kind=OpKind.MEDIA_ADD,
        key="x",
        payload={"url": "https://img.example.se/none.jpg", "index": 9},
    )
    assert await driver.adapter.recover(missing, ctx) is None
