"""Reconciling with the portal (issue 15), in process against the Hemnet sandbox: refresh,
drift repair, a vanished record re-created once, adoption instead of duplicates, orphans and
prune, withdrawn listings never created, and outages failing fast as "unavailable"."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from listsync.io import bundled_examples, read_listings
from listsync.model import Listing, ListingStatus
from listsync.sandbox import FaultConfig
from listsync.sync import Outcome
from listsync.syndicator import Syndicator
from listsync_hemnet import HemnetAdapter
from listsync_hemnet.sandbox import HemnetSandbox

BASE = "http://hemnet.test"


def _examples(n: int) -> list[Listing]:
    """The first `n` bundled example listings that go to Hemnet, for Hemnet only."""
    found = []
    for _, item in read_listings(str(bundled_examples())):
        if isinstance(item, Listing) and "hemnet" in item.portals:
            found.append(item.model_copy(update={"portals": ("hemnet",)}))
        if len(found) == n:
            break
    return found


@pytest.fixture
def sandbox() -> HemnetSandbox:
    return HemnetSandbox(image_processing_seconds=0)


@pytest.fixture
async def syndicator(sandbox: HemnetSandbox, tmp_path: Path) -> AsyncIterator[Syndicator]:
    settings: dict[str, Any] = {
        **sandbox.client_settings(BASE),
        "retry_backoff": 0.0,
        "breaker_cooldown": 0.3,
        "credential_file": str(tmp_path / "hemnet-key.json"),
    }
    async with Syndicator(
        {"hemnet": settings},
        state=f"sqlite:///{tmp_path / 'state.sqlite'}",
        transports={"hemnet": sandbox.transport()},
        adapters={"hemnet": HemnetAdapter},
    ) as s:
        yield s


def _writes(sandbox: HemnetSandbox, since: int = 0) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in sandbox.requests[since:] if r.is_write and not r.fault]


async def test_refresh_finds_drift_and_apply_repairs_only_that_field(
    syndicator: Syndicator, sandbox: HemnetSandbox
) -> None:
    """A field edited in the portal's UI: refresh reports it drifted; the next apply sends one
    PATCH holding only that field; a further apply sends nothing."""
    listings = _examples(5)
    assert (await syndicator.run(listings)).converged
    edited = listings[2].external_ref
    sandbox.edit_listing(edited, {"description": "edited by a broker in the portal"})
    refreshed = await syndicator.refresh(listings)
    assert refreshed.totals == {"unchanged": 4, "drifted": 1}
    (drifted,) = [r for r in refreshed.results if r.outcome is Outcome.DRIFTED]
    assert drifted.entry.external_ref == edited
    assert "description" in drifted.done[0]
    before = len(sandbox.requests)
    assert (await syndicator.run(listings)).totals == {"unchanged": 4, "converged": 1}
    (patch,) = [r for r in sandbox.requests[before:] if r.is_write]
    assert patch.method == "PATCH"
    assert set(patch.body) == {"description"}
    before = len(sandbox.requests)
    assert (await syndicator.run(listings)).totals == {"unchanged": 5}
    assert _writes(sandbox, before) == []


async def test_apply_refresh_recreates_a_vanished_record_exactly_once(
    syndicator: Syndicator, sandbox: HemnetSandbox
) -> None:
    """A record deleted behind listsync's back: `apply --refresh` re-creates it once, with its
    images; nothing else is written."""
    listings = _examples(4)
    assert (await syndicator.run(listings)).converged
    gone = listings[1].external_ref
    assert sandbox.remove_listing(gone) == 1
    before = len(sandbox.requests)
    report = await syndicator.run(listings, refresh=True)
    assert report.totals == {"unchanged": 3, "converged": 1}
    assert sandbox.inventory()[gone] == 1
    creates = [p for m, p in _writes(sandbox, before) if m == "POST" and p == "/listings"]
    assert len(creates) == 1
    assert (await syndicator.run(listings)).totals == {"unchanged": 4}


async def test_a_404_on_update_recreates_the_listing_in_the_same_run(
    syndicator: Syndicator, sandbox: HemnetSandbox
) -> None:
    """Without --refresh, a changed listing whose record vanished is re-created instead of
    failing with 404 for ever."""
    (listing,) = _examples(1)
    assert (await syndicator.run([listing])).converged
    sandbox.remove_listing(listing.external_ref)
    changed = listing.model_copy(update={"rooms": (listing.rooms or 1) + 1})
    report = await syndicator.run([changed])
    assert report.totals == {"converged": 1}, report.results
    assert sandbox.inventory()[listing.external_ref] == 1
    trail = [(a.operation, a.outcome) for a in await syndicator.audit(listing.external_ref)]
    assert ("refresh", "gone") in trail


async def test_existing_records_are_adopted_not_duplicated(
    syndicator: Syndicator, sandbox: HemnetSandbox
) -> None:
    """Records created before listsync (or with a lost state) under the input's external ids:
    the first apply creates none of them and patches only what is stale."""
    listings = _examples(4)
    adapter = syndicator.pool.adapter("hemnet", "default")
    for listing in listings:
        prepared = adapter.prepare(listing)
        assert prepared.projection is not None
        sandbox.seed_listing(listing)
    stale = listings[0].external_ref
    sandbox.edit_listing(stale, {"description": "old text"})
    before = len(sandbox.requests)
    report = await syndicator.run(listings)
    assert report.converged, [r.error_message for r in report.results]
    assert all(count == 1 for ref, count in sandbox.inventory().items() if "/" not in ref)
    writes = [r for r in sandbox.requests[before:] if r.is_write]
    assert not any(r.method == "POST" and r.path == "/listings" for r in writes)
    patches = [r for r in writes if r.method == "PATCH"]
    assert [set(r.body) for r in patches] == [{"description"}]
    trail = [(a.operation, a.outcome) for a in await syndicator.audit(stale)]
    assert ("adopt", "adopted") in trail


async def test_a_withdrawn_listing_never_on_the_portal_is_not_created(
    syndicator: Syndicator, sandbox: HemnetSandbox
) -> None:
    """Nothing is created just to be unpublished."""
    (listing,) = _examples(1)
    withdrawn = listing.model_copy(update={"status": ListingStatus.WITHDRAWN})
    report = await syndicator.run([withdrawn])
    assert report.converged
    assert _writes(sandbox) == []
    assert (await syndicator.run([withdrawn])).totals == {"unchanged": 1}


async def test_orphans_are_reported_and_pruned_only_when_asked(
    syndicator: Syndicator, sandbox: HemnetSandbox
) -> None:
    """Records of the account that the input does not name are listed by refresh; `prune`
    takes them off the portal (Hemnet: unpublish)."""
    listings = _examples(3)
    assert (await syndicator.run(listings)).converged
    report = await syndicator.refresh(listings[:2])
    assert [o.external_ref for o in report.orphans] == [listings[2].external_ref]
    assert not report.orphans[0].withdrawn
    before = len(sandbox.requests)
    pruned = await syndicator.refresh(listings[:2], prune=True)
    assert [o.withdrawn for o in pruned.orphans] == [True]
    assert [
        (r.method, r.path.rsplit("/", 1)[-1]) for r in sandbox.requests[before:] if r.is_write
    ] == [("POST", "unpublish")]


async def test_an_outage_fails_fast_as_unavailable_and_the_next_run_converges(
    syndicator: Syndicator, sandbox: HemnetSandbox
) -> None:
    """Every request answered 503: the run ends with every listing unavailable, a few
    requests in all (the breaker), and converges once the portal is back, without duplicates."""
    listings = _examples(20)
    sandbox.set_faults(FaultConfig(error_rate=1.0, error_statuses=(503,)))
    report = await syndicator.run(listings)
    assert report.totals == {"unavailable": 20}
    assert len(sandbox.requests) <= 3 * 20
    sandbox.set_faults(FaultConfig())
    await asyncio.sleep(0.35)  # the breaker's cooldown: the next request is its probe
    again = await syndicator.run(listings)
    assert again.converged, [r.error_message for r in again.results][:3]
    assert all(count == 1 for count in sandbox.inventory().values())
