"""Soak run: the reliability checks of tests/reliability at 10x their size, with 20 kills.

    .venv/bin/python scripts/soak.py [--scale 10] [--kills 20] [--seed 20261122]
        [--only fault_matrix,kill_restart,malformed,secret_scan,credential_expiry,outage]

Runs the same scenarios as the CI tests (tests/reliability/_support.py, _credentials.py,
malformed.py), each in its own temporary directory, and prints one table row per check with
its figures and PASS/FAIL, then (last line) one JSON object with every figure. Exit 1 when a
check fails. Sizes at --scale 10: fault matrix 2,200 listings, kill/restart 1,400 listings and
20 SIGKILLs, 480 malformed lines, secret scan 600 listings, credential expiry 2,200 listings,
outage 1,400 listings (every request answered 503 for --outage-seconds once 500 writes reached
the portals, then back while the run goes on; then one more run).
For runs outside CI (about 10-20 minutes on 2 cores at --scale 10).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from reliability._credentials import credential_expiry, secret_scan
from reliability._support import fault_matrix, kill_restart, outage_mid_run, write_listings
from reliability.malformed import malformed_cli

Check = Callable[[dict[str, Any]], bool]


def _fault_matrix(work: Path, a: argparse.Namespace) -> dict[str, Any]:
    listings = write_listings(work / "listings.jsonl", 220 * a.scale)
    return fault_matrix(listings, work, max_passes=8)


def _kill_restart(work: Path, a: argparse.Namespace) -> dict[str, Any]:
    listings = write_listings(work / "listings.jsonl", 140 * a.scale)
    return kill_restart(listings, work, kills=a.kills, seed=a.seed, max_writes_per_kill=600)


def _malformed(work: Path, a: argparse.Namespace) -> dict[str, Any]:
    return malformed_cli(work, per_case=3 * a.scale, seed=a.seed)


def _secret_scan(work: Path, a: argparse.Namespace) -> dict[str, Any]:
    return secret_scan(write_listings(work / "listings.jsonl", 60 * a.scale), work)


def _credential_expiry(work: Path, a: argparse.Namespace) -> dict[str, Any]:
    listings = write_listings(work / "listings.jsonl", 220 * a.scale)
    return credential_expiry(listings, work, key_lifetime_s=6.0, expire_after=20 * a.scale)


def _outage(work: Path, a: argparse.Namespace) -> dict[str, Any]:
    listings = write_listings(work / "listings.jsonl", 140 * a.scale)
    return outage_mid_run(listings, work, down_after_writes=50 * a.scale, down_for=a.outage_seconds)


SCENARIOS: dict[str, tuple[Callable[[Path, argparse.Namespace], dict[str, Any]], Check]] = {
    "fault_matrix": (
        _fault_matrix,
        lambda f: (
            f["passes"] is not None
            and f["duplicates"] == f["lost"] == f["extra"] == 0
            and f["final_pass_writes"] == f["final_pass_failed"] == 0
        ),
    ),
    "kill_restart": (
        _kill_restart,
        lambda f: (
            f["restart_exit_codes"][-1] == 0
            and f["duplicates"] == f["lost"] == f["extra"] == f["tracebacks"] == 0
            and f["final_run_exit"] == f["final_run_writes"] == 0
        ),
    ),
    "malformed": (
        _malformed,
        lambda f: (
            f["apply_exit"] == f["validate_exit"] == 1
            and f["tracebacks"] == f["requests"] == f["not_rejected"] == 0
            and f["lines_reported"] == f["lines"]
            and not f["wrong_path"]
        ),
    ),
    "secret_scan": (
        _secret_scan,
        lambda f: not f["hits"] and f["rotated"] and f["store_has_new_key"] and f["store_private"],
    ),
    "credential_expiry": (
        _credential_expiry,
        lambda f: (
            f["failed_listings"] == f["hemnet_401"] == f["server_errors"] == 0
            and f["hemnet_rotations"] >= 1
            and f["new_key_stored"]
            and f["immowelt_token_requests"] == 2
        ),
    ),
    "outage": (
        _outage,
        lambda f: (
            f["exit"] in (0, 1)
            and f["lost_in_report"] == 0
            and not f["tracebacks"]
            and f["second_run_exit"] == 0
            and f["duplicates"] == f["lost"] == f["extra"] == 0
            and f["final_run_exit"] == f["final_run_writes"] == 0
        ),
    ),
}


def _summary(figures: dict[str, Any]) -> str:
    shown = {k: v for k, v in figures.items() if k not in ("writes_at_kills", "wrong_path")}
    if "wrong_path" in figures:
        shown["wrong_path"] = len(figures["wrong_path"])
    return ", ".join(f"{k}={v}" for k, v in shown.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--outage-seconds", type=float, default=15.0)
    parser.add_argument("--only", default=",".join(SCENARIOS))
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    results: dict[str, Any] = {"scale": args.scale, "kills": args.kills, "checks": {}}
    failed = 0
    print(f"{'check':<18} {'result':<6} figures")
    for name in args.only.split(","):
        run, check = SCENARIOS[name]
        with tempfile.TemporaryDirectory(prefix=f"listsync-soak-{name}-") as tmp:
            figures = run(Path(tmp), args)
        ok = check(figures)
        failed += not ok
        results["checks"][name] = {"ok": ok, **figures}
        print(f"{name:<18} {'PASS' if ok else 'FAIL':<6} {_summary(figures)}", flush=True)
    print(json.dumps(results, sort_keys=True, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
