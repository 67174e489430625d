"""What workers share through Redis (`listsync._shared`), tested with two backends on one real
Redis standing for two worker processes: the breaker and the 429 pause, the rate limit, the
concurrency leases (renewed while held, back when their holder dies), the Fernet-encrypted
credentials, a Redis that cannot be reached, and Immowelt's token fetched once for all.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis
from cryptography.fernet import Fernet
from structlog.testing import capture_logs

from listsync import _shared
from listsync._shared import RedisCredentialStore, SharedAccountGuard, SharedBackend, activate
from listsync.config import parse_portal_config
from listsync.errors import (
    ConfigurationError,
    PortalUnavailableError,
    RateLimitedError,
    RequestNotSentError,
)
from listsync_immowelt import ImmoweltAdapter
from listsync_immowelt.sandbox import ImmoweltSandbox
from listsync_immowelt.settings import ImmoweltAccount, ImmoweltSettings

from .cluster import flush, max_in_window

PORTAL, ACCOUNT = "hemnet", "norrmalm"


@pytest.fixture
def key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def redis_clean(redis_url: str) -> Iterator[str]:
    flush(redis_url)
    yield redis_url
    _shared.deactivate()


@pytest.fixture
async def two(redis_clean: str, key: str) -> AsyncIterator[tuple[SharedBackend, SharedBackend]]:
    """Two backends on one Redis: what two worker processes hold."""
    a, b = SharedBackend(redis_clean, key=key), SharedBackend(redis_clean, key=key)
    yield a, b
    for backend in (a, b):
        await backend.aclose()


async def _settle(*guards: SharedAccountGuard) -> None:
    """Wait for the guards' background updates of the shared state."""
    for guard in guards:
        if guard._tasks:
            await asyncio.gather(*guard._tasks)


# -- breaker and 429 pause --------------------------------------------------------------------
async def test_a_breaker_opened_by_one_worker_refuses_the_others_requests(
    two: tuple[SharedBackend, SharedBackend],
) -> None:
    a, b = two
    first = a.guard(PORTAL, ACCOUNT, threshold=2, cooldown=60)
    other = b.guard(PORTAL, ACCOUNT, threshold=2, cooldown=60)
    assert isinstance(first, SharedAccountGuard)
    assert isinstance(other, SharedAccountGuard)
    assert await other.admit(max_wait=1) is False  # closed: a plain request
    for _ in range(2):
        assert await first.admit(max_wait=1) is False
        first.failed(probe=False)
    await _settle(first)
    await asyncio.sleep(_shared.GUARD_FRESH)  # the other's read of the state is that old at most
    with pytest.raises(PortalUnavailableError, match="all workers"):
        await other.admit(max_wait=1)
    # another account of the same portal is not affected
    assert await b.guard(PORTAL, "skane", threshold=2, cooldown=60).admit(max_wait=1) is False


async def test_one_probe_across_workers_and_its_success_closes_the_breaker_for_all(
    two: tuple[SharedBackend, SharedBackend],
) -> None:
    a, b = two
    first = a.guard(PORTAL, ACCOUNT, threshold=1, cooldown=0.2)
    other = b.guard(PORTAL, ACCOUNT, threshold=1, cooldown=0.2)
    assert isinstance(first, SharedAccountGuard)
    assert isinstance(other, SharedAccountGuard)
    await first.admit(max_wait=1)
    first.failed(probe=False)
    await _settle(first)
    await asyncio.sleep(0.3)  # past the cooldown
    assert await asyncio.wait_for(first.admit(max_wait=1), 10) is True  # this worker probes ...
    waiting = asyncio.create_task(other.admit(max_wait=1))  # ... the other waits for it
    await asyncio.sleep(0.2)
    assert not waiting.done()
    first.succeeded(probe=True)
    await _settle(first)
    assert await asyncio.wait_for(waiting, 5) is False  # closed: a plain request


async def test_a_429_pause_in_one_worker_holds_the_others(
    two: tuple[SharedBackend, SharedBackend],
) -> None:
    a, b = two
    first = a.guard(PORTAL, ACCOUNT, threshold=5, cooldown=10)
    other = b.guard(PORTAL, ACCOUNT, threshold=5, cooldown=10)
    assert isinstance(first, SharedAccountGuard)
    first.pause(30)  # Retry-After: 30
    await _settle(first)
    with pytest.raises(RateLimitedError):
        await other.admit(max_wait=1)  # longer than this request may wait: refused, not sent


# -- rate and concurrency ---------------------------------------------------------------------
async def test_the_rate_limit_holds_across_two_clients(
    two: tuple[SharedBackend, SharedBackend],
) -> None:
    a, b = two
    rate = 10
    admitted: list[float] = []

    async def one(backend: SharedBackend) -> None:
        await backend.wait_rate(PORTAL, ACCOUNT, rate)
        admitted.append(time.monotonic())

    await asyncio.wait_for(asyncio.gather(*(one(a if n % 2 else b) for n in range(3 * rate))), 30)
    assert len(admitted) == 3 * rate
    # turns spaced 1.1 / rate apart across workers: no second of admissions holds more
    # than the rate, cold connections included
    assert max_in_window(admitted, 1.0) <= rate
    assert max_in_window(admitted, 1.0) >= rate - 1  # and the rate is used, not undershot
    assert max_in_window(admitted, 0.9) <= rate - 1  # a tenth of headroom


async def test_turns_missed_while_the_event_loop_was_held_up_are_taken_again_spaced(
    two: tuple[SharedBackend, SharedBackend],
) -> None:
    """A worker whose event loop is held up (a blocking call, no CPU) past several of its
    requests' turns must not send them together when it gets the CPU back: the portal would
    see them in a burst next to the other workers' on-time requests (found in the 2,000
    listing run: 4-5 requests within 15 ms, then the regular spacing, 22-23 in one second
    at a rate of 20). Each late request takes a fresh turn, once."""
    a, _ = two
    rate = 10
    admitted: list[float] = []

    async def one() -> None:
        await a.wait_rate(PORTAL, ACCOUNT, rate)
        admitted.append(time.time())

    tasks = [asyncio.create_task(one()) for _ in range(6)]
    await asyncio.sleep(0.05)  # every request has its turn (0, 0.11, 0.22, ... s) by now
    time.sleep(0.41)  # the loop held up past three turns (to 0.46 s: mid-way between two)
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    gaps = [later - earlier for earlier, later in itertools.pairwise(sorted(admitted))]
    assert min(gaps) >= 0.5 * 1.1 / rate, [round(g, 3) for g in gaps]


async def test_a_held_lease_is_renewed_and_a_dead_holders_lease_comes_back(
    two: tuple[SharedBackend, SharedBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_shared, "LEASE_TTL", 1.0)
    monkeypatch.setattr(_shared, "LEASE_RENEW", 0.25)
    a, b = two
    key = a.key("slots", PORTAL, ACCOUNT)
    await a._lease(key, 1, ttl=_shared.LEASE_TTL)
    # held (and renewed) for twice its time to live: the other worker gets no slot
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(b._lease(key, 1, ttl=_shared.LEASE_TTL), 2.0)
    # the holder dies: no release, no more renewals
    state = a._state()
    state.held.clear()
    await asyncio.sleep(0.3)
    lease = await asyncio.wait_for(b._lease(key, 1, ttl=_shared.LEASE_TTL), 5.0)
    await b._release(key, lease)


class _RoundTrips:
    """Counts the commands and pipelines this process sends to Redis (each one round trip)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from redis.asyncio.connection import AbstractConnection

        self.count = 0
        send = AbstractConnection.send_packed_command

        async def counted(conn: Any, command: Any, check_health: bool = True) -> None:
            self.count += 1
            await send(conn, command, check_health)

        monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)


async def test_a_request_costs_two_round_trips_lease_with_guard_state_and_release(
    two: tuple[SharedBackend, SharedBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = two
    guard = a.guard(PORTAL, ACCOUNT, threshold=5, cooldown=10)
    async with a.request_slot(PORTAL, ACCOUNT, 4, 30):  # connect first: not counted
        assert await guard.admit(max_wait=1) is False
    await asyncio.sleep(0.1)  # past the lease's linger and the guard state's freshness
    trips = _RoundTrips(monkeypatch)
    async with a.request_slot(PORTAL, ACCOUNT, 4, 30):
        assert await guard.admit(max_wait=1) is False  # the state came with the lease
    await asyncio.sleep(0.1)  # the lease lingers, then goes back
    # was 5: WATCH, ZCOUNT, MULTI..EXEC, HMGET, ZREM
    assert trips.count == 2
    with redis.Redis.from_url(a.url) as plain:
        assert plain.zcard(a.key("slots", PORTAL, ACCOUNT)) == 0  # given back


async def test_a_lease_is_kept_a_moment_for_the_next_request_of_the_process(
    two: tuple[SharedBackend, SharedBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = two
    guard = a.guard(PORTAL, ACCOUNT, threshold=5, cooldown=10)
    async with a.request_slot(PORTAL, ACCOUNT, 4, 30):
        assert await guard.admit(max_wait=1) is False
    trips = _RoundTrips(monkeypatch)
    for _ in range(3):  # one after the other, as a listing's requests go
        async with a.request_slot(PORTAL, ACCOUNT, 4, 30):
            assert await guard.admit(max_wait=1) is False
    assert trips.count == 0
    key = a.key("slots", PORTAL, ACCOUNT)
    with redis.Redis.from_url(a.url) as plain:
        assert plain.zcard(key) == 1  # held for the next request, counted by every worker
        await asyncio.sleep(_shared.LEASE_LINGER + 0.05)
        assert plain.zcard(key) == 0  # no next request came: given back


async def test_a_busy_process_gives_its_leases_back_to_the_other_workers(
    two: tuple[SharedBackend, SharedBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_shared, "LEASE_REUSE", 0.2)
    a, b = two
    busy = True

    async def requests(backend: SharedBackend) -> None:
        while busy:  # back to back: its lease would always be kept for its next one
            async with backend.request_slot(PORTAL, ACCOUNT, 1, 30):
                await asyncio.sleep(0.005)

    hog = asyncio.create_task(requests(a))
    await asyncio.sleep(0.05)
    try:
        async with asyncio.timeout(5):
            async with b.request_slot(PORTAL, ACCOUNT, 1, 30):
                pass
    finally:
        busy = False
        await hog


async def test_leases_given_back_in_one_turn_go_in_one_round_trip(
    two: tuple[SharedBackend, SharedBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = two
    key = a.key("slots", PORTAL, ACCOUNT)
    leases = [await a._lease(key, 10, ttl=_shared.LEASE_TTL) for _ in range(6)]
    trips = _RoundTrips(monkeypatch)
    for lease in leases:
        await a._release(key, lease)
    await asyncio.sleep(0.01)
    assert trips.count == 1
    with redis.Redis.from_url(a.url) as plain:
        assert plain.zcard(key) == 0


async def test_a_429_pause_recorded_here_is_not_hidden_by_the_state_read_with_a_lease(
    two: tuple[SharedBackend, SharedBackend],
) -> None:
    a, b = two
    first = a.guard(PORTAL, ACCOUNT, threshold=5, cooldown=10)
    other = a.guard(PORTAL, "skane", threshold=5, cooldown=10)
    async with a.request_slot(PORTAL, ACCOUNT, 4, 30):  # reads the (empty) guard state
        first.pause(30)  # this process's 429
        await _settle(first)  # type: ignore[arg-type]
    async with b.request_slot(PORTAL, ACCOUNT, 4, 30):  # another worker's lease
        with pytest.raises(RateLimitedError):
            await b.guard(PORTAL, ACCOUNT, threshold=5, cooldown=10).admit(max_wait=1)
    assert await other.admit(max_wait=1) is False


async def test_concurrency_holds_across_workers_taking_slots_at_once(
    redis_clean: str, key: str
) -> None:
    backends = [SharedBackend(redis_clean, key=key) for _ in range(3)]
    limit, holding, most = 3, 0, 0

    async def one(backend: SharedBackend) -> None:
        nonlocal holding, most
        async with backend.request_slot(PORTAL, ACCOUNT, limit, 30):
            holding += 1
            most = max(most, holding)
            await asyncio.sleep(0.01)
            holding -= 1

    await asyncio.wait_for(asyncio.gather(*(one(backends[n % 3]) for n in range(60))), 30)
    assert most == limit  # never more, and the slots are used
    await asyncio.sleep(_shared.LEASE_LINGER + 0.05)  # kept a moment for a next request
    with redis.Redis.from_url(redis_clean) as plain:
        assert plain.zcard(backends[0].key("slots", PORTAL, ACCOUNT)) == 0
    for backend in backends:
        await backend.aclose()


# -- Redis down -------------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_redis_unreachable_is_a_request_not_sent_with_a_clear_message(key: str) -> None:
    backend = SharedBackend(f"redis://127.0.0.1:{_closed_port()}/0", key=key)
    with pytest.raises(RequestNotSentError) as slot:
        async with backend.request_slot(PORTAL, ACCOUNT, 4, 30):
            pass
    assert "shared limits unreachable (Redis: ConnectionError); not sent" in str(slot.value)
    assert slot.value.__cause__ is None  # one line, no chained traceback
    assert slot.value.__suppress_context__
    guard = backend.guard(PORTAL, ACCOUNT, threshold=5, cooldown=10)
    with pytest.raises(RequestNotSentError, match="unreachable"):
        await guard.admit(max_wait=1)
    with pytest.raises(RequestNotSentError, match="unreachable"):
        await backend.wait_rate(PORTAL, ACCOUNT, 5)
    # an update of the breaker state that fails is logged and dropped
    with capture_logs() as logs:
        guard.failed(probe=False)
        await _settle(guard)  # type: ignore[arg-type]
    assert [e["event"] for e in logs] == ["shared_guard_update_failed"]


# -- credentials ------------------------------------------------------------------------------
async def test_credentials_round_trip_encrypted_at_rest(
    two: tuple[SharedBackend, SharedBackend], redis_clean: str
) -> None:
    a, b = two
    secrets = {"token": "s3cr3t-token-value", "key_id": "k1"}
    await a.credentials(PORTAL, ACCOUNT, secrets)
    assert await b.credentials.load(PORTAL, ACCOUNT) == secrets
    with redis.Redis.from_url(redis_clean) as plain:
        raw = plain.get(a.key("credentials", PORTAL, ACCOUNT))
    assert raw is not None
    assert b"s3cr3t" not in raw
    assert await b.credentials.load(PORTAL, "other") is None


async def test_credentials_under_another_key_are_ignored_and_logged_without_the_value(
    redis_clean: str, key: str
) -> None:
    writer = SharedBackend(redis_clean, key=key)
    await writer.credentials(PORTAL, ACCOUNT, {"token": "s3cr3t-token-value"})
    reader = SharedBackend(redis_clean, key=Fernet.generate_key().decode())
    with capture_logs() as logs:
        assert await reader.credentials.load(PORTAL, ACCOUNT) is None
    await writer.aclose()
    await reader.aclose()
    assert [e["event"] for e in logs] == ["shared_credentials_unreadable"]
    assert "s3cr3t" not in repr(logs)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "LISTSYNC_SHARED_KEY is not"),
        ("", "LISTSYNC_SHARED_KEY is not"),
        ("not-a-fernet-key", "LISTSYNC_SHARED_KEY is not a Fernet key"),
    ],
)
def test_a_missing_or_malformed_key_is_a_configuration_error(
    value: str | None, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(_shared.KEY_VAR, raising=False)
    with pytest.raises(ConfigurationError, match=message) as error:
        activate("redis://127.0.0.1:1/0", key=value)
    assert error.value.__cause__ is None
    assert _shared.active() is None


# -- Immowelt token ---------------------------------------------------------------------------
def _immowelt(
    sandbox: ImmoweltSandbox, store: RedisCredentialStore, clock: Any, client: str = "isar"
) -> ImmoweltAdapter:
    table = sandbox.client_settings("http://immowelt.test", client)
    config = parse_portal_config("immowelt", table, ImmoweltSettings, ImmoweltAccount)
    settings, account = config.settings, config.accounts["default"]
    assert isinstance(settings, ImmoweltSettings)
    assert isinstance(account, ImmoweltAccount)
    return ImmoweltAdapter(
        settings,
        account,
        account_name="isar",
        transport=sandbox.transport(),
        credential_store=store,
        clock=clock,
    )


class _Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_two_workers_share_one_immowelt_token(
    two: tuple[SharedBackend, SharedBackend],
) -> None:
    a, b = two
    clock = _Clock()
    sandbox = ImmoweltSandbox(clock=clock)
    first, other = (
        _immowelt(sandbox, a.credentials, clock),
        _immowelt(sandbox, b.credentials, clock),
    )
    try:
        calls = (m.tokens.access_token() for m in (first, other) for _ in range(5))
        tokens = await asyncio.wait_for(asyncio.gather(*calls), 30)
        assert sandbox.token_requests == 1  # one token request in all
        assert len(set(tokens)) == 1
        assert await first.fetch("DE-1", None) is None  # the token works for both
        assert await other.fetch("DE-1", None) is None
        assert sandbox.token_requests == 1
        # once it expires, one of them fetches a new one and the other takes it
        clock.now += 86_400
        renewed = await asyncio.wait_for(
            asyncio.gather(first.tokens.access_token(), other.tokens.access_token()), 30
        )
        assert sandbox.token_requests == 2
        assert renewed[0] == renewed[1] != tokens[0]
    finally:
        await first.aclose()
        await other.aclose()


async def test_a_token_stored_for_another_client_is_not_taken(
    two: tuple[SharedBackend, SharedBackend],
) -> None:
    a, b = two
    clock = _Clock()
    sandbox = ImmoweltSandbox(clock=clock)
    first = _immowelt(sandbox, a.credentials, clock, client="isar")
    other = _immowelt(sandbox, b.credentials, clock, client="spree")  # same account name
    try:
        one = await first.tokens.access_token()
        two_ = await other.tokens.access_token()
        assert one != two_
        assert sandbox.token_requests == 2
        assert await other.fetch("DE-1", None) is None  # its own token works
    finally:
        await first.aclose()
        await other.aclose()


async def test_immowelt_token_with_redis_down_is_not_sent(key: str) -> None:
    backend = SharedBackend(f"redis://127.0.0.1:{_closed_port()}/0", key=key)
    clock = _Clock()
    sandbox = ImmoweltSandbox(clock=clock)
    adapter = _immowelt(sandbox, backend.credentials, clock)
    try:
        with pytest.raises(RequestNotSentError, match="shared credential store unreachable"):
            await adapter.tokens.access_token()
        assert sandbox.token_requests == 0
    finally:
        await adapter.aclose()
