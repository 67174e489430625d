"""The portals down (issue 15): `listsync apply` fails fast as "unavailable", stops promptly
on a signal, and the next run converges without duplicates.

Real `listsync apply` subprocesses against the Hemnet and Immowelt sandboxes served on
loopback. The wall times are printed (run with -s) and reported, never asserted; what is
asserted is what the sandboxes received and what the runs reported.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog

from listsync.sandbox import FaultConfig

from ._support import (
    DOWN,
    Served,
    cli_env,
    compare,
    outage,
    outage_mid_run,
    read_report,
    reference,
    run_cli,
    snapshot,
    write_listings,
    writes,
)

pytestmark = pytest.mark.slow

LISTINGS = 200
"""The acceptance's size for the outage runs."""
PER_LISTING = 3
"""Requests one listing may cost while its portal is down."""

STORM: dict[str, Any] = {
    "breaker_threshold": 100_000,
    "max_attempts": 1000,
    "max_retry_time": 3600.0,
    "retry_backoff": 0.2,
}
"""Settings that keep a run against a dead portal going for many minutes (the breaker never
opens, retries go on): what a stop signal must cut short."""


@pytest.fixture(scope="module", params=["503", "closed"])
def down(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One 200-listing apply with the portals answering 503 / refusing connections, then one
    with the portals back (figures of `outage`)."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        work = tmp_path_factory.mktemp(f"outage-{request.param}")
        listings = write_listings(work / "listings.jsonl", LISTINGS)
        figures = outage(listings, work, kind=request.param)
    finally:
        structlog.configure(**saved)
    print(f"\noutage {request.param}: {json.dumps(figures)}")  # the measured figures (-s)
    return figures


def test_every_listing_is_reported_unavailable_and_apply_exits_1(down: dict[str, Any]) -> None:
    """Every listing with something to do ends "unavailable" (not failed, not missing from the
    report: the next run takes it up), the run exits 1, without a traceback."""
    assert down["exit"] == 1, down
    assert down["lost_in_report"] == 0, down
    assert not down["tracebacks"]
    for portal in ("hemnet", "immowelt"):
        figures = down[portal]
        assert figures["with_work"] > 0, figures
        assert figures["outcomes"] == {"unavailable": figures["with_work"]}, (portal, figures)


def test_hemnet_sends_at_most_3_requests_per_listing_while_down(down: dict[str, Any]) -> None:
    """The breaker: with Hemnet answering 503 to everything, a few requests in all."""
    if down["kind"] == "closed":
        pytest.skip("a closed port leaves no request log to count")
    figures = down["hemnet"]
    assert figures["requests"] <= PER_LISTING * figures["with_work"], figures


def test_immowelt_sends_at_most_3_requests_per_listing_while_down(down: dict[str, Any]) -> None:
    """The breaker covers the token endpoint too: with Immowelt answering 503 to everything,
    a few requests in all."""
    if down["kind"] == "closed":
        pytest.skip("a closed port leaves no request log to count")
    figures = down["immowelt"]
    assert figures["requests"] <= PER_LISTING * figures["with_work"], figures


def test_once_the_portals_are_back_one_apply_converges_without_duplicates(
    down: dict[str, Any],
) -> None:
    """The run after the outage exits 0 and leaves exactly what a run that never saw an
    outage leaves: no duplicate, nothing lost or extra; a further run writes nothing."""
    assert down["recovery_exit"] == 0, down
    assert (down["duplicates"], down["lost"], down["extra"]) == (0, 0, 0), down
    assert (down["final_run_exit"], down["final_run_writes"]) == (0, 0), down


def test_a_short_blip_mid_run_does_not_fail_the_rest_of_the_batch(
    make_listings: Callable[[int], Path], tmp_path: Path
) -> None:
    """The portals answer 503 for 2 s in the middle of a 140-listing apply (less than the
    breaker's 10 s cooldown): at most the listings in flight then (the concurrency, 32) end
    unavailable, not the rest of the input; the next apply converges without duplicates."""
    figures = outage_mid_run(make_listings(140), tmp_path, down_after_writes=50, down_for=2.0)
    print(f"\nblip: {json.dumps(figures)}")
    assert figures["lost_in_report"] == 0, figures
    assert (figures["second_run_exit"], figures["duplicates"]) == (0, 0), figures
    assert figures["outcomes"].get("unavailable", 0) <= 32, figures


# -- stopping during an outage ------------------------------------------------------------------
def _start(cmd: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603  (our own CLI)
        cmd, cwd=cwd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _converges_after(portals: Served, listings: Path, expected: Any) -> None:
    """With the portals fault-free: one apply exits 0 and the sandboxes hold what a run that
    was never stopped leaves; a further apply writes nothing."""
    for sandbox in portals.sandboxes.values():
        sandbox.set_faults(FaultConfig())
    code, err = run_cli(portals.apply_cmd(listings), portals.workdir)
    assert code == 0, err[-2000:]
    assert "Traceback" not in err
    found = compare(expected, snapshot(portals.sandboxes))
    assert (found["duplicates"], found["lost"], found["extra"]) == (0, 0, 0), found
    before = writes(portals.sandboxes)
    code, err = run_cli(portals.apply_cmd(listings), portals.workdir)
    assert code == 0, err[-2000:]
    assert writes(portals.sandboxes) == before


@pytest.fixture
def storm(
    served: Callable[..., Served], make_listings: Callable[[int], Path], tmp_path: Path
) -> tuple[Served, Path, Any]:
    """Sandboxes with STORM settings, 60 listings, and what a fault-free run leaves."""
    listings = make_listings(60)
    expected = reference(listings, tmp_path)
    return served(extra={"hemnet": STORM, "immowelt": STORM}), listings, expected


def test_sigterm_3s_into_an_apply_against_a_503_portal_exits_promptly(
    storm: tuple[Served, Path, Any],
) -> None:
    """SIGTERM 3 s into an apply that retries a 503 portal (and would go on for many minutes):
    the process exits 143 within 15 s, its report is a whole JSON document naming every
    listing; the next apply converges with 0 duplicates."""
    portals, listings, expected = storm
    for sandbox in portals.sandboxes.values():
        sandbox.set_faults(DOWN)
    report = portals.workdir / "stopped.json"
    proc = _start(portals.apply_cmd(listings, "--report", str(report)), portals.workdir)
    try:
        time.sleep(3)
        assert proc.poll() is None, "the run should still be retrying 3 s in"
        assert sum(len(s.requests) for s in portals.sandboxes.values()) > 0
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)  # the acceptance's bound: TimeoutExpired fails
        stop_s = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    print(f"\nSIGTERM during a 503 outage: exit {proc.returncode} after {stop_s:.2f} s")
    assert proc.returncode == 143, err.decode(errors="replace")[-2000:]
    assert b"Traceback" not in err
    named = {(e["external_ref"], e["portal"]) for e in read_report(report)}
    rows = [json.loads(line) for line in listings.read_text("utf-8").splitlines()]
    assert named == {(r["external_ref"], p) for r in rows for p in r["portals"]}
    _converges_after(portals, listings, expected)


def test_a_second_sigint_exits_at_once_and_the_next_apply_recovers(
    storm: tuple[Served, Path, Any],
) -> None:
    """A portal that takes 8 s per request, stopped with SIGINT then SIGINT again (a double
    Ctrl-C) under --grace 60: the process exits 130 before any of the requests in flight is
    answered; once those have landed, the next apply converges with 0 duplicates (the
    journal recovers what was in flight)."""
    portals, listings, expected = storm
    boxes = portals.sandboxes
    proc = _start(portals.apply_cmd(listings, "--grace", "60"), portals.workdir)
    try:
        while proc.poll() is None and writes(boxes) < 20:
            time.sleep(0.005)
        for sandbox in boxes.values():
            sandbox.set_faults(FaultConfig(latency_ms=8000))
        slowed = sum(len(s.requests) for s in boxes.values())
        time.sleep(1.0)
        assert proc.poll() is None, "the run should still be going"
        proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert proc.poll() is None, "the first SIGINT gives the requests in flight a grace"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
        answered = sum(len(s.requests) for s in boxes.values()) - slowed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err.decode(errors="replace")[-2000:]
    assert answered == 0, "it should not have waited for the slow requests"
    assert b"Traceback" not in err
    time.sleep(9.0)  # the requests it left in flight land on the portal now
    _converges_after(portals, listings, expected)
