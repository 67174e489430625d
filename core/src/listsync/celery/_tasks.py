"""The tasks: apply a chunk of listings on one portal account; push one listing now."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any

from listsync.celery._app import app
from listsync.celery._runtime import runtime
from listsync.model import parse_listing
from listsync.sync import EntryResult, Outcome, PlanEntry, Planner
from listsync.syndicator import Syndicator

__all__ = ["BUSY_RETRIES", "apply_chunk", "apply_items", "push_now"]

BUSY_RETRIES = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Waits before a chunk's `busy` listings (another worker held them) are tried again."""

Item = Sequence[Any]
"""`[line or None, listing dict, removals]`."""


def _entries(syndicator: Syndicator, portal: str, items: Sequence[Item]) -> Iterator[PlanEntry]:
    """The plan entries of `items` on `portal` (and, for items with `removals`, the removals
    from the portals the listing no longer names)."""
    pool = syndicator.pool
    only = Planner(pool, syndicator.store, portals=[portal] if portal else [])
    for line, data, removals in items:
        listing = parse_listing(dict(data))
        planner = only
        if removals:
            others = set(pool.setups) - set(listing.portals)
            planner = Planner(pool, syndicator.store, portals=[*others, *([portal] * bool(portal))])
        yield from planner.plan_listing(listing, line=line)


async def apply_items(
    syndicator: Syndicator, portal: str, items: Sequence[Item]
) -> list[dict[str, Any]]:
    """Apply `items` on `portal`; listings another worker holds are tried again after a while
    (`BUSY_RETRIES`), and reported `busy` if it still holds them."""
    done: dict[tuple[str, str | None, str | None], dict[str, Any]] = {}
    pending = list(items)
    for wait in (*BUSY_RETRIES, None):
        report = await syndicator.apply(_entries(syndicator, portal, pending))
        busy: set[str] = set()
        for result in report.results:
            e = result.entry
            done[(e.external_ref, e.portal, e.account)] = result.to_json()
            if result.outcome is Outcome.BUSY:
                busy.add(e.external_ref)
        if not busy or wait is None:
            break
        pending = [item for item in pending if str(item[1].get("external_ref")) in busy]
        await asyncio.sleep(wait)
    return list(done.values())


@app.task(name="listsync.apply_chunk", acks_late=True, reject_on_worker_lost=True)
def apply_chunk(portal: str, account: str, items: list[Item]) -> list[dict[str, Any]]:
    """Apply a chunk of listings on one portal account (`account` names the chunk's account
    for the broker's and the operator's sake; the worker routes each listing itself)."""
    del account
    worker = runtime()
    return worker.call(apply_items(worker.syndicator, portal, items))


@app.task(name="listsync.push_now", acks_late=True, reject_on_worker_lost=True)
def push_now(listing: dict[str, Any]) -> list[dict[str, Any]]:
    """Apply one listing (its canonical dict) on every portal it names, now."""
    worker = runtime()
    results: list[EntryResult] = worker.call(worker.syndicator.sync(listing))
    return [r.to_json() for r in results]
