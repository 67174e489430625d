"""Exactly-once effects of `listsync apply` against the real sandboxes on loopback (issue 4):
runs killed with SIGKILL and restarted, and runs through injected 5xx, 429 and
commit-then-drop faults."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from listsync.sandbox import FaultConfig

from .conftest import (
    agency_rows,
    duplicates,
    fresh_write_sandboxes,
    listing_writes,
    reference_snapshot,
    run_cli,
    snapshot,
    start_cli,
    to_toml,
    write_jsonl,
)

pytestmark = pytest.mark.slow

STATUSES = ("for_sale", "sold", "withdrawn", "coming_soon")
FAULTS = FaultConfig(
    seed=4, error_rate=0.12, rate_limit_rate=0.08, drop_rate=0.08, retry_after=0.01
)


class Portals:
    """Fresh Hemnet and Immowelt sandboxes served on loopback, with a config for them."""

    def __init__(self, stack: ExitStack, workdir: Path, faults: FaultConfig | None) -> None:
        self.sandboxes = fresh_write_sandboxes(faults)
        tables = {
            name: sandbox.client_settings(stack.enter_context(sandbox.serve()))
            for name, sandbox in self.sandboxes.items()
        }
        self.workdir = workdir
        self.config = workdir / "listsync.toml"
        self.config.write_text(
            to_toml(f"sqlite:///{workdir / 'state.sqlite'}", tables), encoding="utf-8"
        )

    def writes(self) -> int:
        return sum(len(listing_writes(s)) for s in self.sandboxes.values())

    def creates(self, portal: str) -> int:
        """Listing creates (`POST .../listings`) the portal's sandbox handled."""
        return sum(
            r.method == "POST" and r.path.endswith("/listings")
            for r in listing_writes(self.sandboxes[portal])
        )

    def faults_off(self) -> None:
        for sandbox in self.sandboxes.values():
            sandbox.set_faults(FaultConfig())

    def apply(self, listings: Path, *extra: str | Path) -> Any:
        return run_cli("apply", listings, "--config", self.config, *extra, cwd=self.workdir)


@pytest.fixture
def portals(tmp_path: Path) -> Iterator[Callable[[FaultConfig | None], Portals]]:
    with ExitStack() as stack:

        def make(faults: FaultConfig | None = None) -> Portals:
            return Portals(stack, tmp_path, faults)

        yield make


@pytest.fixture
def listings(tmp_path: Path) -> Path:
    """Two listings of each agency (Hemnet and Immowelt), images and showings included."""
    return write_jsonl(tmp_path / "listings.jsonl", agency_rows(2, statuses=STATUSES))


def _expected_pairs(listings: Path) -> set[tuple[str, str]]:
    rows = [json.loads(line) for line in listings.read_text(encoding="utf-8").splitlines()]
    return {(r["external_ref"], p) for r in rows for p in r["portals"]}


def _kill_when(portals: Portals, listings: Path, reached: Callable[[], bool]) -> int | None:
    """Start an apply and SIGKILL it as soon as `reached()`; its exit code if it ended first."""
    process = start_cli("apply", listings, "--config", portals.config, cwd=portals.workdir)
    try:
        while process.poll() is None and not reached():
            time.sleep(0.001)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            return None
        return process.returncode
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def test_sigkill_before_during_and_after_creates_then_restart_converges_exactly_once(
    tmp_path: Path, portals: Callable[[FaultConfig | None], Portals], listings: Path
) -> None:
    """`listsync apply` killed with SIGKILL at the first request, after the first writes,
    half-way through the creates, after every create and late in the image/publish phase,
    then run again, leaves every listing, image and showing exactly once on each portal (the
    same as an uninterrupted run), and a further apply sends no write at all."""
    expected = reference_snapshot(listings, tmp_path)
    total = sum(1 for key in expected["hemnet"] if " " not in key)  # Hemnet records
    served = portals(None)
    points: list[tuple[str, Callable[[], bool]]] = [
        ("first request", lambda: any(s.requests for s in served.sandboxes.values())),
        ("first writes", lambda: served.writes() >= 2),
        ("half the creates", lambda: served.creates("hemnet") >= total // 2),
        ("every create", lambda: served.creates("hemnet") >= total),
        ("images and publishing", lambda: served.writes() >= late),
    ]
    at_kill = []
    late = 0
    for name, reached in points:
        late = served.writes() + 12
        ended = _kill_when(served, listings, reached)
        at_kill.append((name, served.creates("hemnet"), served.writes(), ended))
    killed = [creates for _, creates, _, ended in at_kill if ended is None]
    assert 0 in killed, at_kill  # before any create
    assert any(0 < n < total for n in killed), at_kill  # during the creates
    assert total in killed, at_kill  # after every create

    final = served.apply(listings, "--report", tmp_path / "final.json")
    assert final.returncode == 0, final.stdout[-3000:]
    got = snapshot(served.sandboxes)
    assert duplicates(got) == [], at_kill
    assert got == expected, at_kill

    before = served.writes()
    again = served.apply(listings)
    assert again.returncode == 0
    assert served.writes() == before


def test_faults_5xx_429_and_dropped_responses_converge_with_a_complete_report(
    tmp_path: Path, portals: Callable[[FaultConfig | None], Portals], listings: Path
) -> None:
    """With the sandboxes injecting 5xx, 429 + Retry-After and commit-then-drop, apply
    converges (re-run while the report shows failures, at most a few times); every report
    holds each listing x portal exactly once; the portals end up with what a fault-free run
    produces, nothing duplicated; with faults off a further apply sends nothing."""
    expected = reference_snapshot(listings, tmp_path)
    pairs = _expected_pairs(listings)
    served = portals(FAULTS)
    outcomes: list[dict[str, str]] = []
    for number in range(1, 5):
        report_path = tmp_path / f"report-{number}.json"
        result = served.apply(listings, "--report", report_path)
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
        report = json.loads(report_path.read_text(encoding="utf-8"))
        keys = [(o["external_ref"], o["portal"]) for o in report["outcomes"]]
        assert sorted(keys) == sorted(pairs)  # each listing x portal exactly once
        outcomes = [o for o in report["outcomes"] if o["outcome"] not in ("converged", "unchanged")]
        if number == 1:  # what a re-run repairs: retries spent, or the account's breaker
            # opened by a burst of the injected 5xx and drops (seen once under CI's load)
            assert all(o["outcome"] in ("failed", "unavailable") for o in outcomes), outcomes
        if result.returncode == 0:
            assert outcomes == []
            assert report["converged"]
            break
    assert outcomes == [], outcomes[:3]
    injected = {
        r.fault for sandbox in served.sandboxes.values() for r in sandbox.requests if r.fault
    }
    assert injected == {"error", "rate_limit", "drop"}

    served.faults_off()
    got = snapshot(served.sandboxes)
    assert duplicates(got) == []
    assert got == expected
    before = served.writes()
    assert served.apply(listings).returncode == 0
    assert served.writes() == before
