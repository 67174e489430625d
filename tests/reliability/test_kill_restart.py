"""Repeated SIGKILL of a `listsync apply` subprocess, then restarts: converged, 0 duplicates."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ._support import kill_restart

LISTINGS = 140
KILLS = 5

pytestmark = pytest.mark.slow


def test_sigkill_and_restart_converge_without_duplicates(
    make_listings: Callable[[int], Path], tmp_path: Path
) -> None:
    """Killing apply with SIGKILL five times, each after a seeded number of writes (so right
    after a create, among images, before a publish, ...), and starting it again leaves every
    listing, image, showing and media exactly once: the same set a never-killed run produces;
    a further run exits 0 and sends nothing."""
    figures = kill_restart(
        make_listings(LISTINGS), tmp_path, kills=KILLS, seed=20261122, max_writes_per_kill=250
    )
    at_kills = figures["writes_at_kills"]
    assert figures["kills"] == KILLS, figures
    assert 0 < at_kills[0] < at_kills[-1], "kills should land while writes are being made"
    assert figures["restart_exit_codes"][-1] == 0, figures
    assert figures["tracebacks"] == 0
    assert figures["duplicates"] == 0, figures
    assert figures["lost"] == 0, figures
    assert figures["extra"] == 0, figures
    assert figures["final_run_exit"] == 0
    assert figures["final_run_writes"] == 0
