"""What one worker process keeps between tasks: an event loop in a thread of its own and one
`Syndicator` on it (adapters, HTTP connection pools, per-account guards and limits).

Celery runs a task in a plain (synchronous) call; the task hands its coroutine to this loop and
waits. The runtime is made on the first task of each process (a prefork child makes its own
after the fork) and closed when the process exits.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from listsync.celery._app import load
from listsync.syndicator import Syndicator

__all__ = ["Runtime", "runtime"]

T = TypeVar("T")

LEASE_WAIT = 300.0
"""Seconds a worker waits for a SQLite store's single-writer lease (PostgreSQL has none)."""


class Runtime:
    """One loop thread and one Syndicator (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="listsync-worker", daemon=True
        )
        self._thread.start()
        self.syndicator: Syndicator = self.call(self._build(kwargs))

    async def _build(self, kwargs: dict[str, Any]) -> Syndicator:
        kwargs.setdefault("lease_wait", LEASE_WAIT)
        return Syndicator(config=load(), **kwargs)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the worker's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        if self.loop.is_closed():
            return
        try:
            self.call(self.syndicator.aclose())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()


_RUNTIME: Runtime | None = None
_LOCK = threading.Lock()


def runtime() -> Runtime:
    """This process's runtime, made on first use (after a fork, a new one)."""
    global _RUNTIME  # noqa: PLW0603  (one per worker process)
    with _LOCK:
        if _RUNTIME is None or _RUNTIME.pid != os.getpid():
            _RUNTIME = Runtime()
            atexit.register(_RUNTIME.close)
        return _RUNTIME
