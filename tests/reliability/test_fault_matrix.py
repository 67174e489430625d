"""Fault matrix: 10% 5xx, 5% 429 + Retry-After, 2% commit-then-drop; converge, 0 duplicates,
0 lost (compared with the same listings applied to fault-free sandboxes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ._support import fault_matrix

LISTINGS = 220

pytestmark = pytest.mark.slow


def test_fault_matrix_converges_without_duplicates_or_losses(
    make_listings: Callable[[int], Path], tmp_path: Path
) -> None:
    """With every kind of fault injected, bounded re-runs converge to exactly what a fault-free
    run produces: every record, image, showing and media once, none missing, and a last pass
    without faults sends nothing."""
    figures = fault_matrix(make_listings(LISTINGS), tmp_path, max_passes=6)
    assert figures["passes"] is not None, figures
    assert all(figures["faults"].get(kind, 0) > 5 for kind in ("error", "rate_limit", "drop"))
    assert figures["records"] > 150
    assert figures["duplicates"] == 0, figures
    assert figures["lost"] == 0, figures
    assert figures["extra"] == 0, figures
    assert figures["final_pass_writes"] == 0, figures
    assert figures["final_pass_failed"] == 0, figures
