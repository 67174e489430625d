"""Calm when a portal is down, per account: the circuit breaker, the 429 pause, the cap on time
spent retrying, and a stop that cancels retry waits (issue 15)."""

from __future__ import annotations

import asyncio
import time

import pytest

from listsync.errors import PortalUnavailableError, RateLimitedError, TransientError
from listsync.retry import RunStopped, observe, stop_signal
from listsync.sandbox import FaultConfig

from .conftest import ItemsSandbox, make_http


async def test_the_breaker_opens_after_failures_in_a_row_and_fails_fast(
    sandbox: ItemsSandbox,
) -> None:
    """With the portal answering 503, the account's requests stop reaching it after
    `breaker_threshold` failures: later requests fail at once as portal unavailable."""
    sandbox.items["1"] = {}
    sandbox.set_faults(FaultConfig(error_rate=1.0, error_statuses=(503,)))
    async with make_http(sandbox, breaker_threshold=3, breaker_cooldown=60, max_attempts=5) as http:
        with pytest.raises(PortalUnavailableError, match="portal unavailable"):
            await http.request("GET", "/items/1")
        for _ in range(20):
            with pytest.raises(PortalUnavailableError):
                await http.request("POST", "/items", json={})
    assert len(sandbox.requests) == 3


async def test_a_probe_after_the_cooldown_closes_the_breaker(sandbox: ItemsSandbox) -> None:
    """A short blip: after `breaker_cooldown` one probe goes through; its success closes the
    breaker and the account works again."""
    sandbox.items["1"] = {"title": "x"}
    sandbox.set_faults(FaultConfig(error_rate=1.0, error_statuses=(502,), max_faults=2))
    async with make_http(
        sandbox, breaker_threshold=2, breaker_cooldown=0.2, max_attempts=2
    ) as http:
        with pytest.raises(TransientError):  # 502 twice on a GET: retries used up
            await http.request("GET", "/items/1")
        with pytest.raises(PortalUnavailableError):
            await http.request("GET", "/items/1")
        await asyncio.sleep(0.25)
        answer = await http.request("GET", "/items/1")
        assert answer.status == 200
        assert (await http.request("GET", "/items/1")).status == 200
    assert [r.status for r in sandbox.requests] == [502, 502, 200, 200]


async def test_a_connection_that_cannot_be_made_opens_the_breaker_too() -> None:
    """A closed port counts like a 5xx: after the threshold nothing more is attempted."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    with observe() as retries:
        async with make_http(base_url=base, breaker_threshold=2, max_attempts=5) as http:
            with pytest.raises(PortalUnavailableError):
                await http.request("POST", "/items", json={})
    assert len(retries) == 2  # two refused connections, then the breaker said no


async def test_a_429_pauses_the_whole_account(sandbox: ItemsSandbox) -> None:
    """After a 429 with Retry-After, no request of that account reaches the portal inside the
    window (besides those already sent); the refused request is resent after it."""
    sandbox.items.update({str(i): {} for i in range(1, 9)})
    sandbox.set_faults(FaultConfig(rate_limit_rate=1.0, retry_after=0.6, max_faults=1))
    sandbox.handler_delay = 0.01
    async with make_http(sandbox, max_concurrency=4) as http:
        answers = await asyncio.gather(*(http.request("GET", f"/items/{i}") for i in range(1, 9)))
    assert all(a.status == 200 for a in answers)
    refused = next(r for r in sandbox.requests if r.status == 429 or r.fault == "rate_limit")
    inside = [r for r in sandbox.requests if refused.at + 0.25 < r.at < refused.at + 0.55]
    assert inside == []
    assert len(sandbox.requests) == 9


async def test_a_pause_longer_than_max_retry_wait_fails_other_requests_at_once(
    sandbox: ItemsSandbox,
) -> None:
    """A Retry-After beyond `max_retry_wait`: the refused request and the account's next ones
    fail as rate-limited at once, without being sent or slept for."""
    sandbox.set_faults(FaultConfig(rate_limit_rate=1.0, retry_after=600, max_faults=1))
    async with make_http(sandbox, max_retry_wait=5) as http:
        with pytest.raises(RateLimitedError):
            await http.request("GET", "/items/1")
        started = time.monotonic()
        with pytest.raises(RateLimitedError, match="paused by the portal"):
            await http.request("GET", "/items/2")
        assert time.monotonic() - started < 1
    assert len(sandbox.requests) == 1


async def test_retries_stop_at_max_retry_time(sandbox: ItemsSandbox) -> None:
    """No retry starts after `max_retry_time`, however many attempts are left."""
    sandbox.set_faults(FaultConfig(rate_limit_rate=1.0, retry_after=0.3))
    async with make_http(sandbox, max_attempts=50, max_retry_time=0.5) as http:
        with pytest.raises(RateLimitedError):
            await http.request("GET", "/items/1")
    assert len(sandbox.requests) == 2  # 0.3 s wait fits once, a second would end past 0.5 s


async def test_a_stop_cancels_a_retry_wait_at_once(sandbox: ItemsSandbox) -> None:
    """Setting the run's stop event ends a pending retry wait with RunStopped, and a request
    not sent yet is not sent."""
    sandbox.set_faults(FaultConfig(rate_limit_rate=1.0, retry_after=30))
    stop = asyncio.Event()
    async with make_http(sandbox, max_retry_wait=60) as http:
        with stop_signal(stop):
            task = asyncio.create_task(http.request("GET", "/items/1"))
            await asyncio.sleep(0.2)
            stop.set()
            with pytest.raises(RunStopped):
                await asyncio.wait_for(task, timeout=2)
            with pytest.raises(RunStopped):
                await http.request("GET", "/items/2")
    assert len(sandbox.requests) == 1
