"""Read-back (issue 15): `fetch` returns what Immowelt holds in `prepare`'s terms, so the
ordinary diff finds exactly the drift; `records` pages every listing; the sandbox's hooks change
records behind listsync's back."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from listsync.adapter import (
    CreatedRefs,
    OpKind,
    Projection,
    ProjectionDiff,
    TargetState,
    diff_projection,
)
from listsync.io import bundled_examples
from listsync.model import Listing, parse_listing
from listsync.testing import Driver
from listsync_immowelt import ImmoweltAdapter
from listsync_immowelt._payload import leaves_under
from listsync_immowelt.sandbox import ImmoweltSandbox

from .conftest import AdapterFactory, make_listing, prepared, with_media


def _examples() -> list[Listing]:
    """The bundled examples routed to Immowelt that it keeps live (for sale, coming soon)."""
    out = []
    for line in bundled_examples().read_text(encoding="utf-8").splitlines():
        listing = parse_listing(line)
        if "immowelt" in listing.portals and listing.status in {"for_sale", "coming_soon"}:
            out.append(listing)
    return out


EXAMPLES = _examples()


def _is_empty(diff: ProjectionDiff) -> bool:
    return not (
        diff.field_changes
        or diff.ref_changes
        or diff.media_added
        or diff.media_removed
        or diff.showings_added
        or diff.showings_changed
        or diff.showings_removed
        or diff.sent is None
        or diff.sent.target is not diff.desired.target
    )


def _drifted_leaves(remote: Projection, desired: Projection) -> set[str]:
    """The JSON pointers whose values differ between the two projections' fields."""
    have, want = dict(leaves_under(remote.fields)), dict(leaves_under(desired.fields))
    return {p for p in have.keys() | want.keys() if have.get(p, "<none>") != want.get(p, "<none>")}


def _gets(sandbox: ImmoweltSandbox) -> list[str]:
    return [r.path for r in sandbox.requests if r.method == "GET" and r.path.startswith("/v1/")]


def test_examples_cover_the_mapping() -> None:
    """The property tests below run over many kinds of listing, with and without media."""
    assert len(EXAMPLES) >= 50
    assert {listing.transaction for listing in EXAMPLES} >= {"sale", "rent"}
    assert max(len(listing.media) for listing in EXAMPLES) >= 10


async def test_every_example_reads_back_without_drift(
    adapter: ImmoweltAdapter, sandbox: ImmoweltSandbox
) -> None:
    """For every example created through the kit's Driver, the read-back projection (by id and
    by ref) equals the desired one: no drift, nothing to send, the same digest."""
    for listing in EXAMPLES:
        driver = Driver(adapter)
        await driver.sync(listing)
        desired = prepared(adapter, listing)
        for remote_id in (driver.remote_id, None):
            record = await adapter.fetch(listing.external_ref, remote_id, like=desired)
            assert record is not None, listing.external_ref
            assert record.projection is not None
            diff = diff_projection(record.projection, desired)
            assert _is_empty(diff), (listing.external_ref, diff)
            assert record.projection == desired
            assert record.projection.digest() == desired.digest()
            assert record.item_ids == {item.key: item.key for item in desired.media}
            assert record.remote_id == listing.external_ref
        assert driver.plan(desired) == []


@pytest.mark.parametrize(
    ("pointer", "value"),
    [
        ("/data/prices/buy/amount", 1),
        ("/data/location/city", "Potsdam"),
        ("/contact/lastName", "Musterfrau"),
        ("/data/texts/headline/de", "Umgebaut im Portal"),
    ],
)
async def test_a_field_edited_in_the_portal_is_the_only_drift(
    adapter: ImmoweltAdapter, sandbox: ImmoweltSandbox, pointer: str, value: Any
) -> None:
    """After `edit_listing`, only the edited leaf differs and the plan is one PUT that restores
    it; afterwards the listing reads back without drift."""
    for listing in EXAMPLES[:8]:
        driver = Driver(adapter)
        await driver.sync(listing)
        desired = prepared(adapter, listing)
        if pointer == "/data/prices/buy/amount" and "buy" not in desired.fields["data"]["prices"]:
            continue
        sandbox.edit_listing(listing.external_ref, {pointer: value})
        record = await adapter.fetch(listing.external_ref, driver.remote_id, like=desired)
        assert record is not None
        assert record.projection is not None
        assert _drifted_leaves(record.projection, desired) == {pointer}
        diff = diff_projection(record.projection, desired)
        assert set(diff.field_changes) == {pointer.split("/")[1]}
        assert not diff.media_added
        assert not diff.media_removed

        driver.sent = record.projection  # what `refresh` records
        assert [op.kind for op in await driver.sync(listing)] == [OpKind.UPDATE]
        again = await adapter.fetch(listing.external_ref, None, like=desired)
        assert again is not None
        assert again.projection is not None
        assert _is_empty(diff_projection(again.projection, desired))


async def test_a_listing_removed_in_the_portal_reads_back_as_none(
    adapter: ImmoweltAdapter, sandbox: ImmoweltSandbox
) -> None:
    """After `remove_listing`, `fetch` is None by id and by ref; re-created by the Driver it
    reads back without drift."""
    for listing in EXAMPLES[:5]:
        driver = Driver(adapter)
        await driver.sync(listing)
        assert sandbox.remove_listing(listing.external_ref)
        assert await adapter.fetch(listing.external_ref, driver.remote_id) is None
        assert await adapter.fetch(listing.external_ref, None) is None
        desired = prepared(adapter, listing)
        driver.sent = None  # what refresh records for a vanished record
        kinds = [op.kind for op in await driver.sync(listing)]
        assert kinds.count(OpKind.CREATE) == 1
        record = await adapter.fetch(listing.external_ref, None, like=desired)
        assert record is not None
        assert record.projection is not None
        assert _is_empty(diff_projection(record.projection, desired))
    assert not sandbox.remove_listing("NOT-THERE")


async def test_media_dropped_in_the_portal_is_added_back(
    adapter: ImmoweltAdapter, sandbox: ImmoweltSandbox
) -> None:
    """A media reference removed in the portal is a media drift (one item added back) plus the
    `media` field; repairing it uploads that item once and PUTs the listing."""
    listing = with_media(make_listing(), "a.jpg", "b.jpg", "c.jpg")
    driver = Driver(adapter)
    await driver.sync(listing)
    desired = prepared(adapter, listing)
    stored = sandbox.listings()["DE-1001"]["media"]
    sandbox.edit_listing("DE-1001", {"/media": [stored[0], stored[2]]})
    record = await adapter.fetch("DE-1001", None, like=desired)
    assert record is not None
    assert record.projection is not None
    diff = diff_projection(record.projection, desired)
    assert set(diff.field_changes) == {"media"}
    # The third item moved from place 2 to place 1 and is re-attached under its own id.
    assert {item.key for item in diff.media_added} == {desired.media[1].key, desired.media[2].key}

    driver.sent = record.projection
    kinds = [op.kind for op in await driver.sync(listing)]
    assert kinds.count(OpKind.UPDATE) == 1
    assert sandbox.listings()["DE-1001"]["media"] == stored


async def test_without_like_media_keep_their_ids_only(adapter: ImmoweltAdapter) -> None:
    """The portal does not echo media URLs: without `like`, items carry their id alone, and
    the fields still equal what was sent."""
    listing = with_media(make_listing(), "a.jpg")
    driver = Driver(adapter)
    await driver.sync(listing)
    desired = prepared(adapter, listing)
    record = await adapter.fetch("DE-1001", None)
    assert record is not None
    assert record.projection is not None
    assert record.projection.fields == desired.fields
    key = desired.media[0].key
    assert [(i.key, i.payload) for i in record.projection.media] == [
        (key, {"externalMediaId": key})
    ]
    assert record.projection.target is TargetState.PUBLISHED


async def test_portal_assigned_members_and_number_forms_are_not_drift(
    adapter: ImmoweltAdapter, sandbox: ImmoweltSandbox
) -> None:
    """`listingId`, `metadata.portalWebKey` (assigned by the portal) and `450000.0` for
    `450000` are not drift, and the projection reads back with `like`'s values."""
    listing = make_listing()
    await Driver(adapter).sync(listing)
    desired = prepared(adapter, listing)
    sandbox.edit_listing(
        "DE-1001", {"/metadata/portalWebKey": "2ABCD3E", "/data/prices/buy/amount": 450000.0}
    )
    record = await adapter.fetch("DE-1001", None, like=desired)
    assert record is not None
    assert record.projection is not None
    assert record.projection == desired
    assert record.projection.digest() == desired.digest()
    assert type(record.projection.fields["data"]["prices"]["buy"]["amount"]) is int


async def test_a_seeded_record_is_found_by_ref_with_only_its_stale_field(
    adapter: ImmoweltAdapter, sandbox: ImmoweltSandbox
) -> None:
    """A record another system created (`seed_listing`, media included) is found by ref; only
    its stale price differs, so adopting it sends one PUT and no create."""
    listing = with_media(make_listing(), "a.jpg", "b.jpg")
    desired = prepared(adapter, listing)
    stale = copy.deepcopy(desired.fields)
    stale["data"]["prices"]["buy"]["amount"] = 9
    assert sandbox.seed_listing(stale) == "DE-1001"
    record = await adapter.fetch("DE-1001", None, like=desired)
    assert record is not None
    assert record.projection is not None
    assert _drifted_leaves(record.projection, desired) == {"/data/prices/buy/amount"}
    driver = Driver(adapter, sent=record.projection, remote_id=record.remote_id)
    assert [op.kind for op in await driver.sync(listing)] == [OpKind.UPDATE]
    assert sandbox.listings()["DE-1001"] == desired.fields


async def test_lookups_by_ref_read_the_id_list_once(
    make_adapter: AdapterFactory, sandbox: ImmoweltSandbox
) -> None:
    """Adoption of many new listings: after `lookup_index_after` look-ups by ref, the id list
    is paged once, concurrently used look-ups share it, and refs not in it cost no request."""
    adapter = make_adapter(lookup_index_after=4)
    found = await asyncio.gather(*(adapter.fetch(f"NEW-{i:03}", None) for i in range(40)))
    assert found == [None] * 40
    gets = _gets(sandbox)
    assert gets.count("/v1/listings") == 1  # an empty account: one page
    assert len(gets) <= 4 + 1 + 4  # at most the look-ups before the index, + the page

    for i in range(9):
        sandbox.seed_listing(prepared(adapter, make_listing(external_ref=f"OLD-{i}")).fields)
    full = make_adapter(lookup_index_after=0)
    before = len(_gets(sandbox))
    refs = [f"OLD-{i}" for i in range(9)] + [f"NEW-{i:03}" for i in range(40)]
    records = [await full.fetch(ref, None) for ref in refs]
    assert [r is not None for r in records] == [True] * 9 + [False] * 40
    # 9 listings at 3 a page: 3 pages, then one GET per listing found, none for the 40 new.
    assert len(_gets(sandbox)) - before == 3 + 9

    await Driver(full).sync(make_listing(external_ref="NEW-000"))  # the list follows creates
    assert await full.fetch("NEW-000", None) is not None


async def test_what_this_instance_creates_takes_bounded_memory_and_is_still_found(
    make_adapter: AdapterFactory, sandbox: ImmoweltSandbox
) -> None:
    """The id list keeps what it read; the listings this instance creates are not added to it
    but kept in `CreatedRefs` (here the latest 4 exactly, earlier ones in its filter), so a
    long run's memory does not grow per listing created, and each is still found by ref."""
    adapter = make_adapter(lookup_index_after=0)
    adapter._created = CreatedRefs(recent=4)
    for i in range(12):
        assert await adapter.fetch(f"NEW-{i:03}", None) is None  # adoption's look-up
        await Driver(adapter).sync(make_listing(external_ref=f"NEW-{i:03}"))
    assert adapter._index == set()
    assert len(adapter._created) == 4
    found = [await adapter.fetch(f"NEW-{i:03}", None) for i in range(12)]
    assert [r is not None and r.remote_id for r in found] == [f"NEW-{i:03}" for i in range(12)]
    before = len(_gets(sandbox))
    assert await adapter.fetch("NEW-012", None) is None
    assert len(_gets(sandbox)) == before  # a ref never created costs no request


async def test_records_list_every_listing_once(
    adapter: ImmoweltAdapter, sandbox: ImmoweltSandbox
) -> None:
    """`records` yields `(externalListingId, externalListingId)` for each listing, seeded ones
    included, over all pages."""
    for ref in ("DE-1", "DE-2", "DE-3", "DE-4"):
        await Driver(adapter).sync(make_listing(external_ref=ref))
    sandbox.seed_listing(prepared(adapter, make_listing(external_ref="LEGACY-1")).fields)
    seen = [pair async for pair in adapter.records()]
    assert seen == [(r, r) for r in ("DE-1", "DE-2", "DE-3", "DE-4", "LEGACY-1")]


def test_hooks_refuse_unknown_accounts_and_refs(sandbox: ImmoweltSandbox) -> None:
    """The hooks name what is missing instead of creating it silently."""
    with pytest.raises(KeyError):
        sandbox.remove_listing("DE-1", account="nobody")
    with pytest.raises(KeyError):
        sandbox.edit_listing("DE-1", {"/data/city": "x"})
    with pytest.raises(ValueError, match="offererEstateId"):
        sandbox.seed_listing({"data": {}})
