"""Test doubles for the conformance kit: scripted sandbox faults, a transport that refuses to
send, and a guard that blocks every socket.

Faults always come from the sandbox's own fault injection (`Sandbox.set_faults`); the scripted
transport only decides *which* requests get them, so a check can say "the next write gets a 429"
without depending on a random seed.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from listsync.sandbox import FaultConfig, Sandbox

__all__ = [
    "WRITE_METHODS",
    "NetworkBlockedError",
    "RefusingTransport",
    "ScriptedFaults",
    "block_network",
]

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class NetworkBlockedError(AssertionError):
    """Raised by `block_network` and `RefusingTransport` when code tries to reach a network."""


@dataclass
class _Armed:
    faults: FaultConfig
    remaining: int
    methods: frozenset[str]


@dataclass
class ScriptedFaults(httpx.AsyncBaseTransport):
    """Wraps a sandbox's in-process transport and turns its fault injection on for chosen
    requests only.

    `arm(FaultConfig(rate_limit_rate=1.0, retry_after=30), count=1)` makes the next matching
    request get the sandbox's 429; every other request runs without faults.
    """

    sandbox: Sandbox
    inner: httpx.AsyncBaseTransport
    armed: list[_Armed] = field(default_factory=list)

    def arm(
        self,
        faults: FaultConfig,
        *,
        count: int = 1,
        methods: frozenset[str] = WRITE_METHODS,
    ) -> None:
        """Apply `faults` to the next `count` requests whose method is in `methods`."""
        self.armed.append(_Armed(faults, count, methods))

    def disarm(self) -> None:
        self.armed.clear()

    def _take(self, method: str) -> FaultConfig | None:
        for armed in self.armed:
            if armed.remaining > 0 and method in armed.methods:
                armed.remaining -= 1
                return armed.faults
        return None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        faults = self._take(request.method)
        if faults is None:
            return await self.inner.handle_async_request(request)
        self.sandbox.set_faults(faults)
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.sandbox.set_faults(FaultConfig())

    async def aclose(self) -> None:
        await self.inner.aclose()


class RefusingTransport(httpx.AsyncBaseTransport):
    """A transport that fails the test on any request (for checks that must not do I/O)."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts.append(f"{request.method} {request.url}")
        raise NetworkBlockedError(f"unexpected HTTP request {request.method} {request.url.path}")


@contextlib.contextmanager
def block_network() -> Iterator[list[str]]:
    """Block socket connections and name lookups; yields the list of attempts made.

    Patches `socket.socket.connect`/`connect_ex`, `socket.create_connection` and
    `socket.getaddrinfo` for the duration of the block.
    """
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(repr(args[1:] if args and isinstance(args[0], socket.socket) else args))
        raise NetworkBlockedError("network access is blocked here")

    saved = (
        socket.socket.connect,
        socket.socket.connect_ex,
        socket.create_connection,
        socket.getaddrinfo,
    )
    socket.socket.connect = refuse  # type: ignore[method-assign]  # deliberate test patch
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]  # deliberate test patch
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    try:
        yield attempts
    finally:
        (
            socket.socket.connect,  # type: ignore[method-assign]  # restoring the original
            socket.socket.connect_ex,  # type: ignore[method-assign]  # restoring the original
            socket.create_connection,
            socket.getaddrinfo,
        ) = saved
