"""Attempt deadlines that share one timer per event loop.

Each request attempt runs under a deadline. `asyncio.timeout` would do, but it schedules a
timer for every use: a `TimerHandle` pushed on the loop's heap, cancelled when the block ends
in time (nearly always), and popped later. At thousands of requests a second that is ≈ 4 µs
per attempt, and the heap holds thousands of dead timers. Here the deadlines of one loop share
one timer, armed at the earliest of them. A block that ends in time only leaves a set. When
the timer fires, the deadlines that are due are expired and the timer is armed again at the
earliest of the rest.

The behaviour is `asyncio.timeout`'s. An expired deadline cancels its task. The block's exit
then turns that `CancelledError` into `TimeoutError`, unless the task was also cancelled from
outside: then the cancellation goes on. `when()` and `reschedule()` work as `asyncio.Timeout`'s
do.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

__all__ = ["Deadline", "DeadlineWatch"]


class DeadlineWatch:
    """The deadlines of one event loop and their one timer."""

    __slots__ = ("_armed", "_handle", "_live", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._live: set[Deadline] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._armed = 0.0

    def deadline(self, delay: float) -> Deadline:
        """A deadline `delay` seconds from now, for `async with`."""
        return Deadline(self, self.loop.time() + delay)

    def _add(self, deadline: Deadline) -> None:
        self._live.add(deadline)
        if self._handle is None or deadline._when < self._armed:
            self._arm(deadline._when)

    def _discard(self, deadline: Deadline) -> None:
        self._live.discard(deadline)

    def _moved(self, deadline: Deadline) -> None:
        """`deadline` was rescheduled: later needs nothing (the timer finds it not due yet)."""
        if deadline in self._live and deadline._when < self._armed:
            self._arm(deadline._when)

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed = when
        self._handle = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        # The loop runs a timer when it is due within its clock's resolution: whatever was due
        # at the armed moment is due now.
        now = max(self.loop.time(), self._armed)
        earliest: float | None = None
        for deadline in list(self._live):
            when = deadline._when
            if when <= now:
                self._live.discard(deadline)
                deadline._expire()
            elif earliest is None or when < earliest:
                earliest = when
        if earliest is not None:
            self._arm(earliest)


class Deadline:
    """`async with watch.deadline(seconds):` raises `TimeoutError` when the block is still
    running `seconds` later (see the module docstring)."""

    __slots__ = ("_cancelling", "_expired", "_task", "_watch", "_when")

    def __init__(self, watch: DeadlineWatch, when: float) -> None:
        self._watch = watch
        self._when = when
        self._expired = False
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0

    def when(self) -> float:
        """The loop time the block must end by."""
        return self._when

    def reschedule(self, when: float) -> None:
        """Move the deadline to the loop time `when` (later or earlier)."""
        self._when = when
        self._watch._moved(self)

    def expired(self) -> bool:
        return self._expired

    async def __aenter__(self) -> Deadline:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.end(exc)

    def start(self) -> None:
        """What `async with` does on entry, as a plain call (a hot path's `try` block then
        spares the two coroutines of `__aenter__` and `__aexit__`); `end` must follow."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._watch._add(self)

    def end(self, exc: BaseException | None) -> None:
        """What `async with` does on exit, with the block's exception (None: it ended in
        time, or returned in the turn the deadline expired).

        Raises:
            TimeoutError: the deadline cancelled the block (chained to its `CancelledError`).
        """
        self._watch._discard(self)
        if (
            self._expired
            and self._task is not None
            and self._task.uncancel() <= self._cancelling
            and type(exc) is asyncio.CancelledError
        ):  # no other cancellation is pending: this one was ours
            raise TimeoutError from exc

    def _expire(self) -> None:
        self._expired = True
        if self._task is not None:
            self._task.cancel()
