"""Per (portal, account): a circuit breaker for outages and the pause a 429 asks for.

Every `PortalHttp` of one portal account in one event loop shares one `AccountGuard` (an adapter
may hold several clients, e.g. Hemnet's keys API and its listings API), so:

- **Circuit breaker.** After `threshold` consecutive failures that say the portal is down
  (a connection that could not be made or broke, a timeout, a 5xx answer), the breaker opens:
  requests of that account fail at once with `PortalUnavailableError`, before anything is sent.
  After `cooldown` seconds one request is let through as a probe (half-open) while the others
  wait for its outcome: its success closes the breaker (and they go on), its failure opens it
  again for another `cooldown` (and they fail). Any answer below 500 counts as
  a success (the portal is up, even if it refused).
- **429 pause.** A 429 with `Retry-After` pauses every new request of the account until the
  window has passed (requests already sent finish). A request that would have to wait longer
  than the account's `max_retry_wait` fails at once as `RateLimitedError` (not sent).

Guards live as long as their event loop: a new loop (a new run, a test) starts with closed
breakers and no pause. Across processes, `use_guards` plugs in a factory of guards that share
their state (`listsync._shared`, Redis).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable

from listsync.errors import PortalUnavailableError, RateLimitedError
from listsync.retry import pause

__all__ = ["AccountGuard", "guard_for", "use_guards"]

GuardFactory = Callable[..., "AccountGuard"]
_FACTORY: GuardFactory | None = None

_GUARDS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], AccountGuard]]
_GUARDS = weakref.WeakKeyDictionary()


class AccountGuard:
    """The breaker and pause of one portal account (see the module docstring)."""

    def __init__(
        self, portal: str, account: str, *, threshold: int = 5, cooldown: float = 10.0
    ) -> None:
        self.portal = portal
        self.account = account
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
        self.failures = 0
        self.opened_at: float | None = None
        self.paused_until = 0.0
        self._probing = False
        self._probe_done = asyncio.Event()

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    async def admit(self, *, max_wait: float) -> bool:
        """Wait out a 429 pause, then let the request through; True when it is the probe of a
        half-open breaker (report its outcome with `succeeded`/`failed` as for any request).

        Raises:
            PortalUnavailableError: the breaker is open (or another probe is under way).
            RateLimitedError: the pause lasts longer than `max_wait`.
        """
        remaining = self.paused_until - time.monotonic()
        if remaining > 0:
            if remaining > max_wait:
                raise RateLimitedError(
                    f"paused by the portal for another {remaining:.0f} s",
                    portal=self.portal,
                    account=self.account,
                    retry_after=remaining,
                )
            await pause(remaining)  # ends early with RunStopped when the run stops
        while self.opened_at is not None:
            if self._probing:  # the probe's outcome decides for this request too
                await self._probe_done.wait()
                continue
            waited = time.monotonic() - self.opened_at
            if waited < self.cooldown:
                raise PortalUnavailableError(
                    f"portal unavailable ({self.failures} failures in a row); not sent, "
                    f"next try in {max(0.0, self.cooldown - waited):.0f} s",
                    portal=self.portal,
                    account=self.account,
                )
            self._probing = True
            self._probe_done = asyncio.Event()
            return True
        return False

    def probe_due_in(self) -> float | None:
        """Seconds until the open breaker lets its probe through (0: now); None when it is
        closed."""
        if self.opened_at is None:
            return None
        return max(0.0, self.cooldown - (time.monotonic() - self.opened_at))

    def succeeded(self, *, probe: bool) -> None:
        """The portal answered (below 500)."""
        self.failures = 0
        self.opened_at = None
        if probe:
            self._end_probe()

    def failed(self, *, probe: bool) -> None:
        """The portal looks down: no connection, a broken one, a timeout or a 5xx. (A request
        reports either `failed` or `released`, never both; `released` after `failed` is
        harmless.)"""
        self.failures += 1
        if probe:
            self.opened_at = time.monotonic()
            self._end_probe()
        elif self.opened_at is None and self.failures >= self.threshold:
            self.opened_at = time.monotonic()

    def released(self, *, probe: bool) -> None:
        """The request ended without telling either way (cancelled, refused locally)."""
        if probe:
            self._end_probe()

    def _end_probe(self) -> None:
        self._probing = False
        self._probe_done.set()

    def pause(self, seconds: float) -> None:
        """Hold new requests for `seconds` (a 429's Retry-After)."""
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)


def use_guards(factory: GuardFactory | None) -> None:
    """Make new guards with `factory(portal, account, threshold=, cooldown=)` (None: the
    in-process `AccountGuard`); guards already made are dropped."""
    global _FACTORY  # noqa: PLW0603
    _FACTORY = factory
    _GUARDS.clear()


def guard_for(portal: str, account: str, *, threshold: int, cooldown: float) -> AccountGuard:
    """The guard of (portal, account) in the running event loop, created on first use."""
    make = _FACTORY or AccountGuard
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # built outside a loop (a client made before the run): its own
        return make(portal, account, threshold=threshold, cooldown=cooldown)
    guards = _GUARDS.setdefault(loop, {})
    guard = guards.get((portal, account))
    if guard is None:
        guard = guards[(portal, account)] = make(
            portal, account, threshold=threshold, cooldown=cooldown
        )
    return guard
