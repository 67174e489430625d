"""What every portal sandbox shares: an ASGI app, a request log, fault injection, serving.

A portal sandbox subclasses `Sandbox`, lists its routes in `routes()`, says which credential a
request used in `principal()`, and tells an adapter how to reach it in `client_settings()`.
In tests it runs in process through `sandbox.transport()`; for the demo and end-to-end tests it
is served over loopback with `sandbox.serve()` or `listsync sandbox serve NAME`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "FaultConfig",
    "RecordedRequest",
    "ResponseDroppedError",
    "Sandbox",
    "SandboxTransport",
]


class FaultConfig(BaseModel):
    """Fault injection, deterministic for a given seed and request order.

    Rates are probabilities per request (after `exclude_paths`). `drop_rate` is
    commit-then-drop: the request is handled and its write kept, but the response is lost.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    latency_ms: float = Field(default=0.0, ge=0)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    rate_limit_rate: float = Field(default=0.0, ge=0, le=1)
    retry_after: float = Field(default=1.0, ge=0)
    drop_rate: float = Field(default=0.0, ge=0, le=1)
    methods: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")
    exclude_paths: tuple[str, ...] = ()


@dataclass
class RecordedRequest:
    """One request as the sandbox saw it; `principal` names the credential used."""

    method: str
    path: str
    query: dict[str, str]
    principal: str | None
    body: Any
    status: int = 0
    fault: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_write(self) -> bool:
        return self.method in {"POST", "PUT", "PATCH", "DELETE"}


class ResponseDroppedError(Exception):
    """Raised after a commit-then-drop fault: the write happened, the answer is lost."""


class _FaultMiddleware:
    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sandbox = self.sandbox
        fault = sandbox.draw_fault(scope["method"], scope["path"])
        latency = sandbox.faults.latency_ms
        if latency:
            await asyncio.sleep(latency / 1000)
        if fault in ("error", "rate_limit"):
            status = 429 if fault == "rate_limit" else sandbox.rng_choice((500, 502, 503))
            headers = {"Retry-After": f"{sandbox.faults.retry_after:g}"} if status == 429 else {}
            response = sandbox.fault_response(status, headers)
            sandbox.note_fault(scope, fault, status)
            await response(scope, receive, send)
            return
        if fault == "drop":
            sandbox.note_fault(scope, fault, 0)

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
            raise ResponseDroppedError(scope["path"])
        await self.app(scope, receive, send)


class SandboxTransport(httpx.AsyncBaseTransport):
    """In-process transport to a sandbox; a dropped response surfaces as `httpx.ReadError`."""

    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except ResponseDroppedError as exc:
            raise httpx.ReadError("connection closed before the response", request=request) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()


class Sandbox:
    """Base of every portal sandbox: in-memory state, request log, faults, serving."""

    name: ClassVar[str] = "sandbox"

    def __init__(
        self,
        *,
        faults: FaultConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.faults = faults or FaultConfig()
        self.clock = clock
        self.requests: list[RecordedRequest] = []
        self._rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        app = Starlette(routes=self.routes())
        app.add_middleware(_RecordMiddleware, sandbox=self)  # type: ignore[arg-type]
        self._starlette = app
        self.app: ASGIApp = _FaultMiddleware(app, self)

    # -- to override ---------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        """The portal's endpoints."""
        raise NotImplementedError

    def principal(self, request: Request) -> str | None:
        """Which credential (key id, client id, caller id) a request used, for the log."""
        return None

    def client_settings(self, base_url: str, account: str = "default") -> dict[str, Any]:
        """Settings (including credentials) an adapter needs to reach this sandbox."""
        raise NotImplementedError

    def fault_response(self, status: int, headers: Mapping[str, str]) -> Response:
        """An injected error in the portal's own error format (default: JSON)."""
        return JSONResponse({"error": "injected fault", "status": status}, status, dict(headers))

    # -- shared behaviour ------------------------------------------------------------------
    def set_faults(self, faults: FaultConfig) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)

    def draw_fault(self, method: str, path: str) -> str | None:
        f = self.faults
        if method not in f.methods or any(path.startswith(p) for p in f.exclude_paths):
            return None
        if not (f.error_rate or f.rate_limit_rate or f.drop_rate):
            return None
        with self._lock:
            roll = self._rng.random()
        if roll < f.error_rate:
            return "error"
        if roll < f.error_rate + f.rate_limit_rate:
            return "rate_limit"
        if roll < f.error_rate + f.rate_limit_rate + f.drop_rate and method != "GET":
            return "drop"
        return None

    def rng_choice(self, options: tuple[int, ...]) -> int:
        with self._lock:
            return self._rng.choice(options)

    def note_fault(self, scope: Scope, fault: str, status: int) -> None:
        query = dict(httpx.QueryParams(scope.get("query_string", b"").decode()))
        self.requests.append(
            RecordedRequest(scope["method"], scope["path"], query, None, None, status, fault)
        )

    def transport(self) -> httpx.AsyncBaseTransport:
        """An in-process transport to this sandbox."""
        return SandboxTransport(self.app)

    def write_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.is_write and r.fault is None]

    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve over loopback in a background thread; yields the base URL."""
        import uvicorn  # noqa: PLC0415  (only needed when serving)

        config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            log_level="critical",
            lifespan="off",
            access_log=False,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"sandbox-{self.name}", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"sandbox {self.name} did not start")
            time.sleep(0.01)
        sock = server.servers[0].sockets[0]
        bound_port = sock.getsockname()[1]
        try:
            yield f"http://{host}:{bound_port}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)


class _RecordMiddleware:
    """Logs every handled request with the credential it used (after fault injection)."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        request = Request(scope)
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode("utf-8", "replace")
        entry = RecordedRequest(
            method=scope["method"],
            path=scope["path"],
            query=dict(request.query_params),
            principal=self.sandbox.principal(request),
            body=parsed,
            headers={k.lower(): v for k, v in request.headers.items()},
        )
        self.sandbox.requests.append(entry)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
            await send(message)

        await self.app(scope, replay, capture)


def plain_text(status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
    """Helper for portals whose errors are plain text."""
    return PlainTextResponse(text, status, dict(headers or {}))
