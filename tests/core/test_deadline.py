"""Attempt deadlines on one shared timer behave as `asyncio.timeout` does.

Each scenario runs twice, once with `asyncio.timeout` and once with `DeadlineWatch.deadline`,
and must end the same way: the same exception (or none), the same pending cancellations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from listsync._deadline import DeadlineWatch

Make = Callable[[float], AbstractAsyncContextManager[Any]]
Scenario = Callable[[Make], Awaitable[str]]


def _stdlib(delay: float) -> AbstractAsyncContextManager[Any]:
    return asyncio.timeout(delay)


def _shared() -> Make:
    watch = DeadlineWatch(asyncio.get_running_loop())
    return watch.deadline


async def _in_time(make: Make) -> str:
    async with make(5):
        await asyncio.sleep(0)
    return "done"


async def _too_slow(make: Make) -> str:
    async with make(0.02):
        await asyncio.sleep(5)
    return "not reached"


async def _inner_expires(make: Make) -> str:
    async with make(5):
        try:
            async with make(0.02):
                await asyncio.sleep(5)
        except TimeoutError:
            await asyncio.sleep(0)  # the outer block goes on, no cancellation left pending
            return "inner timed out"
    return "not reached"


async def _outer_expires_inside_inner(make: Make) -> str:
    async with make(0.02), make(5):
        await asyncio.sleep(5)
    return "not reached"


async def _both_due_together(make: Make) -> str:
    async with make(0.02), make(0.02):
        await asyncio.sleep(5)
    return "not reached"


async def _cancelled_from_outside(make: Make) -> str:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().call_later(0.02, task.cancel)
    async with make(5):
        await asyncio.sleep(5)
    return "not reached"


async def _due_after_its_answer(make: Make) -> str:
    """The answer came in the same turn the deadline fell due: the block still times out."""
    loop = asyncio.get_running_loop()
    async with make(0.02):
        answer = loop.create_future()
        loop.call_later(0.02, answer.set_result, "answer")
        await answer
        await asyncio.sleep(0.05)
    return "not reached"


async def _due_after_an_earlier_one_ended(make: Make) -> str:
    """The shared timer was armed for an attempt that ended in time; it must be armed again
    for the one still running."""
    async with make(0.02):
        await asyncio.sleep(0)
    async with make(0.05):
        await asyncio.sleep(1)
    return "not reached"


SCENARIOS: list[Scenario] = [
    _in_time,
    _too_slow,
    _inner_expires,
    _outer_expires_inside_inner,
    _both_due_together,
    _cancelled_from_outside,
    _due_after_its_answer,
    _due_after_an_earlier_one_ended,
]


async def _outcome(scenario: Scenario, make: Make) -> tuple[str, int]:
    async def run() -> tuple[str, int]:
        try:
            result = await scenario(make)
        except BaseException as exc:
            result = type(exc).__name__
        task = asyncio.current_task()
        assert task is not None
        return result, task.cancelling()

    return await asyncio.create_task(run())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__.strip("_"))
async def test_same_outcome_as_asyncio_timeout(scenario: Scenario) -> None:
    expected = await _outcome(scenario, _stdlib)
    assert await _outcome(scenario, _shared()) == expected


async def test_reschedule_later_lets_the_block_finish() -> None:
    watch = DeadlineWatch(asyncio.get_running_loop())
    async with watch.deadline(0.02) as deadline:
        deadline.reschedule(deadline.when() + 5)
        await asyncio.sleep(0.06)
    assert not deadline.expired()


async def test_reschedule_earlier_expires_sooner() -> None:
    loop = asyncio.get_running_loop()
    watch = DeadlineWatch(loop)
    outer = watch.deadline(5)

    async def attempt() -> None:
        async with outer, watch.deadline(10):  # the armed timer is the 5 s one
            outer.reschedule(loop.time() + 0.02)
            await asyncio.sleep(5)

    with pytest.raises(TimeoutError):
        await attempt()
    assert outer.expired()


async def test_one_timer_for_many_attempts() -> None:
    """Blocks that end in time leave no timers behind; the watch keeps at most one."""
    loop = asyncio.get_running_loop()
    watch = DeadlineWatch(loop)
    before = len(loop._scheduled)  # type: ignore[attr-defined]  # the loop's timer heap

    async def attempt() -> None:
        async with watch.deadline(30):
            await asyncio.sleep(0)

    await asyncio.gather(*(attempt() for _ in range(500)))
    assert len(loop._scheduled) - before <= 1  # type: ignore[attr-defined]
    with pytest.raises(TimeoutError):  # and the watch still expires what is due
        async with watch.deadline(0.01):
            await asyncio.sleep(5)


async def test_deadline_outside_a_task_is_refused() -> None:
    loop = asyncio.get_running_loop()
    watch = DeadlineWatch(loop)
    caught: asyncio.Future[str] = loop.create_future()

    def enter_outside() -> None:  # a loop callback: no task is running
        entering = watch.deadline(1).__aenter__()
        try:
            entering.send(None)
        except RuntimeError as exc:
            caught.set_result(str(exc))

    loop.call_soon(enter_outside)
    assert "inside a task" in await caught
