"""Hostile or broken answers from a portal are contained (issue 14): the listing concerned fails
with one line naming the portal (no traceback, no `KeyError` or `JSONDecodeError`), every other
listing converges, and answers of 50 MB do not grow the process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from listsync import Syndicator
from listsync.io import read_listings
from listsync.sandbox import Sandbox
from listsync.sync import Outcome

from ._support import LISTSYNC, cli_env, new_sandboxes, write_listings

Garbage = Callable[[], httpx.Response]

GARBAGE: dict[str, Garbage] = {
    "html-200": lambda: httpx.Response(
        200, content=b"<html><body>Maintenance</body></html>", headers={"content-type": "text/html"}
    ),
    "empty-201": lambda: httpx.Response(201, content=b""),
    "truncated": lambda: httpx.Response(
        200, content=b'{"listing": {"id": "1", "tit', headers={"content-type": "application/json"}
    ),
    "wrong-shape": lambda: httpx.Response(200, json=["not", "an", "object"]),
    "no-id": lambda: httpx.Response(201, json={"listing": {"title": "x"}}),
}


class Poisoned(httpx.AsyncBaseTransport):
    """Forwards to a sandbox, but answers requests about one listing with garbage (after the
    sandbox handled them, as a broken proxy would)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, marker: str, garbage: Garbage) -> None:
        self.inner, self.marker, self.garbage = inner, marker, garbage
        self.poisoned = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        response = await self.inner.handle_async_request(request)
        if self.marker.encode() in body or self.marker in request.url.path:
            await response.aread()
            self.poisoned += 1
            return self.garbage()
        return response


def _apply(
    sandboxes: dict[str, Sandbox],
    transports: dict[str, httpx.AsyncBaseTransport],
    listings: Path,
    state: Path,
) -> Any:
    async def run() -> Any:
        settings = {n: s.client_settings(f"http://{n}.sandbox.test") for n, s in sandboxes.items()}
        async with Syndicator(settings, state=f"sqlite:///{state}", transports=transports) as s:
            return await s.run(read_listings(listings))

    return asyncio.run(run())


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_one_listing_with_garbage_answers_fails_alone_with_one_line(
    kind: str, tmp_path: Path
) -> None:
    """The poisoned listing fails with a one-line portal error; the others converge."""
    listings = write_listings(tmp_path / "in.jsonl", 12)
    rows = [json.loads(line) for line in listings.read_text().splitlines()]
    victims = {
        portal: next(r["external_ref"] for r in rows if portal in r["portals"])
        for portal in ("hemnet", "immowelt")
    }
    sandboxes = new_sandboxes()
    transports: dict[str, httpx.AsyncBaseTransport] = {
        name: Poisoned(s.transport(), victims[name], GARBAGE[kind]) for name, s in sandboxes.items()
    }
    report = _apply(sandboxes, transports, listings, tmp_path / "state.sqlite")
    bad = [r for r in report.results if r.outcome not in (Outcome.CONVERGED, Outcome.UNCHANGED)]
    assert {(r.entry.external_ref, r.entry.portal) for r in bad} <= {
        (ref, portal) for portal, ref in victims.items()
    }, [(r.entry.external_ref, r.error_message) for r in bad]
    assert bad, "the garbage was never served"
    for result in bad:
        assert result.error_class in {"PortalBugError", "UnknownOutcomeError"}, result.error_message
        assert "\n" not in (result.error_message or "")
        assert result.entry.portal in (result.error_message or "")
    converged = [r for r in report.results if r.outcome is Outcome.CONVERGED]
    assert len(converged) == len(report.results) - len(bad)


_MEASURE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""
"""Runs the command and prints its exit code and peak RSS (KB). Measured from this small
process, because Linux carries the peak RSS of the process a child was forked from across
exec: measured straight from pytest, the child's peak would be pytest's own."""


def _huge_server(port_file: Path) -> subprocess.Popen[bytes]:
    """A loopback server answering every request with 50 MB, in its own process."""
    code = f"""
import asyncio, pathlib
async def handle(reader, writer):
    try:
        await reader.readuntil(b"\\r\\n\\r\\n")
        writer.write(b"HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\n")
        writer.write(b"connection: close\\r\\n\\r\\n")
        chunk = b" " * (1 << 20)
        for _ in range(50):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    pathlib.Path({str(port_file)!r}).write_text(str(server.sockets[0].getsockname()[1]))
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""
    return subprocess.Popen(["python3", "-c", code])  # noqa: S603, S607  (a fixed script)


@pytest.mark.slow
def test_answers_of_50_mb_keep_the_process_small(tmp_path: Path) -> None:
    """Every answer 50 MB (streamed without a length): each listing fails with one line, and
    the peak RSS of `listsync apply` stays under 200 MB."""
    port_file = tmp_path / "port"
    server = _huge_server(port_file)
    try:
        for _ in range(200):
            if port_file.exists() and port_file.read_text():
                break
            time.sleep(0.05)
        port = int(port_file.read_text())
        sandbox = new_sandboxes()["hemnet"]
        settings = sandbox.client_settings(f"http://127.0.0.1:{port}")
        settings.update(max_attempts=1, credential_file=str(tmp_path / "key.json"))
        config = tmp_path / "listsync.toml"
        config.write_text(
            "[portals.hemnet]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
        )
        rows = [
            json.loads(x)
            for x in write_listings(tmp_path / "all.jsonl", 40).read_text().splitlines()
        ]
        hemnet = [r | {"portals": ["hemnet"]} for r in rows if "hemnet" in r["portals"]][:12]
        listings = tmp_path / "in.jsonl"
        listings.write_text("".join(json.dumps(r) + "\n" for r in hemnet))
        stderr = tmp_path / "stderr.txt"
        with stderr.open("wb") as sink:
            done = subprocess.run(  # noqa: S603  (our own CLI, under a small measuring process)
                [sys.executable, "-c", _MEASURE, LISTSYNC, "apply", str(listings),
                 "--config", str(config), "--state", f"sqlite:///{tmp_path / 'state.sqlite'}",
                 "--log-format", "json"],
                cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=sink, check=False,
                timeout=300,
            )  # fmt: skip
        returncode, peak_kb = map(int, done.stdout.split())
        err = stderr.read_text(errors="replace")
    finally:
        server.kill()
        server.wait()
    assert returncode == 1, err[-2000:]
    assert "Traceback" not in err
    assert "larger than" in err
    peak_mb = peak_kb / 1024
    print(f"peak RSS {peak_mb:.0f} MB")
    assert peak_mb < 200, peak_mb
