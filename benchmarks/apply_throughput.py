"""Throughput of `listsync apply` against bare aiohttp and httpx loops issuing the same requests.

    .venv/bin/python benchmarks/apply_throughput.py [--listings 10000] [--latency-ms 20]
        [--concurrency 64]

1. N generated listings (examples/listings.jsonl cloned, see `_harness.py`) are applied with
   `listsync apply` (a subprocess) to the Hemnet and Immowelt sandboxes, served by ANOTHER
   process (`_serve.py`) with `--latency-ms` added to every request.
2. The sandboxes' request logs give the exact requests listsync sent (method, path, query, body,
   credentials); the same list is issued again, against the same servers, by `--concurrency`
   workers of a bare aiohttp loop and then of a bare httpx loop (httpx's default transport).
3. Printed: listings/s and requests/s of each, listsync / aiohttp and listsync / httpx
   (requests/s ratios; the request count is the same), the latency bound (requests x latency /
   concurrency) and each wall time / that bound, client CPU per request (each client's own
   process time) and the server process's CPU during each phase.

Differences worth knowing: listsync's figure includes its process start (imports, config,
state store), the state store's writes and its per-listing ordering (a listing's operations
run one after another); the replays re-send creates to a sandbox that already holds those
records, so some of their answers are cheap refusals (409/422) rather than new records.
The Hemnet sandbox processes images instantly here (`--image-processing-s`, default 0) so the
figure measures HTTP work rather than the sandbox's simulated processing delay.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import _harness as h


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--image-processing-s", type=float, default=0.0)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    return parser.parse_args()


def outcome_totals(report: Path) -> dict[str, int]:
    data = json.loads(report.read_text("utf-8"))
    return dict(data["summary"]["totals"])


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    listings = h.generate_listings(args.listings, work / "listings.jsonl")
    options = {"hemnet": {"image_processing_seconds": args.image_processing_s}}
    with h.SandboxServers(latency_ms=args.latency_ms, options=options) as servers:
        config = servers.write_config(work / "listsync.toml", concurrency=args.concurrency)
        report = work / "report.json"
        cmd = h.apply_cmd(
            listings, config, work / "state.sqlite", concurrency=args.concurrency, report=report
        )
        server0 = servers.cpu()
        ours = h.run_process(cmd, cwd=work, env=h.cli_env())
        server_ours = servers.cpu() - server0
        if ours.returncode not in (0, 1):
            raise SystemExit(f"listsync apply failed ({ours.returncode}):\n{ours.stderr[-3000:]}")
        mix = h.recorded_mix(servers, {})
        loops: dict[str, tuple[h.LoopResult, float]] = {}
        for kind in ("aiohttp", "httpx"):
            server0 = servers.cpu()
            result = h.replay(kind, mix, args.concurrency)
            loops[kind] = (result, servers.cpu() - server0)
    return figures(
        args,
        ours=ours,
        server_ours=server_ours,
        requests=len(mix),
        loops=loops,
        outcomes=outcome_totals(report),
    )


def figures(
    args: argparse.Namespace,
    *,
    ours: h.ProcessRun,
    server_ours: float,
    requests: int,
    loops: dict[str, tuple[h.LoopResult, float]],
    outcomes: dict[str, int],
) -> dict[str, Any]:
    bound = requests * args.latency_ms / 1000 / args.concurrency
    out: dict[str, Any] = {
        "benchmark": "apply_throughput",
        "listings": args.listings,
        "latency_ms": args.latency_ms,
        "concurrency": args.concurrency,
        "requests": requests,
        "outcomes": outcomes,
        "latency_bound_s": round(bound, 3),
        "listsync": _side(requests, ours.wall, ours.cpu, server_ours, bound, args.listings),
    }
    for kind, (result, server_cpu) in loops.items():
        out[f"{kind}_loop"] = _side(requests, result.wall, result.cpu, server_cpu, bound, None)
        out[f"{kind}_loop"]["errors"] = result.errors
        out[f"ratio_listsync_to_{kind}"] = round(result.wall / ours.wall, 3)
    return out


def _side(  # noqa: PLR0917  (private helper: one positional per column of the table)
    requests: int, wall: float, cpu: float, server: float, bound: float, listings: int | None
) -> dict[str, Any]:
    side: dict[str, Any] = {
        "wall_s": round(wall, 3),
        "requests_per_s": round(requests / wall, 1),
        "client_cpu_ms_per_request": round(1000 * cpu / max(requests, 1), 3),
        "server_cpu_s": round(server, 2),
        "wall_to_latency_bound": round(wall / bound, 2) if bound else None,
    }
    if listings is not None:
        side["listings_per_s"] = round(listings / wall, 1)
    return side


def show(fig: dict[str, Any]) -> None:
    print(
        f"{fig['listings']} listings, {fig['requests']} requests, latency {fig['latency_ms']} ms, "
        f"concurrency {fig['concurrency']}; outcomes {fig['outcomes']}"
    )
    print(f"{'client':<10} {'wall s':>8} {'listings/s':>11} {'req/s':>9} {'CPU ms/req':>11} "
          f"{'server CPU s':>13} {'wall/bound':>11}")  # fmt: skip
    for name in ("listsync", "aiohttp_loop", "httpx_loop"):
        s = fig[name]
        print(
            f"{name:<10} {s['wall_s']:>8.2f} {s.get('listings_per_s', '-')!s:>11} "
            f"{s['requests_per_s']:>9.1f} {s['client_cpu_ms_per_request']:>11.3f} "
            f"{s['server_cpu_s']:>13.2f} {s['wall_to_latency_bound']!s:>11}"
        )
    print(f"latency bound (requests x latency / concurrency): {fig['latency_bound_s']} s")
    print(f"listsync / aiohttp loop: {fig['ratio_listsync_to_aiohttp']}  "
          f"listsync / httpx loop: {fig['ratio_listsync_to_httpx']}")  # fmt: skip


def main() -> None:
    args = parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        fig = run(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="listsync-bench-") as tmp:
            fig = run(args, Path(tmp))
    show(fig)
    h.emit(fig)


if __name__ == "__main__":
    main()
