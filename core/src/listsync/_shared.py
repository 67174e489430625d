"""What every worker of one deployment shares through Redis: per-account limits, the 429 pause
and circuit-breaker state, and the credentials adapters renew (`pip install listsync[celery]`).

    [shared]
    redis_url = "redis://127.0.0.1:6379/0"      # unset: everything stays in the process

    LISTSYNC_SHARED_KEY=<a Fernet key>          # encrypts the credentials stored in Redis

`activate(url)` makes this process use Redis for, per (portal, account):

- **request rate**: the `limits` library's moving-window limiter on its async Redis storage
  (redis-py). A moving window counts the requests of the last second wherever the second
  starts, so no window of one second ever holds more than the account's
  `requests_per_second`, across every worker; a fixed window would let twice that through
  around the boundary between two windows (the end of one and the start of the next).
  A rate below 1/s is one request per `round(1 / rate)` seconds; a fraction above 1 is rounded.
  Before the window, requests take turns `1.1 / rate` seconds apart across workers (the next
  free turn in one Redis key, taken in a WATCH/MULTI transaction): a window alone lets a
  whole second's worth go at once when the previous second's expire together, and a few ms
  between a worker's asking and its request reaching the portal then put two such bursts
  in one second of arrivals (13 requests at a rate of 8, measured); spaced turns keep the
  arrivals spread, so such delays move single requests, not bursts.
  A request that gets the CPU back well after its turn (its worker's event loop was held
  up) takes a fresh turn, once, instead of going with the others whose turns passed.
- **concurrency**: at most `max_concurrency` requests of the account in flight across workers,
  as leases in a sorted set (member = lease, score = when it expires). A lease is taken in one
  round trip: a MULTI transaction drops the expired leases, adds this one and counts them (a
  lease that finds itself over the limit takes itself back out and tries again shortly), so
  workers taking slots at once never make each other retry as WATCH would. A lease a request
  is done with is kept `LEASE_LINGER` seconds for the process's next request on the account
  (no round trip), within `LEASE_REUSE` seconds of being taken, so a busy process still gives
  its slots back to the other workers that often; the leases it gives back in one turn of its
  event loop go in one pipeline. A lease lives
  `LEASE_TTL` seconds and each process renews the leases it holds every `LEASE_RENEW` seconds
  (one pipeline for all of them), so a lease outlives a long wait for the rate window, and a
  worker that died (SIGKILL, a lost machine) gives its slots back within `LEASE_TTL` seconds
  by itself.
- **breaker and 429 pause** (`SharedAccountGuard`): the failures in a row, when the breaker
  opened and until when a 429 pauses the account live in one Redis hash with a TTL; each
  request reads it before it is sent (in the transaction that takes its concurrency lease,
  or as another request of the process read it less than `GUARD_FRESH` seconds before: no
  round trip of its own) and updates it after its answer. The half-open probe after the
  cooldown is one request across all workers (`SET NX`); the other workers wait for its
  outcome.
- **credentials** (`RedisCredentialStore`): the adapters' `credential_store`: Hemnet's rotated
  keys and Immowelt's tokens, Fernet-encrypted with the key in `LISTSYNC_SHARED_KEY`, with a
  redis-py lock per account so one worker at a time checks or rotates a key (the others wait,
  then read the key it stored).

When Redis cannot be reached, a request that needs it is not sent: `RequestNotSentError`,
retried under the account's retry policy, then the listing is `unavailable` (recorded; the
next run sends it). Updates of the breaker state that fail are logged and dropped.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

from listsync import _guard
from listsync.errors import ConfigurationError, PortalUnavailableError, RequestNotSentError
from listsync.log import get_logger
from listsync.retry import pause

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from cryptography.fernet import Fernet
    from limits.aio.strategies import MovingWindowRateLimiter

__all__ = [
    "KEY_VAR",
    "RedisCredentialStore",
    "SharedAccountGuard",
    "SharedBackend",
    "activate",
    "active",
    "deactivate",
    "gate",
    "pace",
]

log = get_logger(__name__)

KEY_VAR = "LISTSYNC_SHARED_KEY"
"""The environment variable holding the Fernet key that encrypts shared credentials."""

_PREFIX = "listsync"

TURN_MARGIN = 1.1
"""Turns are `TURN_MARGIN / rate` seconds apart, a tenth below the rate: a request that reaches
the portal up to 0.1 s after its turn (a busy event loop, a loaded machine) does not put one
more than the rate in a second of arrivals, and the moving window (the hard cap) rarely has to
refuse a request whose turn came."""
LATE_TURN = 0.5
"""A request that gets the CPU back more than this many turns' spacing after its turn takes
a fresh one instead of going at once with the requests whose turns passed meanwhile."""
LEASE_TTL = 15.0
"""Seconds a concurrency lease lives unless its process renews it."""
LEASE_RENEW = 5.0
"""Seconds between two renewals of the leases a process holds."""
LEASE_LINGER = 0.02
"""Seconds a process keeps a lease its request is done with, for its next request on the same
account (which then takes no round trip): requests of the listings in flight follow each
other a few ms apart."""
LEASE_REUSE = 1.0
"""Seconds after a lease was taken from Redis during which it may be kept for the next
request: a busy process gives each lease back at least this often, so the other workers get
their turn at a full account."""
LEASE_YIELD = 0.06
"""Seconds a process waits before it takes a new lease of an account after giving one back
because it was older than `LEASE_REUSE`: longer than the longest pause between another
worker's tries (0.05 s), so a worker waiting at a full account gets the slot instead of the
busy process taking it back within a millisecond, every time."""
GUARD_FRESH = 0.05
"""Seconds the guard state read with a request's concurrency lease stands for a fresh read
(the request checks the breaker and the 429 pause right after taking its lease)."""
GUARD_FIELDS = ("pause_until", "opened_at", "failures")


class _NoGate:
    """The gate when nothing is shared: costs one method call each way."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


_NO_GATE = _NoGate()
_BACKEND: SharedBackend | None = None


def active() -> SharedBackend | None:
    """The shared backend of this process, if `activate` was called."""
    return _BACKEND


def gate(
    portal: str, account: str, rate: float | None, limit: int, timeout: float
) -> AbstractAsyncContextManager[None]:
    """Hold one of the account's shared concurrency slots for the block (one request); nothing
    when no backend is active. The shared rate is waited for by `pace`, inside the block, as
    late as possible before the request is sent."""
    del rate  # see `pace`
    backend = _BACKEND
    if backend is None:
        return _NO_GATE
    return backend.request_slot(portal, account, limit, timeout)


async def pace(portal: str, account: str, rate: float | None) -> None:
    """Wait until the account's shared moving window has room for one request, and count it
    (nothing when no backend is active or there is no rate).

    Called right before the request is sent: the window counts the moment a worker asks, and
    whatever runs between that moment and the send (a Redis round trip for the breaker state,
    other tasks of a busy event loop) lets the portal see requests later, and so closer
    together, than they were counted."""
    backend = _BACKEND
    if backend is not None and rate is not None and rate > 0:
        await backend.wait_rate(portal, account, rate)


def activate(url: str, *, key: str | None = None) -> SharedBackend:
    """Share limits, breaker state and credentials through the Redis at `url` from now on
    (idempotent for the same URL).

    Raises:
        ConfigurationError: redis/limits/cryptography are not installed, or the Fernet key
            (`key`, else `LISTSYNC_SHARED_KEY`) is missing or malformed.
    """
    global _BACKEND  # noqa: PLW0603  (one backend per process, like the event-loop guards)
    if _BACKEND is not None and _BACKEND.url == url:
        return _BACKEND
    backend = SharedBackend(url, key=key if key is not None else os.environ.get(KEY_VAR))
    _BACKEND = backend
    _guard.use_guards(backend.guard)
    return backend


def deactivate() -> None:
    """Back to in-process limits and guards (tests)."""
    global _BACKEND  # noqa: PLW0603
    _BACKEND = None
    _guard.use_guards(None)


def _fernet(key: str | None) -> Fernet:
    try:
        from cryptography.fernet import Fernet  # noqa: PLC0415  (optional dependency)
    except ImportError:  # pragma: no cover - cryptography comes with authlib
        message = "[shared] needs cryptography: pip install listsync[celery]"
        raise ConfigurationError(message) from None
    if not key:
        raise ConfigurationError(
            f"[shared] redis_url is set but {KEY_VAR} is not: set it to a Fernet key (make one "
            "with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'); it encrypts the credentials kept in Redis",
            key=KEY_VAR,
        )
    try:
        return Fernet(key.encode())
    except ValueError:
        raise ConfigurationError(
            f"{KEY_VAR} is not a Fernet key (32 url-safe base64-encoded bytes)", key=KEY_VAR
        ) from None


def rate_item(rate: float) -> tuple[int, int]:
    """(requests, seconds) of the moving window for `rate` requests per second."""
    if rate >= 1:
        return max(1, round(rate)), 1
    return 1, max(1, round(1 / rate))


class SharedBackend:
    """The Redis connections of one process, one client per event loop (redis-py's asyncio
    connections belong to the loop that made them)."""

    def __init__(self, url: str, *, key: str | None) -> None:
        try:
            import limits  # noqa: F401, PLC0415  (optional dependencies)
            import redis.asyncio  # noqa: F401, PLC0415
        except ImportError:
            raise ConfigurationError(
                "[shared] redis_url needs the celery extra: pip install listsync[celery]",
                key="shared.redis_url",
            ) from None
        self.url = url
        self.fernet = _fernet(key)
        self.credentials = RedisCredentialStore(self)
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )

    def key(self, kind: str, portal: str, account: str) -> str:
        """A Redis key of (portal, account); portal names hold no `:`."""
        return f"{_PREFIX}:{kind}:{portal}:{account}"

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            import redis.asyncio as aioredis  # noqa: PLC0415
            from limits.aio.storage import RedisStorage  # noqa: PLC0415
            from limits.aio.strategies import MovingWindowRateLimiter  # noqa: PLC0415

            client = aioredis.Redis.from_url(self.url, health_check_interval=30)
            storage = RedisStorage(  # on the client's connections: one pool to close
                "async+" + self.url,
                implementation="redispy",
                key_prefix=f"{_PREFIX}:rate",
                connection_pool=client.connection_pool,  # type: ignore[arg-type]  # popped by limits
            )
            state = self._loops[loop] = _LoopState(client, MovingWindowRateLimiter(storage))
        return state

    def client(self) -> aioredis.Redis:
        """The redis-py asyncio client of the running event loop."""
        return self._state().client

    async def aclose(self) -> None:
        """Close the running event loop's connections (and stop renewing its leases)."""
        state = self._loops.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.aclose()

    # -- limits --------------------------------------------------------------------------------
    @asynccontextmanager
    async def request_slot(
        self, portal: str, account: str, limit: int, timeout: float
    ) -> AsyncIterator[None]:
        """One of the concurrency slots of (portal, account), for one request."""
        del timeout  # a lease lives LEASE_TTL seconds and is renewed while held
        key = self.key("slots", portal, account)
        state = self._state()
        lease = state.reuse(key)  # one this process gave back a moment ago
        if lease is None:
            lease = await self._lease(key, max(1, limit), ttl=LEASE_TTL)
        try:
            yield
        finally:
            state.give_back(key, lease)

    async def wait_rate(self, portal: str, account: str, rate: float) -> None:
        """Wait for this request's turn in the account's shared spacing (`_turn`), then until
        the shared moving window of (portal, account) has room for it."""
        from limits import RateLimitItemPerSecond  # noqa: PLC0415

        amount, seconds = rate_item(rate)
        item = RateLimitItemPerSecond(amount, seconds)
        limiter = self._state().limiter
        late_allowed = LATE_TURN * TURN_MARGIN * seconds / amount
        retaken = False
        while True:
            turn = await self._turn(portal, account, amount / seconds)
            if turn > time.time():
                await pause(turn - time.time())
            if not retaken and time.time() - turn > late_allowed:
                # This process was held up past the turn (a blocking call, no CPU): the
                # requests whose turns passed meanwhile would all go now, in a burst next to
                # the other workers' on-time ones. A fresh turn, once (a loop that is always
                # late still sends).
                retaken = True
                continue
            try:
                if await limiter.hit(item, portal, account):
                    return
            except Exception as exc:
                raise _unreachable(portal, account, exc) from None
            # the window is full (a worker whose clock runs ahead, a request on another
            # path): wait for a later turn

    async def _turn(self, portal: str, account: str, rate: float) -> float:
        """When this request may go: `TURN_MARGIN / rate` seconds after the account's previous
        turn, whichever worker took it, or now if that is past (a Redis key holds the next
        free turn, updated in a WATCH/MULTI transaction)."""
        from redis.exceptions import WatchError  # noqa: PLC0415

        key = self.key("pace", portal, account)
        spacing = TURN_MARGIN / rate
        client = self.client()
        while True:
            try:
                async with client.pipeline(transaction=True) as pipe:
                    await pipe.watch(key)
                    now = time.time()
                    free = await pipe.get(key)
                    turn = max(now, float(free) if free is not None else 0.0)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(
                        key, turn + spacing, px=math.ceil((turn - now + spacing) * 1000) + 1000
                    )
                    await pipe.execute()
                    return turn
            except WatchError:
                continue  # another worker took a turn meanwhile: look again
            except Exception as exc:
                raise _unreachable(portal, account, exc) from None

    async def _lease(self, key: str, limit: int, *, ttl: float) -> str:
        """Take one of `limit` slots of the sorted set `key` (a lease living `ttl` seconds).

        One round trip per try: a MULTI transaction drops the expired leases, adds this one
        and counts the set (and reads the account's guard state, which the request reads next:
        `SharedAccountGuard` takes it from here instead of asking again). A lease that finds
        the set over `limit` with itself counted takes itself back out and tries again a
        little later. The count includes every lease added before this one, so the holders
        that found room never exceed `limit` (a try that failed only makes a later one more
        cautious until it is taken back out); no WATCH, so workers taking slots at once
        never make each other retry."""
        portal, account = key.split(":", 3)[2:]
        lease = uuid.uuid4().hex
        state = self._state()
        guard_key = self.key("guard", portal, account)
        until = state.yield_until.get(key)
        if until is not None:
            wait = until - time.monotonic()
            if wait > 0:
                await pause(wait)
            else:
                state.yield_until.pop(key, None)
        delay = 0.002
        while True:
            now = time.time()
            try:
                async with state.client.pipeline(transaction=True) as pipe:
                    pipe.zremrangebyscore(key, "-inf", now)
                    pipe.zadd(key, {lease: now + ttl})
                    pipe.zcard(key)
                    pipe.pexpire(key, math.ceil(ttl * 1000) + 1000)
                    pipe.hmget(guard_key, list(GUARD_FIELDS))
                    _, _, held, _, guard = await pipe.execute()
                if int(held) <= limit:
                    state.hold(key, lease, taken=True)
                    state.saw_guard(guard_key, guard)
                    return lease
                await state.client.zrem(key, lease)
            except Exception as exc:
                raise _unreachable(portal, account, exc) from None
            await pause(delay)
            delay = min(delay * 2, 0.05)

    async def _release(self, key: str, lease: str) -> None:
        """Give the lease back: at the end of this event-loop turn, in one pipeline with the
        other leases this loop gives back in the same turn."""
        self._state().release(key, lease)

    # -- guards --------------------------------------------------------------------------------
    def guard(
        self, portal: str, account: str, *, threshold: int, cooldown: float
    ) -> _guard.AccountGuard:
        """The factory `_guard.guard_for` uses while this backend is active."""
        return SharedAccountGuard(self, portal, account, threshold=threshold, cooldown=cooldown)


class _LoopState:
    """One event loop's Redis client, rate limiter and the concurrency leases it holds (with
    the task that renews them while there are any)."""

    def __init__(self, client: aioredis.Redis, limiter: MovingWindowRateLimiter) -> None:
        self.client = client
        self.limiter = limiter
        self.held: dict[str, set[str]] = {}
        self._renewer: asyncio.Task[None] | None = None
        self._releasing: dict[str, set[str]] = {}
        self._flush: asyncio.Task[None] | None = None
        self._guards: dict[str, tuple[float, list[Any]]] = {}
        self._taken: dict[str, float] = {}  # lease -> when it was taken from Redis
        self._spare: dict[str, dict[str, asyncio.TimerHandle]] = {}  # key -> lease -> linger
        self.yield_until: dict[str, float] = {}  # key -> no new lease before (monotonic)

    def hold(self, key: str, lease: str, *, taken: bool = False) -> None:
        self.held.setdefault(key, set()).add(lease)
        if taken:
            self._taken[lease] = time.monotonic()
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew())

    def drop(self, key: str, lease: str) -> None:
        leases = self.held.get(key)
        if leases is not None:
            leases.discard(lease)
            if not leases:
                del self.held[key]

    def saw_guard(self, key: str, values: list[Any]) -> None:
        """The guard hash `key` as a lease transaction read it just now."""
        self._guards[key] = (time.monotonic(), values)

    def fresh_guard(self, key: str) -> list[Any] | None:
        """The guard hash `key` if it was read less than `GUARD_FRESH` seconds ago (with a
        lease or by a request of this process)."""
        seen = self._guards.get(key)
        if seen is None or time.monotonic() - seen[0] > GUARD_FRESH:
            return None
        return seen[1]

    def forget_guard(self, key: str) -> None:
        """This process changes the guard hash `key`: read it afresh next time."""
        self._guards.pop(key, None)

    def reuse(self, key: str) -> str | None:
        """A lease of `key` this process gave back less than `LEASE_LINGER` seconds ago, for
        another of its requests (no round trip), or None."""
        spare = self._spare.get(key)
        if not spare:
            return None
        lease, linger = spare.popitem()
        linger.cancel()
        return lease

    def give_back(self, key: str, lease: str) -> None:
        """A request is done with `lease`: kept `LEASE_LINGER` seconds for this process's next
        request on the account if it was taken from Redis less than `LEASE_REUSE` seconds
        ago, else released (so a busy process gives its slots back to the other workers at
        least every `LEASE_REUSE` seconds)."""
        taken = self._taken.get(lease)
        if taken is None or time.monotonic() - taken > LEASE_REUSE:
            if taken is not None:  # the other workers' turn at this account first
                self.yield_until[key] = time.monotonic() + LEASE_YIELD
            self.release(key, lease)
            return
        linger = asyncio.get_running_loop().call_later(LEASE_LINGER, self._unspare, key, lease)
        self._spare.setdefault(key, {})[lease] = linger

    def _unspare(self, key: str, lease: str) -> None:
        spare = self._spare.get(key)
        if spare is not None and spare.pop(lease, None) is not None:
            if not spare:
                del self._spare[key]
            self.release(key, lease)

    def release(self, key: str, lease: str) -> None:
        """Stop renewing `lease` and remove it from `key` soon (`_release_all`)."""
        self._taken.pop(lease, None)
        self.drop(key, lease)
        self._releasing.setdefault(key, set()).add(lease)
        if self._flush is None or self._flush.done():
            self._flush = asyncio.get_running_loop().create_task(self._release_all())

    async def _release_all(self) -> None:
        """Remove every lease given back since the last time, one pipeline for all (the
        task runs once the requests that ended in this event-loop turn gave theirs back)."""
        while self._releasing:  # leases given back while a pipeline was out: one more
            releasing, self._releasing = self._releasing, {}
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for key, leases in releasing.items():
                        pipe.zrem(key, *leases)
                    await pipe.execute()
            except Exception as exc:  # the leases expire by themselves within LEASE_TTL
                log.warning("shared_release_failed", error=type(exc).__name__)

    async def aclose(self) -> None:
        for key, spare in list(self._spare.items()):  # give the spare leases back now
            for lease, linger in list(spare.items()):
                linger.cancel()
                self.release(key, lease)
        self._spare.clear()
        self.held.clear()
        if self._renewer is not None:
            self._renewer.cancel()
        if self._flush is not None and not self._flush.done():
            await asyncio.wait([self._flush], timeout=5)
        await self.client.aclose(close_connection_pool=True)

    async def _renew(self) -> None:
        """Push the expiry of every lease held forward, every LEASE_RENEW seconds, until none
        is held (`ZADD XX`: a lease released or expired meanwhile is not brought back)."""
        while self.held:
            await asyncio.sleep(LEASE_RENEW)
            if not self.held:
                return
            until = time.time() + LEASE_TTL
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for key, leases in list(self.held.items()):
                        pipe.zadd(key, dict.fromkeys(leases, until), xx=True)
                        pipe.pexpire(key, math.ceil(LEASE_TTL * 1000) + 1000)
                    await pipe.execute()
            except Exception as exc:
                log.warning("shared_lease_renew_failed", error=type(exc).__name__)


def _unreachable(portal: str, account: str, exc: BaseException) -> RequestNotSentError:
    return RequestNotSentError(
        f"shared limits unreachable (Redis: {type(exc).__name__}); not sent",
        portal=portal,
        account=account,
    )


class SharedAccountGuard(_guard.AccountGuard):
    """`AccountGuard` whose failures, open breaker, probe and 429 pause are shared by every
    worker through one Redis hash (see the module docstring)."""

    def __init__(
        self,
        backend: SharedBackend,
        portal: str,
        account: str,
        *,
        threshold: int = 5,
        cooldown: float = 10.0,
    ) -> None:
        super().__init__(portal, account, threshold=threshold, cooldown=cooldown)
        self._backend = backend
        self._key = backend.key("guard", portal, account)
        self._probe_key = backend.key("probe", portal, account)
        self._shared_failures = 0
        self._shared_open = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._ttl = max(60, math.ceil(cooldown * 4))

    async def _sync(self) -> None:
        """Read the shared state into this process's breaker and pause."""
        state = self._backend._state()
        values = state.fresh_guard(self._key)  # read with a lease, or by a request just now
        if values is None:
            try:
                values = await state.client.hmget(self._key, list(GUARD_FIELDS))
            except Exception as exc:
                raise _unreachable(self.portal, self.account, exc) from None
            state.saw_guard(self._key, values)
        pause_until, opened, failures = values
        offset = time.monotonic() - time.time()  # epoch -> this process's monotonic clock
        if pause_until is not None:
            self.paused_until = max(self.paused_until, float(pause_until) + offset)
        self._shared_failures = int(failures or 0)
        self._shared_open = opened is not None
        if opened is not None:
            self.opened_at = float(opened) + offset
            self.failures = max(self.failures, self._shared_failures)
        elif self.opened_at is not None and not self._probing:
            self.opened_at = None  # another worker's probe closed it
            self.failures = 0

    async def admit(self, *, max_wait: float) -> bool:
        while True:
            await self._sync()
            remaining = self.paused_until - time.monotonic()
            if remaining > 0:
                if remaining > max_wait:
                    return await super().admit(max_wait=max_wait)  # raises RateLimitedError
                await pause(remaining)
                continue
            if self.opened_at is None:
                return False
            if self._probing:
                await self._probe_done.wait()
                continue
            waited = time.monotonic() - self.opened_at
            if waited < self.cooldown:
                raise PortalUnavailableError(
                    f"portal unavailable ({self.failures} failures in a row, all workers); "
                    f"not sent, next try in {max(0.0, self.cooldown - waited):.0f} s",
                    portal=self.portal,
                    account=self.account,
                )
            client = self._backend.client()
            try:
                won = await client.set(
                    self._probe_key, "1", nx=True, px=math.ceil(self.cooldown * 1000) + 30_000
                )
            except Exception as exc:
                raise _unreachable(self.portal, self.account, exc) from None
            if won:
                self._probing = True
                self._probe_done = asyncio.Event()
                return True
            await pause(0.05)  # another worker probes: its outcome decides

    def succeeded(self, *, probe: bool) -> None:
        shared = probe or self._shared_failures > 0 or self._shared_open
        super().succeeded(probe=probe)
        if shared:
            self._shared_failures = 0
            self._shared_open = False
            self._later(self._push_success(probe))

    def failed(self, *, probe: bool) -> None:
        super().failed(probe=probe)
        self._later(self._push_failure(probe))

    def released(self, *, probe: bool) -> None:
        super().released(probe=probe)
        if probe:
            self._later(self._end_shared_probe())

    def pause(self, seconds: float) -> None:
        super().pause(seconds)
        self._later(self._push_pause(time.time() + seconds))

    def _later(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a state update without holding the request up (errors are logged)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - guards are used inside a loop
            coro.close()
            return
        self._backend._state().forget_guard(self._key)
        task = loop.create_task(self._logged(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _logged(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except Exception as exc:
            log.warning(
                "shared_guard_update_failed",
                portal=self.portal,
                account=self.account,
                error=type(exc).__name__,
            )

    async def _push_success(self, probe: bool) -> None:
        async with self._backend.client().pipeline(transaction=True) as pipe:
            pipe.hset(self._key, "failures", 0)
            pipe.hdel(self._key, "opened_at")
            if probe:
                pipe.delete(self._probe_key)
            await pipe.execute()

    async def _push_failure(self, probe: bool) -> None:
        client = self._backend.client()
        async with client.pipeline(transaction=True) as pipe:
            pipe.hincrby(self._key, "failures", 1)
            pipe.expire(self._key, self._ttl)
            failures = (await pipe.execute())[0]
        if probe:
            async with client.pipeline(transaction=True) as pipe:
                pipe.hset(self._key, "opened_at", time.time())
                pipe.delete(self._probe_key)
                await pipe.execute()
        elif int(failures) >= self.threshold:
            await client.hsetnx(self._key, "opened_at", time.time())

    async def _end_shared_probe(self) -> None:
        await self._backend.client().delete(self._probe_key)

    async def _push_pause(self, until: float) -> None:
        client = self._backend.client()
        current = await client.hget(self._key, "pause_until")
        if current is None or float(current) < until:
            async with client.pipeline(transaction=True) as pipe:
                pipe.hset(self._key, "pause_until", until)
                pipe.expire(self._key, max(self._ttl, math.ceil(until - time.time()) + 60))
                await pipe.execute()


class RedisCredentialStore:
    """A `CredentialStore` in Redis (`await store(portal, account, secrets)`), values
    Fernet-encrypted, plus what workers need to share them: `load` (the last secrets stored
    for the account) and `lock` (one worker at a time renews the account's credential)."""

    lock_timeout = 120.0
    """Seconds a lock is held at most (a holder that died releases it by expiring)."""

    def __init__(self, backend: SharedBackend) -> None:
        self._backend = backend

    async def __call__(self, portal: str, account: str, secrets: Mapping[str, str]) -> None:
        token = self._backend.fernet.encrypt(json.dumps(dict(secrets)).encode())
        await self._backend.client().set(self._backend.key("credentials", portal, account), token)

    async def load(self, portal: str, account: str) -> dict[str, str] | None:
        """The secrets last stored for (portal, account); None when there are none or they
        cannot be decrypted with this key (logged without the value)."""
        from cryptography.fernet import InvalidToken  # noqa: PLC0415

        raw = await self._backend.client().get(self._backend.key("credentials", portal, account))
        if raw is None:
            return None
        try:
            value = json.loads(self._backend.fernet.decrypt(raw))
        except (InvalidToken, ValueError):
            log.warning("shared_credentials_unreadable", portal=portal, account=account)
            return None
        if not isinstance(value, dict):
            return None
        return {str(k): str(v) for k, v in value.items()}

    def lock(self, portal: str, account: str) -> AbstractAsyncContextManager[Any]:
        """A redis-py lock of (portal, account), waited for up to `lock_timeout` seconds."""
        return self._backend.client().lock(
            self._backend.key("credentials-lock", portal, account),
            timeout=self.lock_timeout,
            blocking_timeout=self.lock_timeout,
        )
