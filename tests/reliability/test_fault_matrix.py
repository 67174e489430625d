"""Fault matrix: 10% 5xx, 5% 429 + Retry-After, 2% commit-then-drop; converge, 0 duplicates,
0 lost (compared with the same listings applied to fault-free sandboxes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from listsync.sandbox import FaultConfig

from .conftest import duplicates, snapshot

LISTINGS = 220
MAX_PASSES = 6
FAULTS = FaultConfig(
    seed=8,
    error_rate=0.10,
    rate_limit_rate=0.05,
    retry_after=0.01,
    drop_rate=0.02,
)

pytestmark = pytest.mark.slow


def test_fault_matrix_converges_without_duplicates_or_losses(
    make_listings: Callable[[int], Path], in_process: Callable[..., Any]
) -> None:
    """With every kind of fault injected, bounded re-runs converge to exactly what a fault-free
    run produces: every record and image once, none missing, and a last run sends nothing."""
    listings = make_listings(LISTINGS)
    reference = in_process()
    assert reference.converge(listings, max_passes=1) == 1
    expected = snapshot(reference.sandboxes)

    faulty = in_process(FAULTS)
    passes = faulty.converge(listings, max_passes=MAX_PASSES)
    injected = {n: sum(r.fault is not None for r in s.requests) for n, s in faulty.sandboxes.items()}
    assert all(count > 20 for count in injected.values()), injected
    for sandbox in faulty.sandboxes.values():
        sandbox.set_faults(FaultConfig())
    got = snapshot(faulty.sandboxes)
    print(f"converged in {passes} passes; faults injected: {injected}")  # noqa: T201

    assert duplicates(got) == []
    for portal in expected:
        assert set(expected[portal]) - set(got[portal]) == set(), f"lost on {portal}"
        assert set(got[portal]) - set(expected[portal]) == set(), f"extra on {portal}"

    before = faulty.writes()
    final = faulty.apply(listings)
    assert faulty.writes() == before
    assert final.converged or all(r.outcome.value in ("unchanged", "blocked") for r in final.results)
