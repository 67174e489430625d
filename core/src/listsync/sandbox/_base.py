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
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from listsync.errors import ConfigurationError

__all__ = [
    "FaultConfig",
    "RecordedRequest",
    "ResponseDroppedError",
    "Sandbox",
    "SandboxTransport",
    "plain_text",
]

_FAULT_KEY = "listsync.fault"
"""ASGI scope key the fault middleware sets so the request log can mark a dropped response."""


class FaultConfig(BaseModel):
    """Fault injection, deterministic for a given seed and request order.

    Rates are probabilities per request for the listed `methods` (paths starting with one of
    `exclude_paths` are never faulted). One draw from a `random.Random(seed)` per eligible
    request decides its fault, so the same seed and request order give the same faults.

    Attributes:
        seed: seed of the fault generator.
        latency_ms: added to every request before it is handled.
        error_rate: share of requests answered with one of `error_statuses` (drawn from the
            same generator) without being handled.
        error_statuses: the 5xx statuses injected errors use.
        rate_limit_rate: share answered 429 with `Retry-After: <retry_after>`, not handled.
        retry_after: seconds sent in `Retry-After`.
        drop_rate: commit-then-drop, for writes only: the request is handled and its write
            kept, but the response is lost (in process: `httpx.ReadError`; over loopback the
            server answers 500 instead of the real response).
        methods: which methods faults apply to.
        exclude_paths: path prefixes never faulted (e.g. a token endpoint).
        max_faults: stop injecting after this many faults (None: no limit); "the first request
            fails, the retry succeeds" is `max_faults=1` with a rate of 1.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    latency_ms: float = Field(default=0.0, ge=0)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_statuses: tuple[int, ...] = Field(default=(500, 502, 503), min_length=1)
    rate_limit_rate: float = Field(default=0.0, ge=0, le=1)
    retry_after: float = Field(default=1.0, ge=0)
    drop_rate: float = Field(default=0.0, ge=0, le=1)
    methods: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")
    exclude_paths: tuple[str, ...] = ()
    max_faults: int | None = Field(default=None, ge=0)


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
    at: float = field(default_factory=time.monotonic)
    """When the request arrived (`time.monotonic()` of the sandbox's process)."""

    @property
    def is_write(self) -> bool:
        """True for methods that change state (POST, PUT, PATCH, DELETE)."""
        return self.method in {"POST", "PUT", "PATCH", "DELETE"}


class ResponseDroppedError(Exception):
    """Raised after a commit-then-drop fault: the write happened, the answer is lost."""


_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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
            await sandbox.sleep(latency / 1000)
        if fault in ("error", "rate_limit"):
            status = (
                429 if fault == "rate_limit" else sandbox.rng_choice(sandbox.faults.error_statuses)
            )
            headers = {"Retry-After": f"{sandbox.faults.retry_after:g}"} if status == 429 else {}
            response = sandbox.fault_response(status, headers)
            sandbox.note_fault(scope, fault, status)
            await response(scope, receive, send)
            return
        if fault == "drop":
            scope = {**scope, _FAULT_KEY: fault}

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
        self.credentials_file: Path | None = None
        self._rng = random.Random(self.faults.seed)
        self._faults_injected = 0
        self._lock = threading.Lock()
        app = Starlette(routes=self.routes())
        app.add_middleware(_RecordMiddleware, sandbox=self)
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

    def dump_credentials(self, account: str) -> dict[str, str]:
        """The fake credentials this sandbox accepts for `account` (created with random values
        if needed), as flat strings: what `load_credentials` needs to restore them."""
        raise NotImplementedError

    def load_credentials(self, account: str, values: dict[str, str]) -> None:
        """Accept exactly `values` (from `dump_credentials`) for `account` from now on,
        creating the account; `ValueError` for missing or malformed values."""
        raise NotImplementedError

    # -- fixed credentials -----------------------------------------------------------------
    @classmethod
    def supports_credentials_file(cls) -> bool:
        """True when this sandbox implements `dump_credentials` and `load_credentials`."""
        return (
            cls.dump_credentials is not Sandbox.dump_credentials
            and cls.load_credentials is not Sandbox.load_credentials
        )

    @classmethod
    def with_credentials(
        cls,
        path: str | os.PathLike[str],
        *,
        accounts: Iterable[str] = ("default",),
        **options: Any,
    ) -> Self:
        """A sandbox (`cls(**options)`) whose fake credentials are fixed by the JSON file at
        `path`: created with random values on first use, reused after (see
        `use_credentials_file`), so a person can point a config at it across restarts."""
        sandbox = cls(**options)
        sandbox.use_credentials_file(path, accounts)
        return sandbox

    def use_credentials_file(
        self, path: str | os.PathLike[str], accounts: Iterable[str] = ("default",)
    ) -> None:
        """Load the accounts' fake credentials from `path`, or write them there.

        The file is `{"sandbox": NAME, "accounts": {ACCOUNT: {KEY: VALUE}}}`. Accounts in the
        file are restored with `load_credentials`; accounts asked for and missing from it get
        this sandbox's random values (`dump_credentials`) and the file is (re)written
        atomically, mode 0600, in a folder created 0700 when missing. A file that is not such
        an object, or belongs to another sandbox, is a `ConfigurationError` naming the file
        (values are never echoed).
        """
        target = Path(path)
        stored = self._read_credentials(target) if target.exists() else {}
        try:
            for account, values in stored.items():
                self.load_credentials(account, values)
        except ValueError as exc:
            raise ConfigurationError(
                f"{target}: not usable credentials for sandbox {self.name} ({exc})"
            ) from None
        missing = [a for a in dict.fromkeys(accounts) if a not in stored]
        if missing or not target.exists():
            merged = {**stored, **{a: self.dump_credentials(a) for a in missing}}
            _write_private_json(target, {"sandbox": self.name, "accounts": merged})
        self.credentials_file = target

    def _read_credentials(self, path: Path) -> dict[str, dict[str, str]]:
        def bad(what: str) -> ConfigurationError:
            return ConfigurationError(
                f"{path}: {what}; delete it to have new fake credentials made"
            )

        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise bad(f"cannot read sandbox credentials ({type(exc).__name__})") from None
        if not isinstance(data, dict) or not isinstance(data.get("accounts"), dict):
            raise bad("not a sandbox credentials file")
        if data.get("sandbox") != self.name:
            raise bad(f"credentials of another sandbox, not {self.name}")
        accounts: dict[str, dict[str, str]] = {}
        for account, values in data["accounts"].items():
            if not isinstance(values, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in values.items()
            ):
                raise bad(f"account {account!r} is not an object of strings")
            accounts[str(account)] = dict(values)
        return accounts

    # -- shared behaviour ------------------------------------------------------------------
    def set_faults(self, faults: FaultConfig) -> None:
        """Replace the fault configuration and restart its random sequence from its seed."""
        self.faults = faults
        with self._lock:
            self._rng = random.Random(faults.seed)
            self._faults_injected = 0

    def draw_fault(self, method: str, path: str) -> str | None:
        """The fault for the next request: `"error"`, `"rate_limit"`, `"drop"` or None."""
        f = self.faults
        if method not in f.methods or any(path.startswith(p) for p in f.exclude_paths):
            return None
        if not (f.error_rate or f.rate_limit_rate or f.drop_rate):
            return None
        with self._lock:
            if f.max_faults is not None and self._faults_injected >= f.max_faults:
                return None
            roll = self._rng.random()
            fault: str | None = None
            if roll < f.error_rate:
                fault = "error"
            elif roll < f.error_rate + f.rate_limit_rate:
                fault = "rate_limit"
            elif roll < f.error_rate + f.rate_limit_rate + f.drop_rate and method in _WRITE_METHODS:
                fault = "drop"
            self._faults_injected += fault is not None
        return fault

    async def sleep(self, seconds: float) -> None:
        """How injected latency waits (tests may override it to observe the delay)."""
        await asyncio.sleep(seconds)

    def rng_choice(self, options: tuple[int, ...]) -> int:
        """A choice from the fault generator (keeps injected statuses deterministic)."""
        with self._lock:
            return self._rng.choice(options)

    def note_fault(self, scope: Scope, fault: str, status: int) -> None:
        """Log a request that was answered by fault injection without being handled."""
        request = Request(scope)
        self.requests.append(
            RecordedRequest(
                method=scope["method"],
                path=scope["path"],
                query=dict(request.query_params),
                principal=self.principal(request),
                body=None,
                status=status,
                fault=fault,
                headers={k.lower(): v for k, v in request.headers.items()},
            )
        )

    def transport(self) -> httpx.AsyncBaseTransport:
        """An in-process transport to this sandbox."""
        return SandboxTransport(self.app)

    def write_requests(self) -> list[RecordedRequest]:
        """Writes the sandbox handled, including those whose response was dropped."""
        return [r for r in self.requests if r.is_write and r.fault in (None, "drop")]

    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve over loopback in a background thread; yields the base URL."""
        import uvicorn  # noqa: PLC0415  (only needed when serving)

        config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            log_level="critical",
            log_config=None,  # leave the process's logging configuration alone
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
        bound_port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield f"http://{host}:{bound_port}"
        finally:
            server.should_exit = True
            thread.join(timeout=5)
            if thread.is_alive():  # connections still open: stop without waiting for them
                server.force_exit = True
                thread.join(timeout=5)


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
            fault=scope.get(_FAULT_KEY),
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


def _write_private_json(path: Path, data: Any) -> None:
    """Write `data` to `path` atomically, mode 0600, creating missing folders 0700."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.write("\n")
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def plain_text(status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
    """Helper for portals whose errors are plain text."""
    return PlainTextResponse(text, status, dict(headers or {}))
