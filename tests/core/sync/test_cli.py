"""The CLI against the acme portal served on loopback: apply, plan, status, exit codes, kills."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from acme_portal import AcmeSandbox, listing_data
from typer.testing import CliRunner, Result

from listsync.sandbox import FaultConfig

HERE = Path(__file__).parent
LISTSYNC = [sys.executable, "-c", "from listsync.cli import main; main()"]
pytestmark = pytest.mark.slow


@pytest.fixture
def served(sandbox: AcmeSandbox) -> Iterator[str]:
    with sandbox.serve() as url:
        yield url


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _config(tmp_path: Path, url: str, **extra: object) -> Path:
    lines = [
        f'[state]\nurl = "sqlite:///{tmp_path / "state.sqlite"}"\n',
        f'[portals.acme]\nbase_url = "{url}"\ntoken = "tok-default"\nmax_attempts = 3\n'
        "max_retry_wait = 1\n",
    ]
    lines += [f"{k} = {v}\n" for k, v in extra.items()]
    path = tmp_path / "listsync.toml"
    path.write_text("".join(lines))
    return path


def _env(site: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(HERE), env.get("PYTHONPATH", "")])
    env["COLUMNS"] = "200"
    return env


def _cli(site: Path, *args: str | Path, wait: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [*LISTSYNC, *map(str, args)]
    return subprocess.run(  # noqa: S603  (argv built by the test, no shell)
        cmd, env=_env(site), capture_output=True, text=True, timeout=120, check=False
    )


def _inproc(monkeypatch: pytest.MonkeyPatch, site: Path, *args: str | Path) -> Result:
    """Run the CLI in this process (plan and status never configure logging)."""
    from listsync.cli import app

    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner().invoke(app, [str(a) for a in args], terminal_width=200)


def _spawn(site: Path, *args: str | Path) -> subprocess.Popen[str]:
    cmd = [*LISTSYNC, *map(str, args)]
    return subprocess.Popen(  # noqa: S603  (argv built by the test, no shell)
        cmd, env=_env(site), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _rows(n: int, **kwargs: object) -> list[dict]:
    return [listing_data(f"K-{i:03}", **kwargs) for i in range(n)]  # type: ignore[arg-type]


def test_apply_rerun_and_one_change(
    tmp_path: Path, sandbox: AcmeSandbox, served: str, acme_site: Path
) -> None:
    """First apply converges (exit 0), a re-run sends nothing, one change sends one PATCH."""
    config = _config(tmp_path, served)
    rows = _rows(10)
    file = _write(tmp_path / "in.jsonl", rows)
    report = tmp_path / "report.json"
    first = _cli(acme_site, "apply", file, "--config", config, "--report", report)
    assert first.returncode == 0, first.stderr
    data = json.loads(report.read_text())
    assert data["summary"]["by_account"] == {"acme": {"default": {"converged": 10}}}
    assert len(data["outcomes"]) == 10
    writes = len(sandbox.write_requests())
    second = _cli(acme_site, "apply", file, "--config", config)
    assert second.returncode == 0
    assert len(sandbox.write_requests()) == writes
    rows[4]["asking_price"]["amount"] = "2500000"
    _write(file, rows)
    before = len(sandbox.requests)
    third = _cli(acme_site, "apply", file, "--config", config)
    assert third.returncode == 0
    new = [(r.method, r.body) for r in sandbox.requests[before:] if r.is_write]
    assert new == [("PATCH", {"price": 2_500_000})]


def test_blocked_and_invalid_lines_exit_1_and_show_in_status(
    tmp_path: Path,
    sandbox: AcmeSandbox,
    served: str,
    acme_site: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Blocked and invalid listings are reported with canonical paths, never sent; exit 1."""
    config = _config(tmp_path, served)
    rows = [*_rows(2), listing_data("K-NOPRICE", price=None)]
    file = tmp_path / "in.jsonl"
    file.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"external_ref": "broken"}\n')
    report = tmp_path / "r.json"
    result = _cli(acme_site, "apply", file, "--config", config, "--report", report)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    outcomes = {o["external_ref"]: o for o in json.loads(report.read_text())["outcomes"]}
    assert outcomes["K-NOPRICE"]["outcome"] == "blocked"
    assert outcomes["K-NOPRICE"]["issues"][0]["path"] == "asking_price"
    assert outcomes["broken"]["outcome"] == "invalid"
    assert {i["path"] for i in outcomes["broken"]["issues"]} >= {"agency", "address"}
    assert not any(
        r.body and r.body.get("externalId") == "K-NOPRICE"
        for r in sandbox.requests
        if isinstance(r.body, dict)
    )
    status = _inproc(
        monkeypatch, acme_site, "status", "--config", config, "--listing", "K-NOPRICE", "--json"
    )
    assert status.exit_code == 0, status.output
    record = json.loads(status.stdout)["records"][0]
    assert record["outcome"] == "blocked"
    assert record["issues"][0]["path"] == "asking_price"
    table = _inproc(monkeypatch, acme_site, "status", "--config", config)
    assert "K-NOPRICE" in table.stdout
    assert "asking_price" in table.stdout
    trail = _inproc(monkeypatch, acme_site, "status", "--config", config, "--listing", "K-000")
    assert "audit trail" in trail.stdout
    assert "publish" in trail.stdout


def test_plan_and_dry_run_send_nothing(
    tmp_path: Path,
    sandbox: AcmeSandbox,
    served: str,
    acme_site: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`plan` and `apply --dry-run` print what would happen and send no write request."""
    config = _config(tmp_path, served)
    file = _write(tmp_path / "in.jsonl", _rows(3))
    plan = _inproc(monkeypatch, acme_site, "plan", file, "--config", config)
    assert plan.exit_code == 0, plan.output
    assert plan.stdout.count("+ create") == 3
    as_json = _inproc(monkeypatch, acme_site, "plan", file, "--config", config, "--json")
    entries = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [e["action"] for e in entries] == ["create"] * 3
    assert entries[0]["operations"][0]["kind"] == "create"
    dry = _cli(acme_site, "apply", file, "--config", config, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert sandbox.write_requests() == []


def test_configuration_errors_exit_2_without_traceback(tmp_path: Path, acme_site: Path) -> None:
    """An unknown key or a missing file is a usage error (exit 2) naming the problem."""
    config = tmp_path / "bad.toml"
    config.write_text('[portals.acme]\nbase_url = "http://x"\ntoken = "t"\nbogus = 1\n')
    file = _write(tmp_path / "in.jsonl", _rows(1))
    result = _cli(acme_site, "apply", file, "--config", config)
    assert result.returncode == 2
    assert "portals.acme.bogus" in result.stderr
    assert "Traceback" not in result.stderr
    missing = _cli(acme_site, "apply", tmp_path / "nope.jsonl", "--config", config)
    assert missing.returncode == 2


def _wait_for(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


@pytest.mark.parametrize(
    ("point", "pause_on_create"),
    [("before creates", None), ("during a create", 4), ("after creates", None)],
)
def test_sigkill_then_restart_converges_exactly_once(
    *,
    tmp_path: Path,
    sandbox: AcmeSandbox,
    served: str,
    acme_site: Path,
    point: str,
    pause_on_create: int | None,
) -> None:
    """A run killed with SIGKILL (before, during or after creates) and restarted leaves every
    listing exactly once, with each image once, and converged."""
    config = _config(tmp_path, served, max_concurrency=2)
    rows = _rows(12)
    file = _write(tmp_path / "in.jsonl", rows)
    sandbox.pause_on_create = pause_on_create
    proc = _spawn(acme_site, "apply", file, "--config", config, "--concurrency", "2")
    if point == "before creates":
        _wait_for(lambda: len(sandbox.requests) > 0 or proc.poll() is not None)
    elif point == "during a create":
        _wait_for(lambda: sandbox.paused)
    else:
        _wait_for(lambda: sandbox.creates >= 12 and len(sandbox.write_requests()) > 20)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    sandbox.release = True
    restart = _cli(acme_site, "apply", file, "--config", config)
    assert restart.returncode == 0, restart.stderr
    assert sandbox.duplicates() == {}
    assert sandbox.image_duplicates() == 0
    assert sandbox.by_external_id() == {r["external_ref"]: 1 for r in rows}
    assert all(len(i["images"]) == 2 and i["status"] == "live" for i in sandbox.listings.values())
    if pause_on_create is not None:  # the recovered state is complete: a re-run is a no-op
        writes = len(sandbox.write_requests())
        again = _cli(acme_site, "apply", file, "--config", config)
        assert again.returncode == 0
        assert len(sandbox.write_requests()) == writes


def test_sigterm_finishes_in_flight_and_exits_143(
    tmp_path: Path, sandbox: AcmeSandbox, served: str, acme_site: Path
) -> None:
    """SIGTERM stops taking listings, records what was in flight, exits 143 with a message."""
    config = _config(tmp_path, served, max_concurrency=1)
    rows = _rows(12)
    file = _write(tmp_path / "in.jsonl", rows)
    sandbox.pause_on_create = 3
    proc = _spawn(acme_site, "apply", file, "--config", config, "--concurrency", "1")
    _wait_for(lambda: sandbox.paused)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    sandbox.release = True
    _out, errors = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert "SIGTERM" in errors
    assert "run the same command again" in errors
    assert sandbox.creates < 12
    restart = _cli(acme_site, "apply", file, "--config", config)
    assert restart.returncode == 0
    assert sandbox.duplicates() == {}
    assert sandbox.by_external_id() == {r["external_ref"]: 1 for r in rows}


# -- issue 15: prompt stop, second signal, report always JSON, outcomes shown ----------------
def _report(path: Path) -> dict:
    return json.loads(path.read_text())


def test_second_ctrl_c_in_a_terminal_exits_130_at_once_and_the_next_run_recovers(
    tmp_path: Path, sandbox: AcmeSandbox, served: str, acme_site: Path
) -> None:
    """Through a pty: a create is held by the portal and the grace is 60 s, so the first
    Ctrl+C waits for it; the second exits at once with 130, the report file is still JSON,
    and the next run recovers the held create from the journal: no duplicate."""
    import pexpect

    config = _config(tmp_path, served)
    rows = _rows(6)
    file = _write(tmp_path / "in.jsonl", rows)
    report = tmp_path / "report.json"
    sandbox.pause_on_create = 3
    args = [*LISTSYNC[1:], "apply", str(file), "--config", str(config), "--report", str(report)]
    child = pexpect.spawn(
        sys.executable,
        [*args, "--grace", "60", "--concurrency", "1"],
        env=_env(acme_site),
        timeout=30,
        dimensions=(50, 200),
    )
    try:
        _wait_for(lambda: sandbox.paused)
        child.sendcontrol("c")
        child.expect("SIGINT: stopping")
        second = time.monotonic()
        child.sendcontrol("c")
        child.expect("SIGINT again: exiting now")
        child.expect(pexpect.EOF, timeout=10)  # far less than the 60 s grace
        print(f"second Ctrl+C to exit: {time.monotonic() - second:.2f} s")
    finally:
        child.close(force=True)
    assert child.exitstatus == 130, (child.exitstatus, child.signalstatus)
    data = _report(report)  # the stub: valid JSON naming the lines written so far
    assert data["complete"] is False
    partial = tmp_path / data["partial"]
    lines = [json.loads(line) for line in partial.read_text().splitlines()]
    assert {o["external_ref"] for o in lines} <= {r["external_ref"] for r in rows}
    sandbox.release = True
    restart = _cli(acme_site, "apply", file, "--config", config, "--report", report)
    assert restart.returncode == 0, restart.stderr
    assert _report(report)["complete"] is True
    assert sandbox.duplicates() == {}
    assert sandbox.image_duplicates() == 0
    assert sandbox.by_external_id() == {r["external_ref"]: 1 for r in rows}


def test_a_request_held_past_the_grace_is_cancelled_and_recovered_next_run(
    tmp_path: Path, sandbox: AcmeSandbox, served: str, acme_site: Path
) -> None:
    """SIGTERM while the portal holds a create, with --grace 1: the run does not wait for
    the answer; it exits 143; the next run finds the create in the journal, no duplicate."""
    config = _config(tmp_path, served)
    rows = _rows(4)
    file = _write(tmp_path / "in.jsonl", rows)
    sandbox.pause_on_create = 2
    proc = _spawn(acme_site, "apply", file, "--config", config, "--grace", "1")
    _wait_for(lambda: sandbox.paused)
    proc.send_signal(signal.SIGTERM)
    _out, errors = proc.communicate(timeout=30)  # never released: only the grace ends it
    assert proc.returncode == 143, errors
    assert "1 s" in errors
    sandbox.release = True
    restart = _cli(acme_site, "apply", file, "--config", config)
    assert restart.returncode == 0, restart.stderr
    assert sandbox.duplicates() == {}
    assert sandbox.by_external_id() == {r["external_ref"]: 1 for r in rows}


def test_an_outage_is_one_problem_line_per_account_and_exit_1(
    tmp_path: Path, sandbox: AcmeSandbox, served: str, acme_site: Path
) -> None:
    """Every request answered 503: each listing is `unavailable`, the problem list says so
    in one line with the count, and the command exits 1."""
    config = _config(tmp_path, served)
    file = _write(tmp_path / "in.jsonl", _rows(12))
    sandbox.set_faults(FaultConfig(error_rate=1.0, error_statuses=(503,)))
    result = _cli(acme_site, "apply", file, "--config", config)
    assert result.returncode == 1, result.stderr
    assert "unavailable" in result.stdout.split("Problems:")[0]  # the summary's column
    problems = result.stdout.split("Problems:")[1].strip().splitlines()
    assert len(problems) == 1, problems
    assert problems[0].startswith("acme/default: 12 listings unavailable (first K-")


def test_a_run_that_fails_to_start_still_closes_its_report(
    tmp_path: Path, sandbox: AcmeSandbox, served: str, acme_site: Path
) -> None:
    """Another run holds the state store: exit 2 with one line, and the --report file is a
    complete JSON report (interrupted, nothing in it), not a stub."""
    from listsync.sync import open_state_store

    config = _config(tmp_path, served)
    file = _write(tmp_path / "in.jsonl", _rows(2))
    report = tmp_path / "report.json"
    holder = open_state_store(f"sqlite:///{tmp_path / 'state.sqlite'}")
    try:
        with holder.writer("other-run"):
            result = _cli(acme_site, "apply", file, "--config", config, "--report", report)
    finally:
        holder.close()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    data = _report(report)
    assert (data["complete"], data["interrupted"], data["outcomes"]) == (True, True, [])
    assert sandbox.write_requests() == []


def test_plan_with_a_missing_state_store_creates_nothing(
    tmp_path: Path, served: str, acme_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`plan --state` naming a store that does not exist plans every listing as new, says
    so, and makes no file or folder."""
    config = _config(tmp_path, served)
    file = _write(tmp_path / "in.jsonl", _rows(2))
    nowhere = tmp_path / "nope" / "x.sqlite"
    result = _inproc(
        monkeypatch, acme_site, "plan", file, "--config", config, "--state", f"sqlite:///{nowhere}"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.count("+ create") == 2
    assert f"no state store at {nowhere} yet" in result.stderr
    assert not nowhere.parent.exists()
