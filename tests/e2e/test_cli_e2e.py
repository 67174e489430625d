"""The CLI against the real adapters and their sandboxes served over loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from listsync.sandbox import Sandbox

pytestmark = pytest.mark.slow
LISTSYNC = [sys.executable, "-c", "from listsync.cli import main; main()"]


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run(  # noqa: S603  (argv built by the test, no shell)
        [*LISTSYNC, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
        cwd=cwd,
    )


def _listing_writes(sandbox: Sandbox) -> list[tuple[str, str]]:
    """Write requests, leaving out credential exchanges (an OAuth token POST is no write)."""
    return [(r.method, r.path) for r in sandbox.write_requests() if not r.path.endswith("/token")]


def _writes(served: dict[str, tuple[Sandbox, str]]) -> dict[str, int]:
    return {name: len(_listing_writes(sandbox)) for name, (sandbox, _) in served.items()}


def test_apply_converges_then_noop_then_one_update_per_portal(
    tmp_path: Path, served: dict[str, tuple[Sandbox, str]], e2e_config: Path, examples: Path
) -> None:
    """First apply converges every valid listing; a re-run sends zero writes; changing one
    field of one listing on each portal sends exactly one update to that portal."""
    report_path = tmp_path / "report.json"
    first = _cli("apply", examples, "--config", e2e_config, "--report", report_path, cwd=tmp_path)
    report = json.loads(report_path.read_text())
    outcomes = report["outcomes"]
    failed = [o for o in outcomes if o["outcome"] in ("failed", "interrupted", "skipped")]
    assert failed == [], json.dumps(failed[:2])
    assert first.returncode in (0, 1), first.stderr
    if first.returncode == 1:  # only blocked/invalid examples may explain it, with paths
        assert all(
            o["outcome"] in ("blocked", "invalid") and o["issues"]
            for o in outcomes
            if o["outcome"] not in ("converged", "unchanged")
        )
    converged = {(o["external_ref"], o["portal"]) for o in outcomes if o["outcome"] == "converged"}
    assert {p for _, p in converged} == set(served)

    before = _writes(served)
    second = _cli("apply", examples, "--config", e2e_config, cwd=tmp_path)
    assert second.returncode == first.returncode
    assert _writes(served) == before

    rows = [json.loads(line) for line in examples.read_text().splitlines()]
    changed: dict[str, str] = {}
    for row in rows:
        (portal,) = row["portals"][:1] or [None]
        if (
            (
                portal in served
                and portal not in changed
                and (row["external_ref"], portal) in converged
            )
            and row.get("asking_price")
            and len(row["portals"]) == 1
        ):
            amount = Decimal(row["asking_price"]["amount"]) + 1000
            row["asking_price"]["amount"] = str(amount)
            changed[portal] = row["external_ref"]
    examples.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    before = _writes(served)
    third = _cli("apply", examples, "--config", e2e_config, cwd=tmp_path)
    assert third.returncode == first.returncode, third.stderr
    after = _writes(served)
    sent = {n: _listing_writes(sb)[before[n] :] for n, (sb, _) in served.items()}
    assert {name: after[name] - before[name] for name in served} == dict.fromkeys(changed, 1), sent
    assert set(changed) == set(served)


def test_demo_runs_and_leaves_nothing_running(tmp_path: Path) -> None:
    """`listsync demo` exits 0, writes its state and reports, and stops every sandbox."""
    result = _cli("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    workdir = tmp_path / "listsync-demo"
    assert (workdir / "state.sqlite").exists()
    reports = sorted(workdir.glob("report-*.json"))
    assert len(reports) == 4
    second = json.loads(reports[1].read_text())
    assert set(second["summary"]["totals"]) <= {"unchanged", "blocked", "invalid"}
    assert "0 write requests" in result.stdout
    assert "Traceback" not in result.stderr
