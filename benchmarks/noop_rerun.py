"""A no-op re-run: the same N listings applied twice; the second run must send no write.

    .venv/bin/python benchmarks/noop_rerun.py [--listings 10000] [--latency-ms 20]
        [--concurrency 64]

Both runs are `listsync apply` subprocesses with the same state store, against the Hemnet and
Immowelt sandboxes served by another process with `--latency-ms` on every request. Printed:
write requests the sandboxes handled in each run (second: must be 0), every request of the
second run, and the second run's wall time as a fraction of the first (target <= 0.1).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import _harness as h


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    listings = h.generate_listings(args.listings, work / "listings.jsonl")
    options = {"hemnet": {"image_processing_seconds": args.image_processing_s}}
    with h.SandboxServers(latency_ms=args.latency_ms, log="count", options=options) as servers:
        config = servers.write_config(work / "listsync.toml", concurrency=args.concurrency)
        cmd = h.apply_cmd(listings, config, work / "state.sqlite", concurrency=args.concurrency)
        runs = []
        for _ in range(2):
            before = servers.stats()
            result = h.run_process(cmd, cwd=work, env=h.cli_env())
            after = servers.stats()
            if result.returncode not in (0, 1):
                raise SystemExit(f"listsync apply failed:\n{result.stderr[-3000:]}")
            writes = sum(after[p]["writes"] - before[p]["writes"] for p in after)
            requests = sum(after[p]["requests"] - before[p]["requests"] for p in after)
            runs.append((result, writes, requests))
    (first, w1, r1), (second, w2, r2) = runs
    return {
        "benchmark": "noop_rerun",
        "listings": args.listings,
        "latency_ms": args.latency_ms,
        "concurrency": args.concurrency,
        "first": {"wall_s": round(first.wall, 3), "writes": w1, "requests": r1,
                  "exit": first.returncode},
        "second": {"wall_s": round(second.wall, 3), "writes": w2, "requests": r2,
                   "exit": second.returncode, "cpu_s": round(second.cpu, 3)},
        "second_writes": w2,
        "second_to_first": round(second.wall / first.wall, 4),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--image-processing-s", type=float, default=0.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="listsync-noop-") as tmp:
        fig = run(args, Path(tmp))
    f, s = fig["first"], fig["second"]
    print(f"{fig['listings']} listings, latency {fig['latency_ms']} ms")
    print(f"first run:  {f['wall_s']:8.2f} s, {f['requests']} requests, {f['writes']} writes")
    print(f"second run: {s['wall_s']:8.2f} s, {s['requests']} requests, {s['writes']} writes")
    print(f"second / first: {fig['second_to_first']}")
    h.emit(fig)


if __name__ == "__main__":
    main()
