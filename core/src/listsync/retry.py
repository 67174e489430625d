"""The one retry policy: whether, and after how long, a failed request is sent again.

`RetryPolicy.wait` is the only place listsync decides. The HTTP layer (`listsync.http`) asks it
after each failed attempt of a request; the engine asks it only when a non-idempotent operation
ended with an unknown outcome, after looking the record up on the portal (`recover`). Nothing
else loops: credential checks are single attempts inside the request they guard.

The most one request can cost: `max_attempts` sends. A non-idempotent request (a create) is not
resent by the HTTP layer once it may have landed; the engine then looks it up and resends it at
most `max_attempts - 1` more times, each attempt again at most `max_attempts` sends when the
connection could not even be opened (nothing reached the portal).

Waits: a 429's `Retry-After` (seconds or an HTTP date) when it is within `max_wait`; a 429 that
asks for longer is not waited for at all: the `RateLimitedError` goes to the caller at once (that
listing fails as rate-limited and the next run retries it). Everything else waits an
exponential backoff with jitter: `backoff * 2**(attempt-1)`, capped at `backoff_max`, times a
random factor in [0.5, 1.5).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from listsync.errors import (
    RateLimitedError,
    RequestNotSentError,
    TransientError,
    UnknownOutcomeError,
)

if TYPE_CHECKING:
    from listsync.adapter import AdapterSettings

__all__ = [
    "RetryEvent",
    "RetryPolicy",
    "RunStopped",
    "check_stop",
    "observe",
    "pause",
    "report",
    "stop_signal",
]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry settings of one portal account.

    Attributes:
        max_attempts: sends of one request, the first included.
        max_wait: the longest `Retry-After` that is waited for, in seconds.
        max_time: the most seconds one request may spend from its first send to the start of
            its last attempt (waits included); no retry starts later than that.
        backoff: the first backoff, in seconds.
        backoff_max: the longest backoff, in seconds.
    """

    max_attempts: int = 5
    max_wait: float = 60.0
    backoff: float = 0.1
    backoff_max: float = 30.0
    max_time: float = 120.0

    @classmethod
    def from_settings(cls, settings: AdapterSettings) -> RetryPolicy:
        """The policy of an adapter's settings (`max_attempts`, `max_retry_wait`)."""
        return cls(
            max_attempts=settings.max_attempts,
            max_wait=settings.max_retry_wait,
            backoff=settings.retry_backoff,
            backoff_max=min(30.0, max(settings.max_retry_wait, 0.1)),
            max_time=settings.max_retry_time,
        )

    def wait(
        self, error: Exception, attempts: int, *, safe_to_resend: bool, elapsed: float = 0.0
    ) -> float | None:
        """Seconds to wait before sending again after `error`, or None: give up, raise it.

        Args:
            error: what the last attempt raised.
            attempts: the sends made so far (1 after the first failure).
            safe_to_resend: the request is idempotent, or the caller has made sure that the
                failed attempt did not land (a non-idempotent one that may have landed is
                never resent blindly).
            elapsed: seconds since the first send of the request.
        """
        wait = self._wait(error, attempts, safe_to_resend=safe_to_resend)
        if wait is None or elapsed + wait > self.max_time:
            return None
        return wait

    def _wait(self, error: Exception, attempts: int, *, safe_to_resend: bool) -> float | None:
        if attempts >= self.max_attempts:
            return None
        if isinstance(error, RateLimitedError):
            if error.retry_after is None:
                return self._backoff(attempts)
            return error.retry_after if error.retry_after <= self.max_wait else None
        if isinstance(error, RequestNotSentError):
            return self._backoff(attempts)
        if isinstance(error, TransientError | UnknownOutcomeError):
            return self._backoff(attempts) if safe_to_resend else None
        return None

    def _backoff(self, attempts: int) -> float:
        base: float = min(self.backoff * 2.0 ** (attempts - 1), self.backoff_max)
        return base * (0.5 + random.random())


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """One scheduled retry, as `observe()` reports it.

    Attributes:
        portal / account: whose request.
        what: the request (`METHOD path`) or operation retried.
        attempts: the sends made so far.
        wait: the seconds waited before the next one.
        error: the class name of the error that caused it.
    """

    portal: str
    account: str
    what: str
    attempts: int
    wait: float
    error: str


_observers: contextvars.ContextVar[tuple[list[RetryEvent], ...]] = contextvars.ContextVar(
    "listsync_retry_observers", default=()
)


@contextlib.contextmanager
def observe() -> Iterator[list[RetryEvent]]:
    """Collect the retries scheduled inside this block (and the tasks it starts).

    For tests and summaries: `with observe() as retries: ...; len(retries)`.
    """
    events: list[RetryEvent] = []
    token = _observers.set((*_observers.get(), events))
    try:
        yield events
    finally:
        _observers.reset(token)


def report(event: RetryEvent) -> None:
    """Hand `event` to every `observe()` block around the caller (a no-op without any)."""
    for events in _observers.get():
        events.append(event)


class RunStopped(BaseException):
    """The run is stopping: a retry wait or a request that was never sent is given up.

    A `BaseException`, so an adapter's `except Exception` cannot swallow it; the engine records
    the listing as interrupted (its journal lets the next run go on)."""


_stop: contextvars.ContextVar[asyncio.Event | None] = contextvars.ContextVar(
    "listsync_run_stop", default=None
)


@contextlib.contextmanager
def stop_signal(event: asyncio.Event) -> Iterator[None]:
    """Inside this block (and the tasks it starts), setting `event` stops retry waits and
    requests not yet sent (`RunStopped`)."""
    token = _stop.set(event)
    try:
        yield
    finally:
        _stop.reset(token)


def check_stop() -> None:
    """Raise `RunStopped` when the run is stopping."""
    event = _stop.get()
    if event is not None and event.is_set():
        raise RunStopped


async def pause(seconds: float) -> None:
    """Sleep `seconds`, or until the run stops (then `RunStopped`)."""
    event = _stop.get()
    if event is None:
        await asyncio.sleep(seconds)
        return
    if event.is_set():
        raise RunStopped
    try:
        await asyncio.wait_for(event.wait(), timeout=seconds)
    except TimeoutError:
        return
    raise RunStopped
