"""The CLI against the real adapters and their sandboxes served over loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from listsync.io import bundled_examples
from listsync.model import parse_listing
from listsync.sandbox import FaultConfig, Sandbox
from listsync_hemnet.sandbox import HemnetSandbox

from .conftest import duplicates, listing_writes, toml_value

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


# -- issue 15: refresh, prune, --no-adopt, SIGTERM in an outage (Hemnet over loopback) -------
def _hemnet_rows(n: int) -> list[dict]:
    """The first `n` bundled for_sale listings that go to Hemnet only."""
    rows = []
    for line in bundled_examples().read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row.get("portals") == ["hemnet"] and row["status"] == "for_sale":
            rows.append(row)
    assert len(rows) >= n
    return rows[:n]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


@pytest.fixture
def hemnet(tmp_path: Path) -> Iterator[tuple[HemnetSandbox, Path]]:
    """The Hemnet sandbox on loopback and a config for it (`extra` keys added by tests)."""
    sandbox = HemnetSandbox(image_processing_seconds=0.01)
    with sandbox.serve() as url:
        settings = sandbox.client_settings(url)
        lines = [f'[state]\nurl = "sqlite:///{tmp_path / "state.sqlite"}"\n\n[portals.hemnet]\n']
        lines += [f"{k} = {toml_value(v)}\n" for k, v in settings.items()]
        lines.append(f'credential_file = "{tmp_path / "rotated.json"}"\n')
        config = tmp_path / "listsync.toml"
        config.write_text("".join(lines))
        yield sandbox, config


def _hemnet_writes(sandbox: HemnetSandbox) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in listing_writes(sandbox)]


def test_refresh_reports_drift_gone_adopted_and_orphans_and_sends_nothing(
    tmp_path: Path, hemnet: tuple[HemnetSandbox, Path]
) -> None:
    """After edits, a removal and a seeded record behind listsync's back, `refresh` shows each
    (table and --json), lists the record the input does not name as an orphan, writes nothing
    to the portal; `refresh --prune` withdraws (unpublishes) only the orphan; then `apply`
    repairs the rest, and a second `apply` sends nothing."""
    sandbox, config = hemnet
    rows = _hemnet_rows(6)
    first = _cli(
        "apply", _jsonl(tmp_path / "all.jsonl", rows[:5]), "--config", config, cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    drifted, gone, orphan, seeded = (
        r["external_ref"] for r in (rows[0], rows[1], rows[4], rows[5])
    )
    sandbox.edit_listing(drifted, {"livingArea": 11})
    sandbox.remove_listing(gone)
    sandbox.seed_listing(parse_listing(rows[5]))
    file = _jsonl(tmp_path / "in.jsonl", [*rows[:4], rows[5]])  # orphan left out
    before = _hemnet_writes(sandbox)

    table = _cli("refresh", file, "--config", config, "--report", tmp_path / "r.json", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert _hemnet_writes(sandbox) == before  # nothing sent
    lines = {line.split("│")[1].strip(): line for line in table.stdout.splitlines() if "│" in line}
    assert "drifted" in lines[drifted]
    assert "livingArea" in lines[drifted]
    assert "gone" in lines[gone]
    assert "adopted" in lines[seeded]
    assert "orphans: 1 record(s)" in table.stdout
    assert orphan in table.stdout
    assert "--prune" in table.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert [o["external_ref"] for o in report["orphans"]] == [orphan]

    as_json = _cli("refresh", file, "--config", config, "--json", cwd=tmp_path)
    data = json.loads(as_json.stdout)
    assert data["drift"] == []  # the first refresh put all of it in the state
    assert [(o["external_ref"], o["withdrawn"]) for o in data["orphans"]] == [(orphan, False)]

    pruned = _cli("refresh", file, "--config", config, "--prune", "--json", cwd=tmp_path)
    assert pruned.returncode == 0, pruned.stderr
    assert [o["withdrawn"] for o in json.loads(pruned.stdout)["orphans"]] == [True]
    orphan_id = data["orphans"][0]["remote_id"]
    new = _hemnet_writes(sandbox)[len(before) :]
    assert new, "nothing withdrawn"
    assert all(orphan_id in path for _method, path in new), new  # only the orphan written

    repaired = _cli("apply", file, "--config", config, cwd=tmp_path)
    assert repaired.returncode == 0, repaired.stderr
    assert duplicates({"hemnet": sandbox.inventory()}) == []
    mark = len(_hemnet_writes(sandbox))
    again = _cli("apply", file, "--config", config, cwd=tmp_path)
    assert again.returncode == 0
    assert len(_hemnet_writes(sandbox)) == mark


def test_apply_no_adopt_skips_the_look_up(
    tmp_path: Path, hemnet: tuple[HemnetSandbox, Path]
) -> None:
    """With a record already on the portal under the listing's ref, `apply` adopts it (no
    create) and `apply --no-adopt` on a fresh state does not look: it creates a second one,
    which is why --no-adopt is only for accounts known to be empty."""
    sandbox, config = hemnet
    row = _hemnet_rows(1)[0]
    ref = row["external_ref"]
    sandbox.seed_listing(parse_listing(row))
    file = _jsonl(tmp_path / "in.jsonl", [row])
    adopted = _cli("apply", file, "--config", config, cwd=tmp_path)
    assert adopted.returncode == 0, adopted.stderr
    assert sandbox.inventory()[ref] == 1
    other = f"sqlite:///{tmp_path / 'other.sqlite'}"
    blind = _cli("apply", file, "--config", config, "--state", other, "--no-adopt", cwd=tmp_path)
    assert blind.returncode == 0, blind.stderr
    assert sandbox.inventory()[ref] == 2


def test_sigterm_3_s_into_an_outage_exits_143_within_15_s_then_converges(
    tmp_path: Path, hemnet: tuple[HemnetSandbox, Path]
) -> None:
    """Hemnet answers 503 to everything and the account's breaker is set never to open, so
    the run sits in retries: SIGTERM 3 s in ends it with 143 within 15 s (retry waits end at
    once), the report is complete JSON; once Hemnet is back, one apply converges with no
    duplicate, the same as an uninterrupted run."""
    sandbox, config = hemnet
    with config.open("a") as out:
        out.write("max_attempts = 1000\nmax_retry_time = 600\nbreaker_threshold = 100000\n")
    rows = _hemnet_rows(12)
    file = _jsonl(tmp_path / "in.jsonl", rows)
    report = tmp_path / "report.json"
    sandbox.set_faults(FaultConfig(error_rate=1.0, error_statuses=(503,)))
    proc = subprocess.Popen(  # noqa: S603  (argv built by the test, no shell)
        [*LISTSYNC, "apply", str(file), "--config", str(config), "--report", str(report)],
        cwd=tmp_path,
        env=dict(os.environ, COLUMNS="200"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    assert proc.poll() is None, proc.communicate()
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _out, errors = proc.communicate(timeout=15)
    print(f"SIGTERM to exit during an outage: {time.monotonic() - sent:.2f} s")
    assert proc.returncode == 143, errors
    assert "Traceback" not in errors
    data = json.loads(report.read_text())
    assert (data["complete"], data["interrupted"]) == (True, True)
    sandbox.set_faults(FaultConfig())
    restart = _cli("apply", file, "--config", config, cwd=tmp_path)
    assert restart.returncode == 0, restart.stderr
    assert duplicates({"hemnet": sandbox.inventory()}) == []
    assert {ref for ref, n in sandbox.inventory().items() if "/" not in ref} == {
        r["external_ref"] for r in rows
    }
