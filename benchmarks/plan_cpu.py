"""CPU per listing of planning (parse + validate + prepare + hash + diff) against a
bare `Listing.model_validate_json` of the same lines.

    .venv/bin/python benchmarks/plan_cpu.py [--listings 10000] [--concurrency 64]

Planning is the engine's own path without I/O to portals: `Planner.stream(read_listings(...))`
of a `Syndicator` configured for the Hemnet and Immowelt adapters (base URLs that are never
contacted) over an empty SQLite state store, so every listing is prepared (the portal's rules
and the projection in one call), hashed and diffed against nothing (a create). Before the
clock starts, the adapter of every portal account the listings route to is built
(`AdapterPool` builds one on first use, and the first lines need not name every portal) and
the planner is warmed up on the first 20 lines. `--concurrency` is accepted for symmetry;
planning is sequential.
Both sides are timed with `time.process_time` in this process, best of `--repeat` rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import _harness as h
import structlog

from listsync import Syndicator
from listsync.adapter import diff_projection
from listsync.io import read_listings
from listsync.model import Listing
from listsync.sync import AdapterPool, Planner

WARM_UP = 20
PORTALS = h.OFFLINE_PORTALS


def bare(path: Path) -> float:
    lines = path.read_bytes().splitlines()
    start = time.process_time()
    for line in lines:
        Listing.model_validate_json(line)
    return time.process_time() - start


def build_adapters(pool: AdapterPool, path: Path) -> None:
    """Build the adapter of every (portal, account) that a listing of `path` routes to."""
    for _, listing in read_listings(path):
        if not isinstance(listing, Listing):
            continue
        for portal in listing.portals:
            account = pool.route(portal, listing.agency.external_ref) if portal in pool else None
            if account is not None:
                pool.adapter(portal, account)


def planned(path: Path, work: Path) -> tuple[float, dict[str, int]]:
    """CPU seconds to plan every line of `path` (adapters built and warmed up beforehand)."""
    state = work / "plan.sqlite"
    for leftover in work.glob("plan.sqlite*"):
        leftover.unlink()
    syndicator = Syndicator(PORTALS, state=f"sqlite:///{state}")
    try:
        planner = Planner(syndicator.pool, syndicator.store)
        build_adapters(syndicator.pool, path)
        with path.open("rb") as handle:
            warm_up = [handle.readline() for _ in range(WARM_UP)]
        for _ in planner.stream(read_listings(io.BytesIO(b"".join(warm_up)))):
            pass
        actions: dict[str, int] = {}
        start = time.process_time()
        for entry in planner.stream(read_listings(path)):
            actions[entry.action.value] = actions.get(entry.action.value, 0) + 1
        return time.process_time() - start, actions
    finally:
        asyncio.run(syndicator.aclose())


def breakdown(path: Path, work: Path) -> dict[str, float]:
    """CPU per listing of each step called on its own (adapter calls + `diff_projection`),
    averaged over ALL listings (each listing goes to its first portal only). "hash" is taken
    for every listing here; the planner takes it only for a listing with a record to compare
    with (a re-run), and apply when it records a listing as sent."""
    lines = path.read_bytes().splitlines()
    listings = [Listing.model_validate_json(line) for line in lines]
    syndicator = Syndicator(PORTALS, state=f"sqlite:///{work / 'breakdown.sqlite'}")
    spent: dict[str, float] = {}

    def clock(name: str, step: Callable[[], Any]) -> Any:
        start = time.process_time()
        out = step()
        spent[name] = spent.get(name, 0.0) + time.process_time() - start
        return out

    try:
        for line in lines:
            clock("parse+validate", partial(Listing.model_validate_json, line))
        for listing in listings:
            portal = listing.portals[0]
            adapter = syndicator.pool.adapter(portal, "default")
            prepared = clock(f"prepare {portal}", partial(adapter.prepare, listing))
            desired = prepared.projection
            if desired is None:  # blocked by the portal's rules: nothing to hash or diff
                continue
            clock(f"hash {portal}", desired.digest)
            clock(f"diff {portal}", partial(diff_projection, None, desired))
    finally:
        asyncio.run(syndicator.aclose())
    return {k: round(1e6 * v / len(lines), 1) for k, v in sorted(spent.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory(prefix="listsync-plan-") as tmp:
        work = Path(tmp)
        path = h.generate_listings(args.listings, work / "listings.jsonl")
        parse_s = min(bare(path) for _ in range(args.repeat))
        plan_runs = [planned(path, work) for _ in range(args.repeat)]
        steps = breakdown(path, work)
    plan_s = min(s for s, _ in plan_runs)
    fig: dict[str, Any] = {
        "benchmark": "plan_cpu",
        "listings": args.listings,
        "actions": plan_runs[0][1],
        "bare_parse_us_per_listing": round(1e6 * parse_s / args.listings, 1),
        "plan_us_per_listing": round(1e6 * plan_s / args.listings, 1),
        "ratio": round(plan_s / parse_s, 2),
        "steps_us_per_listing": steps,
    }
    print(f"{args.listings} listings; planned actions {fig['actions']}")
    print(f"bare Listing.model_validate_json: {fig['bare_parse_us_per_listing']} us CPU/listing")
    print(f"plan (parse..diff):               {fig['plan_us_per_listing']} us CPU/listing")
    print(f"ratio: {fig['ratio']}")
    print("steps on their own, us CPU per listing averaged over all listings:")
    for name, micros in sorted(steps.items(), key=lambda item: -item[1]):
        print(f"  {name:<20} {micros:8.1f}")
    h.emit(fig)


if __name__ == "__main__":
    main()
