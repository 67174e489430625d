"""The base of every conformance class: fixtures, hooks and helpers the checks share.

Subclasses (`WriteAdapterConformance`, `ReadAdapterConformance`) provide `_exercise()` (one
representative piece of work against the sandbox), `_prepare()` and `_idempotent_call()` (one
retryable request after warming up) so the shared checks run the same way for both kinds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any, ClassVar, TypeVar

import httpx

from listsync.sandbox import Sandbox
from listsync.testing._checks import find_secrets
from listsync.testing._driver import ConformanceError
from listsync.testing._faults import WRITE_METHODS
from listsync.testing._fixtures import AdapterFixtures

__all__ = ["ConformanceBase", "run"]

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one check's coroutine on a fresh event loop (independent of pytest-asyncio)."""
    return asyncio.run(coro)


class ConformanceBase(AdapterFixtures):
    """Hooks and helpers; the checks live in the mixins built on it."""

    retry_methods: ClassVar[frozenset[str]] = WRITE_METHODS | {"GET"}
    """Methods the retry checks inject faults into (after `_prepare`, only the checked call
    sends requests, so every method is fair game by default)."""

    credential_lifetime: ClassVar[float] = 2 * 86400.0
    """Seconds after which every credential the sandbox issues has expired (keys, tokens,
    signature windows); the expiry check moves the sandbox clock this far."""

    # -- provided by the subclasses --------------------------------------------------------
    async def _exercise(self, adapter: Any, sandbox: Sandbox) -> None:
        raise NotImplementedError

    async def _prepare(self, adapter: Any, sandbox: Sandbox) -> Any:
        """Warm up (tokens, a record to update) and return state for `_idempotent_call`."""
        raise NotImplementedError

    async def _idempotent_call(self, adapter: Any, state: Any) -> Any:
        raise NotImplementedError

    # -- helpers ---------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _adapter(
        self,
        sandbox: Sandbox,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        table: dict[str, Any] | None = None,
    ) -> AsyncIterator[Any]:
        adapter = self.make_adapter(sandbox, transport=transport, table=table)
        try:
            yield adapter
        finally:
            await adapter.aclose()

    def _sample_listings(self) -> list[Any]:
        return [*self.valid_listings(), *(s.listing for s in self.refused_listings())]

    def _check_clear_error(self, error: BaseException, secrets: list[str]) -> None:
        text = str(error)
        if self.portal not in text:
            raise ConformanceError(f"the error message must name the portal: {text!r}")
        leaks = find_secrets([text, repr(error.args)], secrets)
        if leaks:
            raise ConformanceError(f"the error message contains a secret: {', '.join(leaks)}")
