"""Retry checks: Retry-After honoured or reported, 5xx retried within limits.

Attempts are counted in the sandbox's request log, never with a clock; the waits the HTTP
layer's retry policy scheduled come from `listsync.retry.observe()`.
"""

from __future__ import annotations

from typing import Any

from listsync.errors import RateLimitedError, TransientError
from listsync.retry import observe
from listsync.sandbox import FaultConfig, Sandbox
from listsync.testing._base import ConformanceBase, run
from listsync.testing._driver import ConformanceError
from listsync.testing._faults import ScriptedFaults

__all__ = ["RetryChecks"]


class RetryChecks(ConformanceBase):
    """Rate limits and server errors are handled by the HTTP layer's one retry policy."""

    def _run_with_faults(
        self, faults: FaultConfig, count: int
    ) -> tuple[Sandbox, list[Any], BaseException | None, list[float]]:
        """Prepare, arm `count` faults for the idempotent call, run it; return the sandbox,
        the faulted log entries, the error (if any) and the waits the retry policy scheduled."""
        sandbox = self.make_sandbox()

        async def scenario() -> BaseException | None:
            transport = ScriptedFaults(sandbox, sandbox.transport())
            async with self._adapter(sandbox, transport=transport) as adapter:
                state = await self._prepare(adapter, sandbox)
                transport.arm(faults, count=count, methods=self.retry_methods)
                try:
                    await self._idempotent_call(adapter, state)
                except Exception as exc:
                    return exc
            return None

        with observe() as retries:
            error = run(scenario())
        waits = [event.wait for event in retries]
        faulted = [r for r in sandbox.requests if r.fault is not None]
        return sandbox, faulted, error, waits

    def test_retry_after_is_honoured(self) -> None:
        """A 429 with a short Retry-After is retried after (at least) that long, and the
        request then succeeds; attempts are counted in the sandbox's log."""
        retry_after = 0.2
        _, faulted, error, waits = self._run_with_faults(
            FaultConfig(rate_limit_rate=1.0, retry_after=retry_after), count=1
        )
        if not faulted:
            raise ConformanceError("the injected 429 never reached the sandbox")
        if error is not None:
            raise ConformanceError(
                f"a 429 with Retry-After: {retry_after:g} (below max_retry_wait) must be retried, "
                f"got {type(error).__name__}: {error}"
            )
        if waits and waits[0] + 1e-6 < retry_after:
            raise ConformanceError(
                f"Retry-After was ignored: the adapter retried after {waits[0]:.3f} s although "
                f"the portal asked for {retry_after:g} s"
            )

    def test_retry_after_beyond_max_wait_gives_up(self) -> None:
        """A 429 whose Retry-After exceeds max_retry_wait is not retried: the adapter raises
        RateLimitedError carrying the portal's retry_after."""
        retry_after = 30.0
        _, faulted, error, _ = self._run_with_faults(
            FaultConfig(rate_limit_rate=1.0, retry_after=retry_after), count=10
        )
        max_wait = self.settings_overrides.get("max_retry_wait")
        if not isinstance(error, RateLimitedError):
            raise ConformanceError(
                f"a 429 must be raised as RateLimitedError, got "
                f"{type(error).__name__ if error else 'success'}: {error}"
            )
        if error.retry_after is None or abs(error.retry_after - retry_after) > 1:
            raise ConformanceError(
                f"Retry-After was ignored: the portal sent Retry-After: {retry_after:g} but the "
                f"RateLimitedError carries retry_after={error.retry_after!r}; the error mapper "
                "must parse the header (listsync.http.parse_retry_after)"
            )
        if len(faulted) > 1:
            raise ConformanceError(
                f"Retry-After was ignored: the portal asked to wait {retry_after:g} s (more "
                f"than max_retry_wait={max_wait}) but the adapter sent the request "
                f"{len(faulted)} times instead of giving up after one"
            )

    def test_server_errors_are_retried_within_limits(self) -> None:
        """5xx answers to an idempotent request are retried, at most max_attempts times."""
        attempts = int(self.settings_overrides.get("max_attempts", 3))
        _, faulted, error, _ = self._run_with_faults(FaultConfig(error_rate=1.0), count=1)
        if error is not None:
            raise ConformanceError(
                f"one 5xx on an idempotent request must be retried, got "
                f"{type(error).__name__}: {error}"
            )
        _, faulted, error, _ = self._run_with_faults(FaultConfig(error_rate=1.0), count=100)
        if not isinstance(error, TransientError):
            raise ConformanceError(
                f"5xx until retries run out must raise TransientError, got "
                f"{type(error).__name__ if error else 'success'}: {error}"
            )
        if not 2 <= len(faulted) <= attempts:
            raise ConformanceError(
                f"with max_attempts={attempts} the request was sent {len(faulted)} times "
                f"against a failing server (expected 2..{attempts})"
            )
