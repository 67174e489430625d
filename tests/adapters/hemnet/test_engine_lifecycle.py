"""Hemnet through the engine (`Syndicator`, in process): nothing pointless is created (issue 15
item 9). A withdrawn listing that was never on Hemnet is not created there just to be
unpublished; a draft is still prepared unpublished, as Hemnet's guide describes; a sold listing
is still created and reported sold (the guide asks for a sale to be reported after every one)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from listsync.syndicator import Syndicator
from listsync_hemnet.sandbox import HemnetSandbox

from .conftest import listing_data

SALE = {"price": {"amount": "5100000", "currency": "SEK"}, "date": "2027-01-20"}


@pytest.fixture
async def syndicator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Syndicator, HemnetSandbox]]:
    monkeypatch.chdir(tmp_path)  # a rotated key would be stored here
    sandbox = HemnetSandbox(image_processing_seconds=0.0)
    settings = sandbox.client_settings("https://hemnet.sandbox.test")
    syndicator = Syndicator(
        {"hemnet": settings},
        state=f"sqlite:///{tmp_path / 'state.sqlite'}",
        transports={"hemnet": sandbox.transport()},
    )
    try:
        yield syndicator, sandbox
    finally:
        await syndicator.aclose()


def _listing(ref: str, **overrides: Any) -> dict[str, Any]:
    return listing_data(external_ref=ref, portals=["hemnet"], **overrides)


def _writes_for(sandbox: HemnetSandbox, listing_ids: set[str]) -> list[tuple[str, str]]:
    """Listing writes: creates, and anything under the given listings' paths."""
    return [
        (r.method, r.path)
        for r in sandbox.write_requests()
        if r.path == "/listings" or any(r.path.startswith(f"/listings/{i}") for i in listing_ids)
    ]


async def test_a_never_published_withdrawn_listing_is_not_created(
    syndicator: tuple[Syndicator, HemnetSandbox],
) -> None:
    """Withdrawn and never on Hemnet: no request creates, changes or unpublishes anything, in
    the first run or the next; the other listings of the run go ahead."""
    engine, sandbox = syndicator
    batch = [_listing("gone-1", status="withdrawn"), _listing("live-1")]
    await engine.run(batch)
    await engine.run(batch)
    creates = [r.body["externalId"] for r in sandbox.write_requests() if r.path == "/listings"]
    assert creates == ["live-1"]
    assert [v["externalId"] for v in sandbox.listings()] == ["live-1"]


async def test_a_published_listing_later_withdrawn_is_unpublished(
    syndicator: tuple[Syndicator, HemnetSandbox],
) -> None:
    """Once on Hemnet, withdrawing it is one unpublish (the record stays, unpublished)."""
    engine, sandbox = syndicator
    await engine.run([_listing("w-1")])
    [view] = sandbox.listings()
    assert view["isPublished"] is True
    mark = len(sandbox.requests)
    await engine.run([_listing("w-1", status="withdrawn")])
    writes = [(r.method, r.path) for r in sandbox.requests[mark:] if r.is_write]
    assert writes == [("POST", f"/listings/{view['id']}/unpublish")]
    assert sandbox.listings()[0]["isPublished"] is False


async def test_a_draft_is_prepared_unpublished(
    syndicator: tuple[Syndicator, HemnetSandbox],
) -> None:
    """A draft is created with its images and showings and left unpublished."""
    engine, sandbox = syndicator
    await engine.run([_listing("d-1", status="draft")])
    [view] = sandbox.listings()
    assert view["isPublished"] is False
    kinds = [(m, p.replace(view["id"], "{id}")) for m, p in _writes_for(sandbox, {view["id"]})]
    assert kinds == [
        ("POST", "/listings"),
        ("POST", "/listings/{id}/images"),
        ("POST", "/listings/{id}/images"),
        ("POST", "/listings/{id}/showings"),
    ]


async def test_a_sold_listing_never_on_hemnet_is_still_reported_sold(
    syndicator: tuple[Syndicator, HemnetSandbox],
) -> None:
    """Sold before listsync ever sent it: created and marked sold (never published)."""
    engine, sandbox = syndicator
    await engine.run([_listing("s-1", status="sold", sale=SALE)])
    [view] = sandbox.listings()
    assert view["sale"] == {"price": 5_100_000, "isPricePublic": True, "soldAt": "2027-01-20"}
    writes = [(m, p.replace(view["id"], "{id}")) for m, p in _writes_for(sandbox, {view["id"]})]
    assert ("POST", "/listings/{id}/sale") in writes
    assert ("POST", "/listings/{id}/publish") not in writes
