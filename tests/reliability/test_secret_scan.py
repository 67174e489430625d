"""After a full run (apply during which Hemnet's key is rotated, status, a Booli pull), no
credential of the sandboxes appears in the JSON logs, the report, the state database or the
cassettes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ._credentials import secret_scan

LISTINGS = 60

pytestmark = pytest.mark.slow


def test_no_credential_in_logs_reports_state_or_cassettes(
    make_listings: Callable[[int], Path], tmp_path: Path
) -> None:
    """Every byte the run wrote (JSON logs at DEBUG, report, SQLite files) and every cassette is
    free of every credential used, while the rotated key did reach the (0600) credential store,
    which shows the scan finds a key where there is one."""
    figures = secret_scan(make_listings(LISTINGS), tmp_path)
    assert figures["exit_codes"]["apply"] in (0, 1), figures
    assert figures["exit_codes"]["status"] == 0, figures
    assert figures["exit_codes"]["pull"] == 0, figures
    assert figures["rotated"], "the key should have been rotated during apply"
    assert figures["secrets"] >= 8, figures
    assert figures["bytes"] > 10_000, figures
    assert figures["hits"] == []
    assert figures["store_has_new_key"]
    assert figures["store_private"]
