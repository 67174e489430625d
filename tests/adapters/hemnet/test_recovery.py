"""Lost responses: recover before re-sending leaves exactly one record on Hemnet."""

from __future__ import annotations

import pytest

from listsync.adapter import Operation, OpKind
from listsync.errors import UnknownOutcomeError
from listsync.sandbox import FaultConfig
from listsync_hemnet.sandbox import HemnetSandbox

from .conftest import Syncer, make_listing


async def test_lost_create_is_recovered_without_a_duplicate(
    sandbox: HemnetSandbox, syncer: Syncer
) -> None:
    """POST /listings lands but its answer is dropped; recover finds it by externalId and the
    run carries on with one listing."""
    listing = make_listing()
    desired = syncer.adapter.project(listing)
    create = Operation(kind=OpKind.CREATE, payload=dict(desired.fields))
    ctx = syncer.context(listing, desired)
    sandbox.set_faults(
        FaultConfig(drop_rate=1.0, methods=("POST",), exclude_paths=("/broker_agencies",))
    )
    with pytest.raises(UnknownOutcomeError):
        await syncer.adapter.apply(create, ctx)
    sandbox.set_faults(FaultConfig())
    assert len(sandbox.listings()) == 1  # the write happened, only its answer was lost
    result = await syncer.adapter.recover(create, ctx)
    assert result is not None
    assert result.remote_id
    syncer.record(create, result, desired)
    await syncer.sync(listing)
    assert len(sandbox.listings()) == 1
    assert sandbox.listings()[0]["isPublished"] is True


async def test_lost_agency_create_is_found_again(sandbox: HemnetSandbox, syncer: Syncer) -> None:
    """When the agency POST's answer is lost, the retry finds the agency instead of creating a
    second one, and the listing is created once."""
    listing = make_listing()
    desired = syncer.adapter.project(listing)
    create = Operation(kind=OpKind.CREATE, payload=dict(desired.fields))
    ctx = syncer.context(listing, desired)
    sandbox.set_faults(FaultConfig(drop_rate=1.0, methods=("POST",), max_faults=1))
    result = await syncer.adapter.apply(create, ctx)
    assert result.remote_id
    agencies = [r for r in sandbox.write_requests() if r.path == "/broker_agencies"]
    assert len(agencies) == 1
    assert len(sandbox.listings()) == 1


async def test_lost_image_and_showing_creates_are_recovered(
    sandbox: HemnetSandbox, syncer: Syncer
) -> None:
    """MEDIA_ADD and SHOWING_CREATE are found by URL and start time after a lost answer."""
    listing = make_listing(status="draft")
    await syncer.sync(listing)
    desired = syncer.adapter.project(listing)
    ctx = syncer.context(listing, desired)
    image, showing = desired.media[0], desired.showings[0]
    for kind, item in ((OpKind.MEDIA_ADD, image), (OpKind.SHOWING_CREATE, showing)):
        op = Operation(kind=kind, key=item.key, payload=item.payload)
        found = await syncer.adapter.recover(op, ctx)
        assert found is not None
        assert found.remote_id == syncer.state.item_ids[item.key]
    missing = Operation(
        kind=OpKind.MEDIA_ADD,
        key="x",
        payload={"url": "https://img.example.se/none.jpg", "index": 9},
    )
    assert await syncer.adapter.recover(missing, ctx) is None
