"""Shared pieces of the benchmarks (and of scripts/soak.py): data, servers, CLI runs, baselines.

- `generate_listings(n, path)`: N valid canonical listings, deterministic: the bundled example
  listings (examples/listings.jsonl, 220 varied Swedish and German listings) cloned with a
  suffix on every identifier (`NOR-26001` -> `NOR-26001-b0042`, image URLs likewise), so every
  clone is its own listing with its own images.
- `SandboxServers`: the sandboxes in a SEPARATE process (`_serve.py`), so the client's CPU is
  its own; `control()` talks to their `/__control/` endpoints.
- `run_apply()`: `listsync apply` as a subprocess, with its wall time, CPU time and peak RSS
  (from `os.wait4`).
- `replay_aiohttp()` / `replay_httpx()`: the bare baselines, issuing a recorded request mix.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "listings.jsonl"
BIN = Path(sys.executable).parent
LISTSYNC = str(BIN / "listsync")
SERVE = Path(__file__).resolve().parent / "_serve.py"
WRITE_PORTALS = ("hemnet", "immowelt")
# Settings for benchmarks that never reach a portal (planning, engine without HTTP).
OFFLINE_PORTALS: dict[str, dict[str, Any]] = {
    "hemnet": {"base_url": "http://127.0.0.1:9", "token": "bench-token", "key_id": "bench"},
    "immowelt": {
        "base_url": "http://127.0.0.1:9/v1",
        "token_url": "http://127.0.0.1:9/oauth/token",
        "client_id": "bench",
        "client_secret": "bench-secret",
        "external_customer_id": "customer-bench",
    },
}


# -- data --------------------------------------------------------------------------------------
def _templates() -> list[tuple[str, str]]:
    out = []
    for line in EXAMPLES.read_text("utf-8").splitlines():
        if line.strip():
            out.append((json.loads(line)["external_ref"], line))
    return out


def listing_lines(n: int) -> Iterator[str]:
    """N JSON lines of valid listings, the same on every run."""
    templates = _templates()
    for i in range(n):
        ref, line = templates[i % len(templates)]
        suffix = f"-b{i // len(templates):04d}"
        yield _suffixed(line, ref, suffix)


def _suffixed(line: str, ref: str, suffix: str) -> str:
    """`line` with every occurrence of `ref` (any case) followed by `suffix`."""

    def add(match: re.Match[str]) -> str:
        return match.group(0) + suffix

    return re.sub(re.escape(ref), add, line, flags=re.IGNORECASE)


def generate_listings(n: int, path: Path) -> Path:
    """Write `listing_lines(n)` to `path` (one listing per line) and return it."""
    with path.open("w", encoding="utf-8") as handle:
        for line in listing_lines(n):
            handle.write(line + "\n")
    return path


# -- servers -----------------------------------------------------------------------------------
class SandboxServers:
    """The write portals' sandboxes served by a child process; a context manager.

    Args:
        latency_ms: injected latency on every sandbox request.
        log: "full" keeps the request log (needed to replay it), "count" only counts.
        options: sandbox options, e.g. `{"hemnet": {"image_processing_seconds": 0}}`.
    """

    def __init__(
        self,
        portals: Sequence[str] = WRITE_PORTALS,
        *,
        latency_ms: float = 0.0,
        seed: int = 0,
        log: str = "full",
        options: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.cmd = [sys.executable, str(SERVE), "--latency-ms", str(latency_ms)]
        self.cmd += ["--seed", str(seed), "--log", log]
        for name in portals:
            self.cmd += ["--portal", name]
            for key, value in (options or {}).get(name, {}).items():
                self.cmd += ["--option", f"{name}:{key}={json.dumps(value)}"]
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        self.http = httpx.Client(timeout=120, trust_env=False)

    def __enter__(self) -> SandboxServers:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, text=True)  # noqa: S603
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the sandbox server process did not start")
        self.info = json.loads(line)
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def portals(self) -> list[str]:
        return list(self.info)

    def base_url(self, portal: str) -> str:
        return str(self.info[portal]["base_url"])

    def settings(self, portal: str) -> dict[str, Any]:
        return dict(self.info[portal]["settings"])

    def control(self, portal: str, action: str, *, body: Any = None, **params: Any) -> Any:
        """Call `/__control/<action>` of one sandbox (GET without a body, POST with one)."""
        url = f"{self.base_url(portal)}/__control/{action}"
        if body is None and action in ("stats", "requests"):
            response = self.http.get(url, params=params)
        else:
            response = self.http.post(url, params=params, content=json.dumps(body or {}))
        response.raise_for_status()
        return response.json()

    def cpu(self) -> float:
        """CPU seconds (user + system) the server process has used so far."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stats(self) -> dict[str, dict[str, int]]:
        return {p: self.control(p, "stats") for p in self.portals}

    def set_faults(self, portal: str, **faults: Any) -> None:
        self.control(portal, "faults", body=faults)

    def write_config(self, path: Path, *, concurrency: int, state: Path | None = None) -> Path:
        """A listsync TOML config for these sandboxes, with per-portal limits >= concurrency."""
        lines = []
        if state is not None:
            lines += ["[state]", f"url = {json.dumps(f'sqlite:///{state}')}", ""]
        for portal in self.portals:
            table = self.settings(portal)
            table["max_concurrency"] = max(concurrency, table.get("max_concurrency", 0))
            lines.append(f"[portals.{portal}]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
            lines.append("")
        path.write_text("\n".join(lines), "utf-8")
        return path


# -- listsync apply as a subprocess --------------------------------------------------------------
@dataclass
class ProcessRun:
    """One finished subprocess: exit code, wall seconds, CPU seconds, peak RSS in MiB."""

    returncode: int
    wall: float
    cpu: float
    max_rss_mib: float
    stdout: str
    stderr: str


_MEASURE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
code = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as out:
    out.write(f"{code} {usage.ru_maxrss} {usage.ru_utime} {usage.ru_stime}")
sys.exit(code if code >= 0 else 1)
"""
"""Runs a command, then writes its exit code, peak RSS (KB) and CPU seconds to a file."""


def run_process(cmd: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None) -> ProcessRun:
    """Run `cmd` in `cwd` to completion, measuring it with `os.wait4` (the child's rusage).

    `cwd` matters: the Hemnet adapter keeps rotated keys in `./.listsync-credentials/`, which
    would override the configured token of a later run against a fresh sandbox.
    """
    out_path = cwd / f".bench-{os.getpid()}-{time.time_ns()}"
    with open(f"{out_path}.out", "w+b") as out, open(f"{out_path}.err", "w+b") as err:
        start = time.perf_counter()
        measured = Path(f"{out_path}.usage")
        # Through a small measuring process: Linux carries the peak RSS of the process a child
        # is forked from across exec, so measured from this (large) process the child's peak
        # would be at least this process's own.
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", _MEASURE, str(measured), *cmd],
            stdout=out, stderr=err, env=env, cwd=cwd,
        )  # fmt: skip
        proc.wait()
        wall = time.perf_counter() - start
        returncode, maxrss_kb, utime, stime = measured.read_text().split()
        proc.returncode = int(returncode)
        measured.unlink()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    for suffix in (".out", ".err"):
        Path(f"{out_path}{suffix}").unlink(missing_ok=True)
    return ProcessRun(
        returncode=proc.returncode,
        wall=wall,
        cpu=float(utime) + float(stime),
        max_rss_mib=int(maxrss_kb) / 1024,
        stdout=stdout,
        stderr=stderr,
    )


def apply_cmd(
    listings: Path,
    config: Path,
    state: Path,
    *,
    concurrency: int,
    report: Path | None = None,
    extra: Iterable[str] = (),
) -> list[str]:
    """The `listsync apply` command line the benchmarks run."""
    cmd = [LISTSYNC, "apply", str(listings), "--config", str(config)]
    cmd += ["--state", f"sqlite:///{state}", "--concurrency", str(concurrency)]
    if report is not None:
        cmd += ["--report", str(report)]
    return [*cmd, *extra]


def cli_env() -> dict[str, str]:
    """The environment for `listsync` subprocesses: no proxy, no colour, a wide console."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update({"NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb"})
    return env


# -- baselines -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Replay:
    """One request to re-issue: absolute URL, method, query, body bytes, headers."""

    method: str
    url: str
    params: dict[str, str]
    content: bytes | None
    headers: dict[str, str]


def recorded_mix(servers: SandboxServers, since: dict[str, int]) -> list[Replay]:
    """The requests listsync sent (per the sandboxes' logs), in arrival order per portal,
    interleaved round-robin across portals."""
    per_portal: list[list[Replay]] = []
    for portal in servers.portals:
        base = servers.base_url(portal)
        entries = servers.control(portal, "requests", since=since.get(portal, 0))
        per_portal.append([_replay(base, e) for e in entries])
    mixed: list[Replay] = []
    for i in range(max((len(p) for p in per_portal), default=0)):
        mixed += [p[i] for p in per_portal if i < len(p)]
    return mixed


def _replay(base: str, entry: dict[str, Any]) -> Replay:
    body = entry["body"]
    if body is None:
        content = None
    elif isinstance(body, str):
        content = body.encode()
    else:
        content = json.dumps(body, ensure_ascii=False).encode()
    headers = dict(entry["headers"])
    return Replay(entry["method"], base + entry["path"], entry["query"], content, headers)


@dataclass
class LoopResult:
    """A baseline loop's figures."""

    requests: int
    wall: float
    cpu: float
    errors: int


async def _aiohttp_loop(mix: Sequence[Replay], concurrency: int) -> int:
    import aiohttp

    errors = 0
    it = iter(mix)
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            nonlocal errors
            for r in it:
                try:
                    async with session.request(
                        r.method, r.url, params=r.params, data=r.content, headers=r.headers
                    ) as response:
                        await response.read()
                except aiohttp.ClientError:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return errors


async def _httpx_loop(mix: Sequence[Replay], concurrency: int) -> int:
    errors = 0
    it = iter(mix)
    async with httpx.AsyncClient(trust_env=False) as client:  # httpx's default transport

        async def worker() -> None:
            nonlocal errors
            for r in it:
                try:
                    response = await client.request(
                        r.method, r.url, params=r.params, content=r.content, headers=r.headers
                    )
                    await response.aread()
                except httpx.HTTPError:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return errors


def replay(kind: str, mix: Sequence[Replay], concurrency: int) -> LoopResult:
    """Issue `mix` with `concurrency` workers through a bare aiohttp or httpx loop."""
    loop = _aiohttp_loop if kind == "aiohttp" else _httpx_loop
    cpu0, wall0 = time.process_time(), time.perf_counter()
    errors = asyncio.run(loop(mix, concurrency))
    return LoopResult(len(mix), time.perf_counter() - wall0, time.process_time() - cpu0, errors)


def emit(figures: dict[str, Any]) -> None:
    """Print the figures as the LAST line: one JSON object."""
    sys.stdout.flush()
    print(json.dumps(figures, sort_keys=True))
