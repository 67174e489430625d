"""Serve portal sandboxes over loopback in THIS process, for benchmarks and soak runs.

`python benchmarks/_serve.py --portal hemnet --portal immowelt --latency-ms 20` starts one
uvicorn server per sandbox on 127.0.0.1 (all in one event loop, so the sandboxes share one
core and the client under test gets the other), then prints one JSON line to stdout:
`{"hemnet": {"base_url": ..., "settings": {...}}, ...}` where `settings` is what the sandbox's
`client_settings()` hands an adapter (credentials included: this is a fake portal).
`--account PORTAL:NAME` (repeatable) adds `"accounts": {NAME: settings}` to that portal's
entry: each account's own credentials.

Each server also answers `/__control/...` (in front of the sandbox's fault injection, so
control calls never see latency or faults and never enter the request log):

- `GET  /__control/stats`                counts of requests, writes (handled or dropped), faults
- `GET  /__control/requests?since=N`     the request log from entry N (method, path, query,
                                         body, status, fault, principal, a few headers)
- `POST /__control/clear`                empty the request log
- `POST /__control/faults`               body: a `FaultConfig` as JSON
- `POST /__control/expire?account=A`     expire the account's credential (Hemnet: its key;
                                         Immowelt: every issued token)

`--log count` keeps only counters instead of the full request log (for 100,000-listing runs).
SIGTERM or SIGINT stops every server.

Scaling note: `ImmoweltSandbox` runs its retention purge (listings 90 days after their last
write, media not attached within 60 s) at most once per sandbox-second per client, so its cost
per request does not grow with the number of listings held (it used to scan everything on every
request, which made large runs measure the fake portal instead of listsync).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import sys
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from listsync.registry import SANDBOX_GROUP, Registry
from listsync.sandbox import FaultConfig, RecordedRequest, Sandbox

KEPT_HEADERS = ("authorization", "content-type", "accept", "referer")


class CountingLog(list[RecordedRequest]):
    """A request log that counts instead of keeping entries (`--log count`)."""

    def __init__(self, *, keep: bool) -> None:
        super().__init__()
        self.keep = keep
        self.total = 0
        self.writes = 0
        self.faults = 0

    def append(self, entry: RecordedRequest) -> None:
        self.total += 1
        self.writes += entry.is_write and entry.fault in (None, "drop")
        self.faults += entry.fault is not None
        if self.keep:
            super().append(entry)

    def clear(self) -> None:
        super().clear()
        self.total = self.writes = self.faults = 0


def _entry_json(entry: RecordedRequest) -> dict[str, Any]:
    return {
        "method": entry.method,
        "path": entry.path,
        "query": entry.query,
        "body": entry.body,
        "status": entry.status,
        "fault": entry.fault,
        "principal": entry.principal,
        "headers": {k: v for k, v in entry.headers.items() if k in KEPT_HEADERS},
    }


class Control:
    """ASGI app: `/__control/*` handled here, everything else goes to the sandbox."""

    def __init__(self, sandbox: Sandbox, log: CountingLog) -> None:
        self.sandbox = sandbox
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/__control/"):
            request = Request(scope, receive)
            response = await self.handle(request, scope["path"].removeprefix("/__control/"))
            await response(scope, receive, send)
            return
        await self.sandbox.app(scope, receive, send)

    async def handle(self, request: Request, action: str) -> Response:
        sandbox, log = self.sandbox, self.log
        if action == "stats":
            return JSONResponse({"requests": log.total, "writes": log.writes, "faults": log.faults})
        if action == "requests":
            since = int(request.query_params.get("since", "0"))
            return JSONResponse([_entry_json(e) for e in log[since:]])
        if action == "clear":
            log.clear()
            return JSONResponse({})
        if action == "faults":
            sandbox.set_faults(FaultConfig.model_validate_json(await request.body()))
            return JSONResponse({})
        if action == "expire":
            account = request.query_params.get("account", "default")
            if hasattr(sandbox, "expire_key"):
                sandbox.expire_key(account)
            elif hasattr(sandbox, "expire_tokens"):
                sandbox.expire_tokens()
            return JSONResponse({})
        return JSONResponse({"error": f"unknown control {action}"}, 404)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to this module (several run in one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _options(raw: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in raw:
        key, _, value = item.partition("=")
        out[key] = json.loads(value)
    return out


async def serve(args: argparse.Namespace) -> None:
    registry = Registry(SANDBOX_GROUP)
    faults = FaultConfig(seed=args.seed, latency_ms=args.latency_ms)
    servers: list[_Server] = []
    ready: dict[str, Any] = {}
    for name in args.portal:
        options = _options([o.removeprefix(f"{name}:") for o in args.option if o.startswith(name)])
        sandbox: Sandbox = registry.get(name)(faults=faults, **options)
        log = CountingLog(keep=args.log == "full")
        sandbox.requests = log
        # IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets whose `proto` says TCP;
        # with proto 0 every response stalls ~40 ms (Nagle's algorithm meets delayed ACKs).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", 0))
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            Control(sandbox, log),
            log_level="critical",
            log_config=None,
            lifespan="off",
            access_log=False,
            backlog=4096,
            timeout_keep_alive=60,
        )
        server = _Server(config)
        servers.append(server)
        ready[name] = {"base_url": base_url, "settings": sandbox.client_settings(base_url)}
        names = [a.removeprefix(f"{name}:") for a in args.account if a.startswith(f"{name}:")]
        if names:  # --account PORTAL:NAME: each account's own settings (credentials)
            ready[name]["accounts"] = {a: sandbox.client_settings(base_url, a) for a in names}
        asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    while not all(s.started for s in servers):
        await asyncio.sleep(0.01)
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    while not all(s.should_exit for s in servers):
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--portal", action="append", required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log", choices=("full", "count"), default="full")
    parser.add_argument("--account", action="append", default=[], help="PORTAL:NAME, repeatable")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        help="PORTAL:NAME=JSON sandbox option, e.g. hemnet:image_processing_seconds=0",
    )
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
