"""Repeated SIGKILL of a `listsync apply` subprocess, then restarts: converged, 0 duplicates."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import cli_env, duplicates, snapshot

LISTINGS = 160
KILLS = 6
SEED = 20261122

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, kill_after: float | None) -> int | None:
    proc = subprocess.Popen(  # noqa: S603  (our own CLI)
        cmd, cwd=cwd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if kill_after is None:
        _, err = proc.communicate(timeout=120)
        assert b"Traceback" not in err, err.decode()[-2000:]
        return proc.returncode
    deadline = time.monotonic() + kill_after
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    return None


def test_sigkill_and_restart_converge_without_duplicates(
    make_listings: Callable[[int], Path],
    served: Callable[..., Any],
    in_process: Callable[..., Any],
) -> None:
    """Killing apply with SIGKILL at seeded moments (during start-up, creates, images, publish)
    and starting it again leaves every listing, image and showing exactly once, the same set a
    run that was never killed produces, and a further run sends nothing."""
    listings = make_listings(LISTINGS)
    reference = in_process()
    reference.converge(listings, max_passes=1)
    expected = snapshot(reference.sandboxes)

    portals = served()
    cmd = portals.apply_cmd(listings)
    rng = random.Random(SEED)
    writes_at_kill = []
    for _ in range(KILLS):
        _run(cmd, portals.workdir, kill_after=rng.uniform(1.2, 3.0))
        writes_at_kill.append(portals.writes())
    assert writes_at_kill[0] > 0, "the first kill should land after some writes"
    assert writes_at_kill[-1] > writes_at_kill[0], writes_at_kill

    codes = [_run(cmd, portals.workdir, kill_after=None) for _ in range(3)]
    assert 0 in codes, codes
    got = snapshot(portals.sandboxes)
    assert duplicates(got) == []
    for portal in expected:
        assert set(got[portal]) == set(expected[portal]), portal

    before = portals.writes()
    assert _run(cmd, portals.workdir, kill_after=None) == 0
    assert portals.writes() == before
