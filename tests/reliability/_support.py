"""The reliability scenarios, shared by the tests (small, CI) and scripts/soak.py (10x, 20 kills).

Each scenario runs real `listsync` code against fresh Hemnet and Immowelt sandboxes and returns
its figures; the tests and the soak script assert or print them.

"Converge" means: apply is re-run (a bounded number of passes) until a pass reports every
listing converged, unchanged or blocked by preflight; a last fault-free pass must then send no
write at all, which shows the state store agrees with the portals.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from listsync import Syndicator
from listsync.io import bundled_examples, read_listings
from listsync.sandbox import FaultConfig, Sandbox
from listsync.sync import FAILING_OUTCOMES, RunReport
from listsync_hemnet.sandbox import HemnetSandbox
from listsync_immowelt.sandbox import ImmoweltSandbox

LISTSYNC = str(Path(sys.executable).parent / "listsync")
DAY = 86_400.0

FAULT_MATRIX = FaultConfig(
    seed=8, error_rate=0.10, rate_limit_rate=0.05, retry_after=0.01, drop_rate=0.02
)
"""10% 5xx, 5% 429 with `Retry-After: 0.01`, 2% commit-then-drop (writes only)."""


# -- input -------------------------------------------------------------------------------------
def clone_lines(n: int) -> list[str]:
    """N valid listings: the bundled examples, taken alternately from each portal's and cloned
    with a suffix on every identifier (`NOR-26001` -> `NOR-26001-r001`, image URLs likewise)."""
    by_portal: dict[str, list[tuple[str, str]]] = {}
    for line in bundled_examples().read_text("utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            by_portal.setdefault(",".join(row["portals"]), []).append((row["external_ref"], line))
    groups = list(by_portal.values())
    templates = [g[i] for i in range(max(map(len, groups))) for g in groups if i < len(g)]
    out = []
    for i in range(n):
        ref, line = templates[i % len(templates)]
        suffix = f"-r{i // len(templates):03d}"
        out.append(_suffixed(line, ref, suffix))
    return out


def _suffixed(line: str, ref: str, suffix: str) -> str:
    """`line` with every occurrence of `ref` (any case) followed by `suffix`."""

    def add(match: re.Match[str]) -> str:
        return match.group(0) + suffix

    return re.sub(re.escape(ref), add, line, flags=re.IGNORECASE)


def write_listings(path: Path, n: int) -> Path:
    path.write_text("\n".join(clone_lines(n)) + "\n", encoding="utf-8")
    return path


# -- sandboxes ---------------------------------------------------------------------------------
def new_sandboxes(
    faults: FaultConfig | None = None, *, key_lifetime_s: float = 180 * DAY
) -> dict[str, Sandbox]:
    """Fresh Hemnet and Immowelt sandboxes (Hemnet processes images at once)."""
    return {
        "hemnet": HemnetSandbox(
            faults=faults, image_processing_seconds=0.0, key_lifetime_days=key_lifetime_s / DAY
        ),
        "immowelt": ImmoweltSandbox(faults=faults),
    }


def failing(report: RunReport) -> list[str]:
    """`ref@portal: outcome error` of every entry that failed (blocked by preflight is fine)."""
    return [
        f"{r.entry.external_ref}@{r.entry.portal}: {r.outcome.value} {r.error_message or ''}"
        for r in report.results
        if r.outcome in FAILING_OUTCOMES and r.outcome.value != "blocked"
    ]


def writes(sandboxes: dict[str, Sandbox]) -> int:
    return sum(len(s.write_requests()) for s in sandboxes.values())


@dataclass
class InProcess:
    """Apply passes through `Syndicator`, talking to the sandboxes in process."""

    sandboxes: dict[str, Sandbox]
    state: Path
    concurrency: int = 32
    reports: list[RunReport] = field(default_factory=list)

    def settings(self) -> dict[str, dict[str, Any]]:
        return {n: s.client_settings(f"http://{n}.sandbox.test") for n, s in self.sandboxes.items()}

    def apply(self, listings: Path) -> RunReport:
        async def run() -> RunReport:
            transports = {n: s.transport() for n, s in self.sandboxes.items()}
            async with Syndicator(
                self.settings(),
                state=f"sqlite:///{self.state}",
                transports=transports,
                concurrency=self.concurrency,
            ) as syndicator:
                return await syndicator.run(read_listings(listings), keep_results=True)

        report = asyncio.run(run())
        self.reports.append(report)
        return report

    def converge(self, listings: Path, max_passes: int) -> int | None:
        """Apply until a pass has no failed listing; the passes used, None when it never did."""
        for number in range(1, max_passes + 1):
            if not failing(self.apply(listings)):
                return number
        return None


# -- what the sandboxes hold -------------------------------------------------------------------
def snapshot(sandboxes: dict[str, Sandbox]) -> dict[str, Counter[str]]:
    """Per portal, a count of every record and item (the sandboxes' `inventory()`): `ref`,
    `ref/images <url>`, `ref/showings <start>`, `ref/media <id>`. A duplicate shows as a count
    above 1."""
    return {name: sandboxes[name].inventory() for name in ("hemnet", "immowelt")}  # type: ignore[attr-defined]  # the write sandboxes' helper


def compare(expected: dict[str, Counter[str]], got: dict[str, Counter[str]]) -> dict[str, int]:
    """Duplicates, lost and extra records/items of `got` against a fault-free `expected`."""
    return {
        "records": sum(got[p][k] for p in got for k in got[p] if "/" not in k),
        "items": sum(got[p][k] for p in got for k in got[p] if "/" in k),
        "duplicates": sum(n - 1 for p in got for n in got[p].values() if n > 1),
        "lost": sum(len(set(expected[p]) - set(got[p])) for p in expected),
        "extra": sum(len(set(got[p]) - set(expected[p])) for p in expected),
    }


def reference(listings: Path, workdir: Path) -> dict[str, Counter[str]]:
    """What a fault-free, never-killed run leaves on the sandboxes."""
    run = InProcess(new_sandboxes(), workdir / "reference.sqlite")
    if run.converge(listings, max_passes=1) is None:
        raise AssertionError(f"the fault-free reference run failed: {failing(run.reports[-1])}")
    return snapshot(run.sandboxes)


# -- scenario: fault matrix --------------------------------------------------------------------
def fault_matrix(listings: Path, workdir: Path, *, max_passes: int = 6) -> dict[str, Any]:
    """Apply under `FAULT_MATRIX` until converged; compare with a fault-free run."""
    start = time.monotonic()
    expected = reference(listings, workdir)
    run = InProcess(new_sandboxes(FAULT_MATRIX), workdir / "faults.sqlite")
    passes = run.converge(listings, max_passes=max_passes)
    injected = Counter(r.fault for s in run.sandboxes.values() for r in s.requests if r.fault)
    for sandbox in run.sandboxes.values():
        sandbox.set_faults(FaultConfig())
    figures: dict[str, Any] = {"passes": passes, "faults": dict(injected)}
    figures |= compare(expected, snapshot(run.sandboxes))
    before = writes(run.sandboxes)
    final = run.apply(listings)
    figures["final_pass_writes"] = writes(run.sandboxes) - before
    figures["final_pass_failed"] = len(failing(final))
    figures["seconds"] = round(time.monotonic() - start, 1)
    return figures


# -- scenario: SIGKILL and restart ---------------------------------------------------------------
def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update({"NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb"})
    return env


@dataclass
class Served:
    """Sandboxes served on loopback (threads of this process) and a TOML config for them."""

    sandboxes: dict[str, Sandbox]
    config: Path
    state: Path
    workdir: Path

    def apply_cmd(self, listings: Path, *extra: str) -> list[str]:
        return [LISTSYNC, "apply", str(listings), "--config", str(self.config),
                "--state", f"sqlite:///{self.state}", *extra]  # fmt: skip


@contextmanager
def serve(
    workdir: Path,
    faults: FaultConfig | None = None,
    *,
    key_lifetime_s: float = 180 * DAY,
    extra: dict[str, dict[str, Any]] | None = None,
) -> Iterator[Served]:
    """Fresh sandboxes on loopback and a config for them (`extra` merged into portal tables)."""
    sandboxes = new_sandboxes(faults, key_lifetime_s=key_lifetime_s)
    with ExitStack() as stack:
        lines = []
        for name, sandbox in sandboxes.items():
            url = stack.enter_context(sandbox.serve())
            settings = sandbox.client_settings(url) | (extra or {}).get(name, {})
            lines += [f"[portals.{name}]", *(f"{k} = {json.dumps(v)}" for k, v in settings.items())]
            lines.append("")
        config = workdir / "listsync.toml"
        config.write_text("\n".join(lines), encoding="utf-8")
        yield Served(sandboxes, config, workdir / "state.sqlite", workdir)


def run_cli(
    cmd: list[str], cwd: Path, kill_when: Callable[[], bool] | None = None
) -> tuple[int | None, str]:
    """Run `cmd`; with `kill_when`, SIGKILL it as soon as that returns True (polled every
    5 ms). Returns the exit code (None when killed) and stderr."""
    proc = subprocess.Popen(  # noqa: S603  (our own CLI)
        cmd, cwd=cwd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if kill_when is None:
        _, err = proc.communicate(timeout=1800)
        return proc.returncode, err.decode(errors="replace")
    while proc.poll() is None and not kill_when():
        time.sleep(0.005)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    return (None if killed else proc.returncode), err.decode(errors="replace")


def _reached(sandboxes: dict[str, Sandbox], target: int) -> bool:
    return writes(sandboxes) >= target


def kill_restart(
    listings: Path, workdir: Path, *, kills: int, seed: int, max_writes_per_kill: int
) -> dict[str, Any]:
    """SIGKILL `listsync apply` `kills` times, each after a seeded number of write requests
    (1..`max_writes_per_kill`) reached the sandboxes in that run, so kills land mid-run at any
    machine speed (right after a create, in the middle of images, before a publish...); then
    run it to completion (at most 3 runs) and compare with a never-killed run."""
    start = time.monotonic()
    expected = reference(listings, workdir)
    rng = random.Random(seed)
    figures: dict[str, Any] = {"kills_requested": kills, "kills": 0, "writes_at_kills": []}
    with serve(workdir) as portals:
        cmd = portals.apply_cmd(listings)
        for _ in range(kills):
            target = writes(portals.sandboxes) + rng.randint(1, max_writes_per_kill)
            code, _err = run_cli(cmd, workdir, partial(_reached, portals.sandboxes, target))
            figures["kills"] += code is None
            figures["writes_at_kills"].append(writes(portals.sandboxes))
        codes, tracebacks = [], 0
        for _ in range(3):
            code, err = run_cli(cmd, workdir)
            codes.append(code)
            tracebacks += "Traceback" in err
            if code == 0:
                break
        figures |= {"restart_exit_codes": codes, "tracebacks": tracebacks}
        figures |= compare(expected, snapshot(portals.sandboxes))
        before = writes(portals.sandboxes)
        code, _err = run_cli(cmd, workdir)
        figures["final_run_exit"] = code
        figures["final_run_writes"] = writes(portals.sandboxes) - before
    figures["seconds"] = round(time.monotonic() - start, 1)
    return figures


# -- scenario: the portals down (issue 15) -------------------------------------------------------
DOWN = FaultConfig(error_rate=1.0, error_statuses=(503,))
"""Every request answered 503 (the portal up but not taking anything on)."""


def closed_port() -> int:
    """A loopback port nobody listens on (bound once by the OS, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def requests_by_portal(sandboxes: dict[str, Sandbox]) -> dict[str, int]:
    return {name: len(s.requests) for name, s in sandboxes.items()}


def read_report(path: Path) -> list[dict[str, Any]]:
    """The per-listing entries of an `apply --report` file (a non-JSON file fails the run)."""
    entries: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["outcomes"]
    return entries


def _outage_figures(
    entries: list[dict[str, Any]], sent: dict[str, int] | None, listings: Path
) -> dict[str, Any]:
    """Per portal: entries, those with work to do (action other than "nothing"), their
    outcomes, requests sent and requests per listing with work; and the listings of the input
    the report does not name (lost)."""
    wanted = {
        (json.loads(line)["external_ref"], portal)
        for line in listings.read_text("utf-8").splitlines()
        for portal in json.loads(line)["portals"]
    }
    named = {(e["external_ref"], e["portal"]) for e in entries}
    figures: dict[str, Any] = {"lost_in_report": len(wanted - named)}
    for portal in sorted({e["portal"] for e in entries}):
        mine = [e for e in entries if e["portal"] == portal]
        work = [e for e in mine if e.get("action") != "nothing"]
        requests = None if sent is None else sent.get(portal, 0)
        figures[portal] = {
            "listings": len(mine),
            "with_work": len(work),
            "outcomes": dict(Counter(e["outcome"] for e in work)),
            "requests": requests,
            "requests_per_listing": (
                None if requests is None else round(requests / max(1, len(work)), 2)
            ),
        }
    return figures


def outage(listings: Path, workdir: Path, *, kind: str = "503") -> dict[str, Any]:
    """`listsync apply` with every portal down, then once with the portals back.

    `kind`: "503" (every request answered 503) or "closed" (the config points at a loopback
    port nobody listens on: connections refused; nothing can count the attempts then).
    Figures: the outage run's exit code, wall time, per portal outcomes and requests per
    listing (`_outage_figures`), tracebacks; the recovery run's exit code and what the
    sandboxes hold against a fault-free run (duplicates, lost, extra); a last run's writes.
    """
    start = time.monotonic()
    expected = reference(listings, workdir)
    report = workdir / "outage-report.json"
    with serve(workdir) as portals:
        cmd = portals.apply_cmd(listings, "--report", str(report))
        if kind == "503":
            for sandbox in portals.sandboxes.values():
                sandbox.set_faults(DOWN)
        elif kind == "closed":
            closed = workdir / "closed.toml"
            text = portals.config.read_text("utf-8")
            port = closed_port()
            closed.write_text(re.sub(r"http://127\.0\.0\.1:\d+", f"http://127.0.0.1:{port}", text))
            cmd[cmd.index("--config") + 1] = str(closed)
        else:
            raise ValueError(f"unknown outage kind {kind!r}")
        before = requests_by_portal(portals.sandboxes)
        began = time.monotonic()
        code, err = run_cli(cmd, workdir)
        wall = time.monotonic() - began
        after = requests_by_portal(portals.sandboxes)
        sent = None if kind == "closed" else {p: after[p] - before[p] for p in after}
        figures: dict[str, Any] = {"kind": kind, "exit": code, "wall_s": round(wall, 1)}
        figures |= _outage_figures(read_report(report), sent, listings)
        figures["tracebacks"] = "Traceback" in err
        for sandbox in portals.sandboxes.values():
            sandbox.set_faults(FaultConfig())
        began = time.monotonic()
        code, err = run_cli(portals.apply_cmd(listings), workdir)
        figures |= {"recovery_exit": code, "recovery_s": round(time.monotonic() - began, 1)}
        figures["tracebacks"] = figures["tracebacks"] or "Traceback" in err
        figures |= compare(expected, snapshot(portals.sandboxes))
        before_writes = writes(portals.sandboxes)
        code, _err = run_cli(portals.apply_cmd(listings), workdir)
        figures["final_run_exit"] = code
        figures["final_run_writes"] = writes(portals.sandboxes) - before_writes
    figures["seconds"] = round(time.monotonic() - start, 1)
    return figures


def outage_mid_run(
    listings: Path, workdir: Path, *, down_after_writes: int, down_for: float
) -> dict[str, Any]:
    """The portals go down (every request 503) once `down_after_writes` writes reached them
    during an apply and come back `down_for` seconds later, while the run goes on; then one
    more apply. Figures: the first run's exit code, wall time and outcomes, the requests the
    sandboxes got while down, how long the run went on after the portals were back; the
    second run's exit code; duplicates/lost/extra against a fault-free run; a last run's
    writes."""
    start = time.monotonic()
    expected = reference(listings, workdir)
    report = workdir / "outage-report.json"
    with serve(workdir) as portals:
        boxes = portals.sandboxes
        proc = subprocess.Popen(  # noqa: S603  (our own CLI)
            portals.apply_cmd(listings, "--report", str(report)),
            cwd=workdir,
            env=cli_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        began = time.monotonic()
        while proc.poll() is None and writes(boxes) < down_after_writes:
            time.sleep(0.005)
        down_at = time.monotonic()
        for sandbox in boxes.values():
            sandbox.set_faults(DOWN)
        at_down = requests_by_portal(boxes)
        while proc.poll() is None and time.monotonic() - down_at < down_for:
            time.sleep(0.01)
        for sandbox in boxes.values():
            sandbox.set_faults(FaultConfig())
        up_at = time.monotonic()
        at_up = requests_by_portal(boxes)
        _, err = proc.communicate(timeout=1800)
        ended = time.monotonic()
        entries = read_report(report)
        figures: dict[str, Any] = {
            "exit": proc.returncode,
            "wall_s": round(ended - began, 1),
            "down_after_s": round(down_at - began, 1),
            "down_s": round(up_at - down_at, 1),
            "ran_on_after_up_s": round(max(0.0, ended - up_at), 1),
            "requests_while_down": sum(at_up[p] - at_down[p] for p in at_up),
            "outcomes": dict(Counter(e["outcome"] for e in entries)),
            "tracebacks": "Traceback" in err.decode(errors="replace"),
        }
        figures["lost_in_report"] = _outage_figures(entries, None, listings)["lost_in_report"]
        code, err_text = run_cli(portals.apply_cmd(listings), workdir)
        figures["second_run_exit"] = code
        figures["tracebacks"] = figures["tracebacks"] or "Traceback" in err_text
        figures |= compare(expected, snapshot(boxes))
        before_writes = writes(boxes)
        code, _err = run_cli(portals.apply_cmd(listings), workdir)
        figures["final_run_exit"] = code
        figures["final_run_writes"] = writes(boxes) - before_writes
    figures["seconds"] = round(time.monotonic() - start, 1)
    return figures
