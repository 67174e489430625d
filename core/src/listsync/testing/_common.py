"""Checks every adapter must pass, read or write: identity, capabilities, pure preflight,
credentials, rate limits, server errors and secrets in logs.

Subclasses (`WriteAdapterConformance`, `ReadAdapterConformance`) provide `_exercise()` (one
representative piece of work against the sandbox) and `_idempotent_call()` (one retryable
request) so the shared checks run the same way for both kinds.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Coroutine
from typing import Any, ClassVar, TypeVar

import httpx
import stamina.instrumentation

from listsync.adapter import AccountSettings, AdapterSettings, Capability
from listsync.errors import (
    AuthenticationError,
    FieldIssue,
    RateLimitedError,
    TransientError,
)
from listsync.sandbox import FaultConfig, Sandbox
from listsync.testing._checks import capture_all_logs, find_secrets
from listsync.testing._driver import ConformanceError
from listsync.testing._faults import (
    WRITE_METHODS,
    RefusingTransport,
    ScriptedFaults,
    block_network,
)
from listsync.testing._fixtures import AdapterFixtures, ManualClock

__all__ = ["CommonConformance", "run"]

T = TypeVar("T")

WRITE_CAPABILITIES = frozenset(Capability) - {Capability.READ, Capability.SEARCH}
_WRITE_METHODS = ("project", "plan", "apply", "recover", "fetch")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one check's coroutine on a fresh event loop (independent of pytest-asyncio)."""
    return asyncio.run(coro)


class CommonConformance(AdapterFixtures):
    """Checks shared by read and write adapters (join through the subclasses)."""

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

    # -- identity and capabilities ---------------------------------------------------------
    def test_entry_point_name_matches_adapter_name(self) -> None:
        """The entry-point name, `Adapter.name` and the sandbox's name are the same string."""
        cls = self.load_adapter_class()
        name = getattr(cls, "name", None)
        where = f"{cls.__module__}.{cls.__qualname__}"
        if name != self.portal:
            raise ConformanceError(
                f"entry point {self.portal!r} loads {where} whose name is {name!r}: the "
                "entry-point name and Adapter.name must be the same string"
            )
        sandbox_name = getattr(self.load_sandbox_class(), "name", None)
        if sandbox_name != self.portal:
            raise ConformanceError(
                f"the sandbox registered as {self.portal!r} is named {sandbox_name!r}"
            )

    def test_declares_settings_models(self) -> None:
        """`settings_model` / `account_model` subclass the contract's settings classes."""
        cls = self.load_adapter_class()
        if not issubclass(getattr(cls, "settings_model", object), AdapterSettings):
            raise ConformanceError(
                f"{cls.__qualname__}.settings_model must subclass AdapterSettings"
            )
        if not issubclass(getattr(cls, "account_model", object), AccountSettings):
            raise ConformanceError(
                f"{cls.__qualname__}.account_model must subclass AccountSettings"
            )

    def test_capabilities_match_implementation(self) -> None:
        """Every declared capability is implemented and every implemented one declared."""
        cls = self.load_adapter_class()
        caps = getattr(cls, "capabilities", None)
        if not isinstance(caps, frozenset) or not all(isinstance(c, Capability) for c in caps):
            raise ConformanceError(
                f"{cls.__qualname__}.capabilities must be a frozenset of Capability, got {caps!r}"
            )
        problems = [*_write_problems(cls, caps), *_read_problems(cls, caps)]
        if problems:
            raise ConformanceError(f"{cls.__qualname__}: " + "; ".join(problems))

    # -- preflight ---------------------------------------------------------------------------
    def test_preflight_is_pure(self) -> None:
        """preflight() is synchronous, returns FieldIssues and does no I/O at all."""
        samples = self._sample_listings()
        if not samples:
            raise ConformanceError(f"{type(self).__name__} provides no sample listings")
        transport = RefusingTransport()
        adapter = self.make_adapter(self.make_sandbox(), transport=transport)
        try:
            with block_network() as sockets:
                results = [adapter.preflight(listing) for listing in samples]
        finally:
            run(adapter.aclose())
        for index, result in enumerate(results):
            if inspect.isawaitable(result):
                with contextlib.suppress(Exception):
                    run(_consume(result))
                raise ConformanceError("preflight() must be synchronous; it returned an awaitable")
            if not isinstance(result, list) or not all(isinstance(i, FieldIssue) for i in result):
                raise ConformanceError(
                    f"preflight() must return a list of FieldIssue, got {result!r} for sample "
                    f"#{index}"
                )
        if transport.attempts or sockets:
            raise ConformanceError(
                "preflight() must not do I/O, but it tried: "
                + "; ".join([*transport.attempts, *sockets])
            )

    # -- credentials ---------------------------------------------------------------------------
    def test_refused_credentials_raise_authentication_error(self) -> None:
        """Wrong credentials give an AuthenticationError naming the portal, without retries
        and without the credential in the message."""
        sandbox = self.make_sandbox()
        good = self.settings_table(sandbox)
        table = self.spoiled_table(sandbox)
        secrets = [*self.secret_values(good), *self.secret_values(table)]
        if not secrets:
            raise ConformanceError(
                f"{self.portal}: the account model declares no SecretStr credential "
                "(or the sandbox's client_settings() gives none)"
            )

        async def scenario() -> BaseException | None:
            async with self._adapter(sandbox, table=table) as adapter:
                try:
                    await self._exercise(adapter, sandbox)
                except Exception as exc:
                    return exc
            return None

        error = run(scenario())
        if not isinstance(error, AuthenticationError):
            raise ConformanceError(
                f"with refused credentials the adapter must raise AuthenticationError, got "
                f"{type(error).__name__ if error else 'success'}: {error}"
            )
        self._check_clear_error(error, secrets)
        refused = [r for r in sandbox.requests if r.status in (401, 403)]
        if len(refused) > 2:
            raise ConformanceError(
                f"refused credentials were sent {len(refused)} times; an adapter may refresh "
                "once, then it must raise AuthenticationError"
            )

    def test_unauthorized_response_refreshes_or_raises(self) -> None:
        """A 401 (in the portal's own format) leads to a credential refresh that succeeds, or
        to a clear AuthenticationError; never to another kind of error."""
        sandbox = self.make_sandbox()
        table = self.settings_table(sandbox)

        async def scenario() -> tuple[Any, BaseException | None]:
            transport = _Unauthorized(sandbox, sandbox.transport())
            async with self._adapter(sandbox, transport=transport, table=table) as adapter:
                state = await self._prepare(adapter, sandbox)
                transport.armed = 1
                try:
                    await self._idempotent_call(adapter, state)
                except Exception as exc:
                    return transport, exc
            return transport, None

        transport, error = run(scenario())
        if transport.armed:
            raise ConformanceError("the check's request never reached the sandbox")
        if error is None:
            return
        if not isinstance(error, AuthenticationError):
            raise ConformanceError(
                f"a 401 must lead to a credential refresh or AuthenticationError, got "
                f"{type(error).__name__}: {error}"
            )
        self._check_clear_error(error, self.secret_values(table))

    def test_expired_credentials_refresh_or_raise(self) -> None:
        """When the sandbox's clock passes every credential's lifetime, the adapter renews
        its credentials or raises a clear AuthenticationError."""
        clock = ManualClock()
        sandbox = self.make_sandbox(clock=clock)
        table = self.settings_table(sandbox)

        async def scenario() -> BaseException | None:
            async with self._adapter(sandbox, table=table) as adapter:
                state = await self._prepare(adapter, sandbox)
                clock.advance(self.credential_lifetime + 60)
                try:
                    await self._idempotent_call(adapter, state)
                except Exception as exc:
                    return exc
            return None

        error = run(scenario())
        if error is not None:
            if not isinstance(error, AuthenticationError):
                raise ConformanceError(
                    f"expired credentials must be renewed or reported as AuthenticationError, "
                    f"got {type(error).__name__}: {error}"
                )
            self._check_clear_error(error, self.secret_values(table))

    def _check_clear_error(self, error: BaseException, secrets: list[str]) -> None:
        text = str(error)
        if self.portal not in text:
            raise ConformanceError(f"the error message must name the portal: {text!r}")
        leaks = find_secrets([text, repr(error.args)], secrets)
        if leaks:
            raise ConformanceError(f"the error message contains a secret: {', '.join(leaks)}")

    # -- retries -------------------------------------------------------------------------------
    def _run_with_faults(
        self, faults: FaultConfig, count: int
    ) -> tuple[Sandbox, list[Any], BaseException | None, list[float]]:
        """Prepare, arm `count` faults for the idempotent call, run it; return the sandbox,
        the faulted log entries, the error (if any) and the waits stamina scheduled."""
        sandbox = self.make_sandbox()
        waits: list[float] = []

        def hook(details: stamina.instrumentation.RetryDetails) -> None:
            waits.append(details.wait_for)

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

        saved = stamina.instrumentation.get_on_retry_hooks()
        stamina.instrumentation.set_on_retry_hooks([hook])
        try:
            error = run(scenario())
        finally:
            stamina.instrumentation.set_on_retry_hooks(saved)
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

    # -- secrets -------------------------------------------------------------------------------
    def test_no_secret_in_logs(self) -> None:
        """Nothing logged while working (structlog or stdlib, any level) holds a credential,
        a Bearer token, a JWT or a request signature."""
        sandbox = self.make_sandbox()
        table = self.settings_table(sandbox)

        async def scenario() -> None:
            async with self._adapter(sandbox, table=table) as adapter:
                await self._exercise(adapter, sandbox)

        with capture_all_logs() as logs:
            run(scenario())
        secrets = self.secret_values(table)
        leaks = find_secrets(logs.texts(), secrets)
        leaks += find_secrets(logs.transport_records, secrets, patterns=False)
        if leaks:
            raise ConformanceError("secrets in log output: " + "; ".join(sorted(set(leaks))))


async def _consume(awaitable: Awaitable[Any]) -> None:
    await awaitable


def _write_problems(cls: type[Any], caps: frozenset[Capability]) -> list[str]:
    problems = []
    declared = sorted(c.value for c in caps & WRITE_CAPABILITIES)
    missing = [m for m in _WRITE_METHODS if not callable(getattr(cls, m, None))]
    if declared and missing:
        problems.append(f"declares {declared} but does not implement {missing}")
    if not declared and not missing:
        problems.append(
            "implements the write methods but declares no write capability (create, update, ...)"
        )
    if declared and Capability.CREATE not in caps:
        problems.append("a write adapter must declare Capability.CREATE")
    return problems


def _read_problems(cls: type[Any], caps: frozenset[Capability]) -> list[str]:
    problems = []
    has_search = callable(getattr(cls, "search", None))
    has_read = callable(getattr(cls, "get", None)) or callable(getattr(cls, "fetch", None))
    if Capability.SEARCH in caps and not has_search:
        problems.append("declares Capability.SEARCH but has no search() method")
    if has_search and Capability.SEARCH not in caps:
        problems.append("implements search() but does not declare Capability.SEARCH")
    if Capability.READ in caps and not has_read:
        problems.append("declares Capability.READ but has neither get() nor fetch()")
    if callable(getattr(cls, "get", None)) and Capability.READ not in caps:
        problems.append("implements get() but does not declare Capability.READ")
    return problems


class _Unauthorized(httpx.AsyncBaseTransport):
    """Answers the next `armed` requests with the sandbox's own 401, passes the rest through."""

    def __init__(self, sandbox: Sandbox, inner: httpx.AsyncBaseTransport) -> None:
        self.sandbox = sandbox
        self.inner = inner
        self.armed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.armed:
            return await self.inner.handle_async_request(request)
        self.armed -= 1
        app = self.sandbox.fault_response(401, {})
        return await httpx.ASGITransport(app=app).handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
