"""Where `listsync apply` spends its CPU: a profile of one apply, grouped by package.

    .venv/bin/python benchmarks/profile_apply.py [--listings 1000] [--latency-ms 0]
        [--concurrency 64] [--top 25] [--save apply.prof] [--py-spy [--rate 250]]

Runs `listsync apply` (sandboxes in another process, as in apply_throughput.py) under
`python -m cProfile`, or with `--py-spy` under the sampling profiler py-spy (`pip install
py-spy`; it must be on PATH or next to the Python running this script), and prints (a) self
time grouped by package or listsync module, (b) the functions with the most self time, (c)
the listsync/adapter functions with the most cumulative time. cProfile slows everything down
about 2x and counts each resumption of a coroutine as a call; py-spy samples the running
process from outside and hardly slows it, so its shares are the truer ones (time in C code
is counted in the Python function that called it). Read the shares, not the absolute times.
The last line is a JSON object of the shares.
"""

from __future__ import annotations

import argparse
import collections
import pstats
import re
import shutil
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


_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _spy_group(filename: str) -> str:
    """The package (listsync: its module or sub-package) of a file as py-spy names it."""
    parts = filename.split("/")
    if parts[0] == "listsync":
        return "/".join(parts[:2])
    if parts[0].startswith("listsync_"):
        return parts[0]
    if len(parts) == 1 or parts[0] in ("asyncio", "json", "concurrent", "logging", "email"):
        return "stdlib " + parts[0]
    return parts[0]


def analyse_spy(path: Path, top: int) -> dict[str, Any]:
    """Shares of py-spy's samples (`-f raw`: one collapsed stack and its count per line)."""
    groups: dict[str, int] = collections.defaultdict(int)
    own: dict[str, int] = collections.defaultdict(int)
    ours: dict[str, int] = collections.defaultdict(int)
    total = 0
    for line in path.read_text("utf-8").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_FRAME.match(frame) for frame in stack.split(";")]
        labels = [(m["function"], m["file"]) if m else (frame, "?") for m, frame in
                  zip(frames, stack.split(";"), strict=True)]  # fmt: skip
        function, filename = labels[-1]
        groups[_spy_group(filename)] += count
        own[f"{filename}({function})"] += count
        for seen in {f"{f}({fn})" for fn, f in labels if f.startswith("listsync")}:
            ours[seen] += count
    total = max(total, 1)
    print(f"{total} samples\n\nself time by package / module:")
    ranked = sorted(groups.items(), key=lambda item: -item[1])[:top]
    for name, n in ranked:
        print(f"  {100 * n / total:5.1f}%  {name}")
    print("\nfunctions by self time:")
    for label, n in sorted(own.items(), key=lambda item: -item[1])[:top]:
        print(f"  {100 * n / total:5.1f}%  {label}")
    print("\nlistsync functions by inclusive time (on the stack while sampled):")
    for label, n in sorted(ours.items(), key=lambda item: -item[1])[:top]:
        print(f"  {100 * n / total:5.1f}%  {label}")
    return {name: round(100 * n / total, 1) for name, n in ranked}


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy not found: pip install py-spy")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--save", type=Path, help="keep the profile here (pstats or raw stacks)")
    parser.add_argument("--py-spy", action="store_true", help="sample with py-spy, not cProfile")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="listsync-prof-") as tmp:
        work = Path(tmp)
        listings = h.generate_listings(args.listings, work / "listings.jsonl")
        options = {"hemnet": {"image_processing_seconds": 0}}
        with h.SandboxServers(latency_ms=args.latency_ms, log="count", options=options) as srv:
            config = srv.write_config(work / "listsync.toml", concurrency=args.concurrency)
            cmd = h.apply_cmd(listings, config, work / "state.sqlite", concurrency=args.concurrency)
            profile = work / "apply.prof"
            if args.py_spy:
                spy = [_py_spy(), "record", "-f", "raw", "-r", str(args.rate), "-o", str(profile)]
                profiled = [*spy, "--", *cmd]
            else:
                profiled = [sys.executable, "-m", "cProfile", "-o", str(profile), *cmd]
            run = h.run_process(profiled, cwd=work, env=h.cli_env())
            if run.returncode not in (0, 1):
                raise SystemExit(run.stderr[-3000:])
            shares = analyse_spy(profile, args.top) if args.py_spy else analyse(profile, args.top)
            if args.save:
                args.save.write_bytes(profile.read_bytes())
    tool = "py-spy" if args.py_spy else "cProfile"
    h.emit(
        {
            "benchmark": "profile_apply",
            "listings": args.listings,
            "profiler": tool,
            "self_time_pct": shares,
        }
    )


if __name__ == "__main__":
    main()
