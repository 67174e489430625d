"""Peak RSS of `listsync apply` on a small and a large input (10,000 and 100,000 listings).

    .venv/bin/python benchmarks/memory.py [--listings 10000] [--factor 10] [--latency-ms 0]
        [--concurrency 64]

Each size is a separate `listsync apply` subprocess with its own fresh state store, against
the Hemnet and Immowelt sandboxes served by another process (request log reduced to counters,
so the server's memory stays flat). Peak RSS is the child's `ru_maxrss` from `os.wait4`.
Printed: the peak RSS of each run and large / small (target <= 1.3: memory must not grow with
the number of listings, the input is streamed). `--listings` is the small size; the large one
is `--listings x --factor` (100,000 takes the better part of an hour on 2 cores; scale it down
with `--listings` and note the sizes used).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import _harness as h


def measure(n: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    listings = h.generate_listings(n, work / "listings.jsonl")
    options = {"hemnet": {"image_processing_seconds": 0}}
    with h.SandboxServers(latency_ms=args.latency_ms, log="count", options=options) as servers:
        config = servers.write_config(work / "listsync.toml", concurrency=args.concurrency)
        cmd = h.apply_cmd(listings, config, work / "state.sqlite", concurrency=args.concurrency)
        result = h.run_process(cmd, cwd=work, env=h.cli_env())
        requests = sum(s["requests"] for s in servers.stats().values())
    if result.returncode not in (0, 1):
        raise SystemExit(f"listsync apply failed:\n{result.stderr[-3000:]}")
    (work / "listings.jsonl").unlink()
    return {
        "listings": n,
        "requests": requests,
        "exit": result.returncode,
        "wall_s": round(result.wall, 1),
        "peak_rss_mib": round(result.max_rss_mib, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=10_000)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="listsync-mem-") as tmp:
        small = measure(args.listings, args, Path(tmp) / "small")
        print(f"{small['listings']:>7} listings: peak RSS {small['peak_rss_mib']} MiB "
              f"({small['wall_s']} s)", flush=True)  # fmt: skip
        large = measure(args.listings * args.factor, args, Path(tmp) / "large")
        print(f"{large['listings']:>7} listings: peak RSS {large['peak_rss_mib']} MiB "
              f"({large['wall_s']} s)")  # fmt: skip
    ratio = round(large["peak_rss_mib"] / small["peak_rss_mib"], 3)
    print(f"ratio: {ratio}")
    h.emit({"benchmark": "memory", "small": small, "large": large, "ratio": ratio})


if __name__ == "__main__":
    main()
