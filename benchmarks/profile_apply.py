"""Where `listsync apply` spends its CPU: cProfile of one apply, grouped by package.

    .venv/bin/python benchmarks/profile_apply.py [--listings 1000] [--latency-ms 0]
        [--concurrency 64] [--top 25] [--save apply.prof]

Runs `listsync apply` under `python -m cProfile` (sandboxes in another process, as in
apply_throughput.py) and prints (a) self time grouped by package or listsync module, (b) the
functions with the most self time, (c) the listsync/adapter functions with the most cumulative
time. cProfile slows everything down about 2x and counts each resumption of a coroutine as a
call; read the shares, not the absolute times. The last line is a JSON object of the shares.
"""

from __future__ import annotations

import argparse
import collections
import pstats
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import _harness as h

_GROUP = re.compile(
    r"site-packages/([^/]+)|/(core/src/listsync/(?:sync|cli|model|sandbox)|core/src/listsync/[^/]+"
    r"|adapters/[^/]+)"
)


def group_of(filename: str, function: str) -> str:
    match = _GROUP.search(filename)
    if match:
        return match.group(1) or match.group(2)
    if filename == "~":
        return f"builtin {function}" if "sqlite3" in function or "socket" in function else "builtin"
    return "stdlib " + Path(filename).name


def analyse(path: Path, top: int) -> dict[str, Any]:
    stats = pstats.Stats(str(path))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]  # pstats keeps it untyped
    groups: dict[str, float] = collections.defaultdict(float)
    own: list[tuple[float, str]] = []
    ours: list[tuple[float, str]] = []
    for (filename, line, function), (_cc, _nc, tottime, cumtime, _callers) in raw.items():
        groups[group_of(filename, function)] += tottime
        label = f"{filename.split('/work/main/')[-1]}:{line}({function})"
        own.append((tottime, label))
        if "/core/src/listsync/" in filename or "/adapters/" in filename:
            ours.append((cumtime, label))
    total = sum(groups.values())
    print(f"total profiled self time {total:.2f} s\n\nself time by package / module:")
    ranked = sorted(groups.items(), key=lambda item: -item[1])[:top]
    for name, seconds in ranked:
        print(f"  {100 * seconds / total:5.1f}%  {seconds:7.2f} s  {name}")
    print("\nfunctions by self time:")
    for seconds, label in sorted(own, reverse=True)[:top]:
        print(f"  {100 * seconds / total:5.1f}%  {label}")
    print("\nlistsync functions by cumulative time (includes awaited time of coroutines):")
    for seconds, label in sorted(ours, reverse=True)[:top]:
        print(f"  {seconds:7.2f} s  {label}")
    return {name: round(100 * s / total, 1) for name, s in ranked}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--save", type=Path, help="keep the cProfile output here (pstats file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="listsync-prof-") as tmp:
        work = Path(tmp)
        listings = h.generate_listings(args.listings, work / "listings.jsonl")
        options = {"hemnet": {"image_processing_seconds": 0}}
        with h.SandboxServers(latency_ms=args.latency_ms, log="count", options=options) as srv:
            config = srv.write_config(work / "listsync.toml", concurrency=args.concurrency)
            cmd = h.apply_cmd(listings, config, work / "state.sqlite", concurrency=args.concurrency)
            profile = work / "apply.prof"
            run = h.run_process(
                [sys.executable, "-m", "cProfile", "-o", str(profile), *cmd],
                cwd=work,
                env=h.cli_env(),
            )
            if run.returncode not in (0, 1):
                raise SystemExit(run.stderr[-3000:])
            shares = analyse(profile, args.top)
            if args.save:
                args.save.write_bytes(profile.read_bytes())
    h.emit({"benchmark": "profile_apply", "listings": args.listings, "self_time_pct": shares})


if __name__ == "__main__":
    main()
