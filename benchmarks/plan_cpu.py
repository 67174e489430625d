"""CPU per listing of planning (parse + validate + preflight + project + hash + diff) against a
bare `Listing.model_validate_json` of the same lines.

    .venv/bin/python benchmarks/plan_cpu.py [--listings 10000] [--concurrency 64]

Planning is the engine's own path without I/O to portals: `Planner.stream(read_listings(...))`
of a `Syndicator` configured for the Hemnet and Immowelt adapters (base URLs that are never
contacted) over an empty SQLite state store, so every listing is projected, hashed and diffed
against nothing (a create). `--concurrency` is accepted for symmetry; planning is sequential.
Both sides are timed with `time.process_time` in this process, best of `--repeat` rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import _harness as h

from listsync.io import read_listings
from listsync.model import Listing
from listsync.sync import Planner
from listsync.syndicator import Syndicator

PORTALS = {
    "hemnet": {"base_url": "http://127.0.0.1:9", "token": "bench-token", "key_id": "bench"},
    "immowelt": {
        "base_url": "http://127.0.0.1:9/v1",
        "token_url": "http://127.0.0.1:9/oauth/token",
        "client_id": "bench",
        "client_secret": "bench-secret",
        "external_customer_id": "customer-bench",
    },
}


def bare(path: Path) -> float:
    lines = path.read_bytes().splitlines()
    start = time.process_time()
    for line in lines:
        Listing.model_validate_json(line)
    return time.process_time() - start


def planned(path: Path, work: Path) -> tuple[float, dict[str, int]]:
    syndicator = Syndicator(PORTALS, state=f"sqlite:///{work / 'plan.sqlite'}")
    try:
        planner = Planner(syndicator.pool, syndicator.store)
        actions: dict[str, int] = {}
        start = time.process_time()
        for entry in planner.stream(read_listings(path)):
            actions[entry.action.value] = actions.get(entry.action.value, 0) + 1
        return time.process_time() - start, actions
    finally:
        asyncio.run(syndicator.aclose())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="listsync-plan-") as tmp:
        work = Path(tmp)
        path = h.generate_listings(args.listings, work / "listings.jsonl")
        parse_s = min(bare(path) for _ in range(args.repeat))
        plan_runs = [planned(path, work) for _ in range(args.repeat)]
    plan_s = min(s for s, _ in plan_runs)
    fig: dict[str, Any] = {
        "benchmark": "plan_cpu",
        "listings": args.listings,
        "actions": plan_runs[0][1],
        "bare_parse_us_per_listing": round(1e6 * parse_s / args.listings, 1),
        "plan_us_per_listing": round(1e6 * plan_s / args.listings, 1),
        "ratio": round(plan_s / parse_s, 2),
    }
    print(f"{args.listings} listings; planned actions {fig['actions']}")
    print(f"bare Listing.model_validate_json: {fig['bare_parse_us_per_listing']} us CPU/listing")
    print(f"plan (parse..diff):               {fig['plan_us_per_listing']} us CPU/listing")
    print(f"ratio: {fig['ratio']}")
    h.emit(fig)


if __name__ == "__main__":
    main()
