"""CPU per applied operation of the engine and the state store, without HTTP, on SQLite and on
PostgreSQL.

    .venv/bin/python benchmarks/engine_cpu.py [--listings 1000] [--concurrency 64]
        [--turns 16] [--repeat 3] [--stores sqlite,postgres]

The real engine (`Syndicator.apply`: lanes, journal, retries, recording after every operation in
a SQLite state store on disk) applies N generated listings through the Hemnet and Immowelt
adapters, whose `apply`, `recover` and `fetch` are replaced by ones that send nothing: `apply`
answers (a new id for a creation, a request id for everything) after a seeded random number of
event loop turns between 1 and `--turns`, as a response arrives while other listings are being
worked on, so listings in flight finish their operations at different turns as they do in a real
run: `--turns 16` at concurrency 64 groups 3 records per commit (the engine's group commit), an
in-process `apply` of 300 listings against the sandboxes at 20 ms latency and concurrency 64
grouped 4. What is left is the engine's own cost per operation, plus the event loop's for those
turns (about 1.6 us a turn at concurrency 64, the same before and after any engine change).

Logging is configured as `listsync apply` does (level WARNING). Planning (parse, prepare,
diff) happens before the clock starts; the adapters are built and warmed up on 20 other
listings first. Each round starts from an empty state file; the best of `--repeat` rounds is
reported. One more round runs with every state store call timed, to show the store's share
(a `transaction()` block counts with the saves inside it). A re-plan after each round must find
0 operations (the recorded state is complete).

Each store is measured the same way: SQLite (a file on disk, in this process) and PostgreSQL (the
store through psycopg, each round on a fresh migrated schema of its own; the server comes from
`LISTSYNC_TEST_POSTGRES_URL` or is started by `scripts/services.py` for the run, as in
`store_cpu.py`). Only this process's CPU is counted: PostgreSQL's own work is in its server
process, SQLite's is in this one. The timed round counts a listing's `claim` (its lease: one
round trip per listing and one to release it on PostgreSQL, nothing on SQLite) with the store.
The last line is JSON: the SQLite figures at the top level (as before PostgreSQL was measured)
and each store's under `stores`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

import _harness as h
from store_cpu import fresh_schema, postgres_server

from listsync import Syndicator
from listsync.adapter import NON_IDEMPOTENT, Operation, OperationContext, OperationResult
from listsync.io import read_listings
from listsync.log import configure_logging
from listsync.model import Listing
from listsync.sync import PlanEntry, PlannedEntry, SQLiteStateStore, StateStore
from listsync.sync._sqlite import open_state_store
from listsync_hemnet import HemnetAdapter
from listsync_immowelt import ImmoweltAdapter

WARM_UP = 20
PORTALS = h.OFFLINE_PORTALS


def without_http(cls: type[Any], turns: int, seed: int = 0) -> type[Any]:
    """`cls` whose `apply` answers after 1..`turns` event loop turns and whose `recover` and
    `fetch` (the look-up before a first create) find nothing: no HTTP at all."""
    ids, rng = itertools.count(1), random.Random(seed)

    async def apply(self: Any, op: Operation, ctx: OperationContext) -> OperationResult:
        for _ in range(rng.randint(1, turns)):
            await asyncio.sleep(0)
        n = next(ids)
        remote_id = f"r{n}" if op.kind in NON_IDEMPOTENT else None
        return OperationResult(remote_id=remote_id, request_id=f"req-{n}")

    async def recover(self: Any, op: Operation, ctx: OperationContext) -> None:
        return None

    async def fetch(
        self: Any, external_ref: str, remote_id: str | None, *, like: Any = None
    ) -> None:
        return None

    return type(cls.__name__, (cls,), {"apply": apply, "recover": recover, "fetch": fetch})


class TimedStore:
    """Wraps a state store and adds up the CPU seconds spent in each of its methods; calls
    inside a `transaction()` block count with the block (and the saves in it are counted)."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.spent: dict[str, float] = defaultdict(float)
        self.grouped_saves = 0
        self._in_block = False

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if not callable(method):
            return method

        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._in_block:
                if name == "save":
                    self.grouped_saves += 1
                return method(*args, **kwargs)
            start = time.process_time()
            try:
                return method(*args, **kwargs)
            finally:
                self.spent[name] += time.process_time() - start

        return timed

    @contextmanager
    def claim(self, key: Any) -> Iterator[bool]:
        """The listing's lease, taken and released with the clock running."""
        start = time.process_time()
        lease = self.inner.claim(key)
        held = lease.__enter__()
        self.spent["claim"] += time.process_time() - start
        try:
            yield held
        finally:
            start = time.process_time()
            lease.__exit__(None, None, None)
            self.spent["claim"] += time.process_time() - start

    @contextmanager
    def transaction(self) -> Iterator[None]:
        start = time.process_time()
        self._in_block = True
        try:
            with self.inner.transaction():
                yield
        finally:
            self._in_block = False
            self.spent["transaction"] += time.process_time() - start
            self.spent["transactions"] += 1


def _planned(plan: Iterable[PlanEntry]) -> list[PlannedEntry]:
    """The entries that plan operations (not invalid, blocked or failed ones)."""
    return [entry for entry in plan if isinstance(entry, PlannedEntry)]


def load(path: Path) -> list[Listing]:
    return [item for _, item in read_listings(path) if isinstance(item, Listing)]


Opener = Callable[[], AbstractContextManager[StateStore]]


def sqlite_opener(work: Path) -> Opener:
    """A new SQLite state file in `work` per round."""

    @contextmanager
    def open_store() -> Iterator[StateStore]:
        for leftover in work.glob("engine.sqlite*"):
            leftover.unlink()
        store = SQLiteStateStore(work / "engine.sqlite")
        try:
            yield store
        finally:
            store.close()

    return open_store


def postgres_opener(server: str) -> Opener:
    """A fresh migrated schema on `server` per round (dropped after it)."""

    @contextmanager
    def open_store() -> Iterator[StateStore]:
        with fresh_schema(server) as url:
            store = open_state_store(url)
            try:
                yield store
            finally:
                store.close()

    return open_store


async def one_round(
    listings: list[Listing], opener: Opener, args: argparse.Namespace, *, timed: bool = False
) -> dict[str, Any]:
    """Apply `listings` (after a warm-up) into a new state store; CPU seconds and counts.

    With `timed`, every state store call is timed and the CPU per method is returned too.
    """
    with opener() as inner:
        return await _apply_round(listings, inner, args, timed=timed)


async def _apply_round(
    listings: list[Listing], inner: StateStore, args: argparse.Namespace, *, timed: bool
) -> dict[str, Any]:
    store: Any = TimedStore(inner) if timed else inner
    adapters = {
        "hemnet": without_http(HemnetAdapter, args.turns),
        "immowelt": without_http(ImmoweltAdapter, args.turns),
    }
    syndicator = Syndicator(PORTALS, state=store, adapters=adapters, concurrency=args.concurrency)
    try:
        await syndicator.run(listings[:WARM_UP])
        plan = await syndicator.plan(listings[WARM_UP:])
        operations = sum(len(e.operations) for e in _planned(plan) if e.needs_apply)
        if isinstance(store, TimedStore):
            store.spent.clear()
            store.grouped_saves = 0
        start = time.process_time()
        report = await syndicator.apply(plan, keep_results=False)
        cpu = time.process_time() - start
        rerun = await syndicator.plan(listings[WARM_UP:])
        out: dict[str, Any] = {
            "cpu": cpu,
            "operations": operations,
            "entries": len(plan),
            "totals": dict(report.totals),
            "rerun_operations": sum(len(e.operations) for e in _planned(rerun)),
            "rerun_needs_apply": sum(1 for e in _planned(rerun) if e.needs_apply),
        }
        if isinstance(store, TimedStore):
            blocks = store.spent.pop("transactions", 0)
            out["store"] = dict(store.spent)
            out["saves_per_commit"] = store.grouped_saves / blocks if blocks else 1.0
        return out
    finally:
        await syndicator.aclose()


def measure(listings: list[Listing], opener: Opener, args: argparse.Namespace) -> dict[str, Any]:
    """Best of `--repeat` rounds and one timed round on one store: its figures."""
    rounds = [asyncio.run(one_round(listings, opener, args)) for _ in range(args.repeat)]
    timed_round = asyncio.run(one_round(listings, opener, args, timed=True))
    best = min(rounds, key=lambda r: r["cpu"])
    ops = best["operations"]
    return {
        "entries": best["entries"],
        "operations": ops,
        "totals": best["totals"],
        "engine_us_per_op": round(1e6 * best["cpu"] / ops, 1),
        "rounds_us_per_op": [round(1e6 * r["cpu"] / ops, 1) for r in rounds],
        "timed_round_us_per_op": round(1e6 * timed_round["cpu"] / ops, 1),
        "store_us_per_op": round(1e6 * sum(timed_round["store"].values()) / ops, 1),
        "store_us_per_op_by_method": {
            k: round(1e6 * v / ops, 1) for k, v in sorted(timed_round["store"].items())
        },
        "saves_per_commit": round(timed_round["saves_per_commit"], 1),
        "rerun_operations": max(r["rerun_operations"] for r in [*rounds, timed_round]),
        "rerun_needs_apply": max(r["rerun_needs_apply"] for r in [*rounds, timed_round]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--turns", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stores", default="sqlite,postgres", help="comma-separated")
    args = parser.parse_args()
    names = [name.strip() for name in args.stores.split(",") if name.strip()]
    unknown = set(names) - {"sqlite", "postgres"}
    if unknown or not names:
        parser.error(f"--stores: sqlite and/or postgres, not {', '.join(sorted(unknown))}")
    configure_logging(level="WARNING")
    stores: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="listsync-engine-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        listings = load(h.generate_listings(args.listings + WARM_UP, work / "listings.jsonl"))
        for name in names:
            if name == "sqlite":
                opener = sqlite_opener(work)
            else:
                opener = postgres_opener(stack.enter_context(postgres_server()))
            stores[name] = measure(listings, opener, args)
    first = stores[names[0]]
    ops = first["operations"]
    fig: dict[str, Any] = {
        "benchmark": "engine_cpu",
        "listings": args.listings,
        "concurrency": args.concurrency,
        "turns": args.turns,
        **stores.get("sqlite", {}),
        "stores": stores,
    }
    print(
        f"{args.listings} listings, {first['entries']} entries, {ops} operations: {first['totals']}"
    )
    print(f"concurrency {args.concurrency}, answers after 1..{args.turns} event loop turns")
    print(f"CPU in this process per operation, us {''.join(f'{n:>12}' for n in names)}")
    rows = [
        (f"engine (best of {args.repeat})", "engine_us_per_op"),
        ("timed round", "timed_round_us_per_op"),
        ("  state store calls", "store_us_per_op"),
    ]
    for label, field in rows:
        print(f"  {label:<28}{''.join(f'{stores[n][field]:12.1f}' for n in names)}")
    methods = sorted({m for n in names for m in stores[n]["store_us_per_op_by_method"]})
    for method in methods:
        cells = "".join(
            f"{stores[n]['store_us_per_op_by_method'].get(method, 0.0):12.1f}" for n in names
        )
        print(f"    {method:<26}{cells}")
    grouped = "".join(f"{stores[n]['saves_per_commit']:12.1f}" for n in names)
    print(f"  {'saves per commit':<28}{grouped}")
    for name in names:
        print(f"  {name} rounds: {stores[name]['rounds_us_per_op']} us")
    reruns = [stores[n]["rerun_operations"] for n in names]
    print(f"re-plan after apply: {reruns} operations (must be 0)")
    h.emit(fig)


if __name__ == "__main__":
    main()
