"""Embedding: an application that configures no logging sees nothing from listsync on stdout.

The scripts run in a fresh interpreter (so no test set-up configures structlog or logging):
the documented example of docs/embedding.md, and the blocking `SyncSyndicator` against the
Hemnet sandbox in process with injected 5xx faults, so retries and failures are logged.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SYNC_SCRIPT = """
import json
from listsync.io import bundled_examples
from listsync.sandbox import FaultConfig
from listsync.syndicator import SyncSyndicator
from listsync_hemnet.sandbox import HemnetSandbox

sandbox = HemnetSandbox(auto_approve=True, faults=FaultConfig(error_rate=0.5, seed=7))
settings = {
    **sandbox.client_settings("http://hemnet.test"),
    "max_attempts": 2,
    "breaker_cooldown": 0.2,  # the breaker opens at 50% faults: its probe comes soon
}
listings = []
with bundled_examples().open(encoding="utf-8") as lines:
    for line in lines:
        data = json.loads(line)
        if data.get("portals") == ["hemnet"]:
            listings.append(data)
        if len(listings) == 10:
            break
with SyncSyndicator(
    {"hemnet": settings}, state="sqlite:///state.sqlite", transports={"hemnet": sandbox.transport()}
) as syndicator:
    outcomes = [r.outcome.value for listing in listings for r in syndicator.sync(listing)]
assert len(outcomes) == 10, outcomes
"""


def run(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=cwd, check=False
    )


@pytest.mark.slow
def test_sync_syndicator_with_faults_prints_nothing(tmp_path: Path) -> None:
    """Retries and failed listings are logged, but with no logging set up nothing reaches
    stdout (and nothing reaches stderr either: the `listsync` loggers have a NullHandler)."""
    result = run(SYNC_SCRIPT, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""


@pytest.mark.slow
def test_documented_embedding_example_prints_only_its_own_lines(tmp_path: Path) -> None:
    """The example of docs/embedding.md runs; every stdout line is one of its own `print`s."""
    text = (ROOT / "docs" / "embedding.md").read_text(encoding="utf-8")
    script = re.search(r"## A runnable example.*?```python\n(.*?)```", text, re.S)
    assert script is not None
    result = run(script.group(1), tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("issues:")
    assert any(line.startswith("totals:") for line in lines)
    assert "second sync: unchanged" in lines
    assert not [line for line in lines if "[info" in line or "[debug" in line]
