"""The one place an `httpx.AsyncClient` is built, and the one place requests are retried.

`PortalHttp` wraps one client per (portal, account):

- transport: httpx's request/response types over aiohttp (`listsync._aiohttp`) by default.
  httpx's own connection pool spent 2.8 ms CPU per request at 32 workers on this kind of
  machine against 0.47 ms through aiohttp (benchmarks/README.md); tests pass an
  in-process transport. `PortalHttp` drives the auth flow and the transport itself instead of
  going through `httpx.AsyncClient.send`, whose redirect, cookie, event-hook and stream
  machinery cost more CPU per request than the transport (benchmarks/README.md);
- the lean path: over listsync's own transport, with no auth or a `HeaderAuth` (an auth that
  only sets headers: both write adapters'), a request is sent as plain values (URL text,
  header pairs, body bytes) and answered as (status, raw headers, body), with no
  `httpx.Request`/`httpx.Response` built; the same headers and body as the httpx path
  (tests/core/test_http_lean.py). Plain query parameters (`str`/`int` values of unreserved
  characters, e.g. a page's limit and offset) are appended as httpx would write them; other
  query parameters, other bodies and any other `httpx.Auth` take the httpx path;
- explicit timeouts; a concurrency limit (`max_concurrency`) and a requests-per-second limit
  (aiolimiter) per instance, hence per account;
- retries as the one retry policy decides (`listsync.retry.RetryPolicy`): connect errors,
  timeouts, 429 and 5xx, honouring `Retry-After` up to `max_retry_wait`; a request sent with
  `retry=False` (a credential check inside another request's auth flow) is tried once, so its
  failure counts as an attempt of the request it guards instead of nesting a second loop;
- answers handed back as the contract's `Response` (status, headers, body, request id), never
  the HTTP library's objects;
- `User-Agent: listsync/<version>`;
- transport errors mapped to the error tree in `_transport_error`, portal error bodies by the
  adapter's `error_mapper`;
- every log line goes through `listsync.redact`.

A request is retried automatically only when that is safe: the method is idempotent (GET, PUT,
PATCH, DELETE, or a POST the adapter marks `idempotent=True`), or nothing can have reached the
server (connection refused, 429). Other failures of a non-idempotent request raise
`UnknownOutcomeError`, and the engine looks the record up before sending it again.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import email.utils
import logging
import math
import time
from collections.abc import (
    AsyncGenerator,
    Callable,
    Coroutine,
    Generator,
    Iterator,
    Mapping,
    MutableMapping,
    Sequence,
)
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, Self, TypeVar, cast

import httpx
from aiolimiter import AsyncLimiter
from typing_extensions import override

from listsync._deadline import Deadline, DeadlineWatch
from listsync._guard import AccountGuard, guard_for
from listsync._requests import DEFAULT_HEADERS, AnswerTooLargeError, RequestBuilder, json_bytes
from listsync._shared import gate as shared_gate
from listsync._shared import pace as shared_pace
from listsync.adapter._response import Response
from listsync.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    ListsyncError,
    NotFoundError,
    PermissionDeniedError,
    PortalBugError,
    PortalError,
    RateLimitedError,
    RequestNotSentError,
    RetryableError,
    TransientError,
    UnknownOutcomeError,
)
from listsync.log import debug_enabled, get_logger
from listsync.redact import redact_text
from listsync.retry import RetryEvent, RetryPolicy, check_stop, pause, report

if TYPE_CHECKING:
    from listsync.adapter import AdapterSettings

__all__ = [
    "IDEMPOTENT_METHODS",
    "AnswerTooLargeError",
    "ErrorMapper",
    "HeaderAuth",
    "PortalHttp",
    "Response",
    "RetryPolicy",
    "RetryableError",
    "default_transport",
    "error_from_status",
    "parse_retry_after",
    "user_agent",
]

log = get_logger(__name__)

ErrorMapper = Callable[[Response], PortalError]
"""Turns a portal's non-success response into a listsync error (one function per adapter)."""

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
_URL_CACHE_SIZE = 2048
# 5xx answers to a non-idempotent request that may hide a committed write. 503 is left out: it
# says the server did not take the request on (and 429 is refused before any processing).
_MAYBE_APPLIED_STATUSES = frozenset({500, 502, 504})


def user_agent(extra: str | None = None) -> str:
    """`listsync/<version>`, followed by `extra` (an integrator's product name) when given."""
    try:
        v = version("listsync")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        v = "0"
    return f"listsync/{v}" + (f" {extra}" if extra else "")


def default_transport(
    max_connections: int = 100, *, max_response_bytes: int | None = None
) -> httpx.AsyncBaseTransport:
    """httpx's API over aiohttp's connection pool (measured faster, see the module docstring)."""
    from listsync._aiohttp import AiohttpTransport  # noqa: PLC0415  (aiohttp only where we send)

    return AiohttpTransport(max_connections=max_connections, max_response_bytes=max_response_bytes)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date).

    Returns None when the header is absent or unreadable; never a negative number.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


class _LeanTransport(Protocol):
    """A transport that can send without httpx's objects (`listsync._aiohttp`'s)."""

    async def exchange(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        timeout: Mapping[str, float | None],
    ) -> tuple[int, Any, bytes]: ...


_stdlib_log = logging.getLogger(__name__)
_COUNTED = "_listsync_breaker_counted"
"""Set on an error the account's breaker (or pause) has already counted."""

_E = TypeVar("_E", bound=BaseException)


def _counted(error: _E) -> _E:
    """`error`, marked as counted by the account's breaker (an outer request must not count
    a nested credential check's failure twice)."""
    setattr(error, _COUNTED, True)
    return error


_IN_ATTEMPT: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "listsync_in_attempt", default=False
)
_DEADLINES: contextvars.ContextVar[tuple[Deadline, ...]] = contextvars.ContextVar(
    "listsync_deadlines", default=()
)
"""The deadlines of the attempts under way in this task, outermost first (a credential check
runs inside the attempt of the request it guards): a wait for the account's rate moves them
all later by the time it took."""


class HeaderAuth(httpx.Auth):
    """An `httpx.Auth` whose flow only sets request headers and reads the answer's status.

    Subclasses implement `header_flow`. `PortalHttp` drives it on its lean path (its own
    transport: no `httpx.Request` or `httpx.Response` built per request), and
    `async_auth_flow` runs the same flow for any httpx client or transport. An auth that needs
    more of the request (its URL or body, e.g. to sign it) stays a plain `httpx.Auth`, which
    `PortalHttp` drives with httpx's objects.
    """

    def header_flow(self, headers: MutableMapping[str, str]) -> AsyncGenerator[None, int]:
        """Set the request's `headers` (look-ups ignore case), then `yield`: the answer's
        status comes back. Yield again to send the request once more (with the headers as
        they are then), or return to take that answer.
        """
        raise NotImplementedError

    @override
    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self.header_flow(request.headers)
        try:
            await anext(flow)
            while True:
                response = yield request
                try:
                    await flow.asend(response.status_code)
                except StopAsyncIteration:
                    return
        finally:
            await flow.aclose()

    @override
    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:  # pragma: no cover - async only
        raise RuntimeError(f"{type(self).__name__} works with httpx.AsyncClient only")


class _LeanHeaders(MutableMapping[str, str]):
    """A request's headers on the lean path: look-ups ignore case, the names keep theirs, and
    a header set again keeps its place (as `httpx.Headers` does for one value per name)."""

    __slots__ = ("_items",)

    def __init__(self, items: dict[str, tuple[str, str]]) -> None:
        self._items = items  # lower-cased name -> (name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __setitem__(self, name: str, value: str) -> None:
        self._items[name.lower()] = (name, value)

    def __delitem__(self, name: str) -> None:
        del self._items[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def pairs(self) -> list[tuple[str, str]]:
        return list(self._items.values())


class _AnswerHeaders(Mapping[str, str]):
    """An answer's headers on the lean path, read as `httpx.Headers` reads them: look-ups
    ignore case, names iterate lower-cased, a header sent more than once reads as its values
    joined by ", ", and the bytes are decoded as ASCII, else UTF-8, else Latin-1 (one choice
    for all). Built from the raw (name, value) pairs in one pass."""

    __slots__ = ("_values",)

    def __init__(self, raw: Sequence[tuple[bytes, bytes]]) -> None:
        try:
            self._values = _header_values(raw, "ascii")
        except UnicodeDecodeError:
            try:
                self._values = _header_values(raw, "utf-8")
            except UnicodeDecodeError:
                self._values = _header_values(raw, "iso-8859-1")

    def __getitem__(self, name: str) -> str:
        return self._values[_lower(name)]

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(_lower(name), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _lower(name) in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._values!r})"


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _lower(name: str) -> str:
    """`name` with ASCII letters lower-cased (as header names are compared)."""
    return name.lower() if name.isascii() else name.translate(_ASCII_LOWER)


def _header_values(raw: Sequence[tuple[bytes, bytes]], encoding: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw_name, raw_value in raw:
        key = raw_name.lower().decode(encoding)
        value = raw_value.decode(encoding)
        values[key] = f"{values[key]}, {value}" if key in values else value
    return values


class _Answer(NamedTuple):
    """A whole answer, from either path: status, headers, body, and the URL it came from (for
    debug logs)."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    url: object


class _NotSentError(RequestNotSentError):
    """The connection could not be opened: nothing reached the server."""

    not_sent = True


class PortalHttp:
    """One portal account's HTTP client: limits, retries, error mapping, redacted logs.

    Build one per adapter instance (`PortalHttp.from_settings`) and close it in the adapter's
    `aclose()`; it can also be used as an async context manager.
    """

    def __init__(
        self,
        *,
        portal: str,
        account: str,
        base_url: str,
        error_mapper: ErrorMapper,
        auth: httpx.Auth | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        max_concurrency: int = 16,
        requests_per_second: float | None = None,
        max_attempts: int = 5,
        max_retry_wait: float = 60.0,
        retry_backoff: float = 0.1,
        max_retry_time: float = 120.0,
        breaker_threshold: int = 10,
        breaker_cooldown: float = 10.0,
        headers: Mapping[str, str] | None = None,
        user_agent_extra: str | None = None,
        request_id_header: str | None = None,
        max_response_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self.portal = portal
        self.account = account
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.policy = RetryPolicy(
            max_attempts=max_attempts,
            max_wait=max_retry_wait,
            backoff=retry_backoff,
            backoff_max=min(30.0, max(max_retry_wait, 0.1)),
            max_time=max_retry_time,
        )
        self._breaker = (breaker_threshold, breaker_cooldown)
        self._bound: tuple[asyncio.AbstractEventLoop, AccountGuard, DeadlineWatch] | None = None
        self._request_id_header = request_id_header
        self._map_error = error_mapper
        self._semaphore = asyncio.Semaphore(max_concurrency)
        # across workers when `[shared] redis_url` is set (listsync._shared): same limits
        self._shared = (requests_per_second, max_concurrency, timeout)
        self._limiter = (
            AsyncLimiter(requests_per_second, 1.0) if requests_per_second is not None else None
        )
        self._paced = requests_per_second is not None
        """Whether `_pace` has a rate to wait for (without one it returns at once: not called)."""
        self.requests = RequestBuilder(
            base_url,
            httpx.Headers(
                {**DEFAULT_HEADERS, "User-Agent": user_agent(user_agent_extra), **(headers or {})}
            ),
            httpx.Timeout(timeout, connect=min(timeout, 10.0)).as_dict(),
        )
        self._auth = auth
        self._transport = (
            transport
            if transport is not None
            else default_transport(max_concurrency, max_response_bytes=max_response_bytes)
        )
        # The lean path: listsync's own transport, and no auth or one that only sets headers.
        exchange = getattr(self._transport, "exchange", None)
        lean = exchange is not None and (auth is None or isinstance(auth, HeaderAuth))
        self._lean: _LeanTransport | None = self._transport if lean else None  # type: ignore[assignment]
        self._lean_headers = {
            name.lower(): (name, value) for name, value in self.requests.headers.items()
        }
        # The attempt's deadline (`timeout`, from before the connection is taken) ends any
        # wait for the answer first, so a read timeout no shorter than it never fires: left
        # out, it spares the transport a timer per request and per chunk read.
        read = self.requests.timeout.get("read")
        self._lean_timeout = (
            {**self.requests.timeout, "read": None}
            if read is not None and read >= timeout
            else self.requests.timeout
        )
        self._lean_urls: dict[str, str] = {}

    @classmethod
    def from_settings(
        cls,
        settings: AdapterSettings,
        *,
        portal: str,
        account: str,
        error_mapper: ErrorMapper,
        auth: httpx.Auth | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        request_id_header: str | None = None,
    ) -> Self:
        """Build the client from an adapter's settings (base URL, timeout, limits, retries).

        Args:
            request_id_header: the answer header that carries the portal's request id.
        """
        return cls(
            portal=portal,
            account=account,
            base_url=settings.base_url,
            error_mapper=error_mapper,
            auth=auth,
            transport=transport,
            timeout=settings.timeout,
            max_concurrency=settings.max_concurrency,
            requests_per_second=settings.requests_per_second,
            max_attempts=settings.max_attempts,
            max_retry_wait=settings.max_retry_wait,
            retry_backoff=settings.retry_backoff,
            max_retry_time=settings.max_retry_time,
            breaker_threshold=settings.breaker_threshold,
            breaker_cooldown=settings.breaker_cooldown,
            headers=headers,
            user_agent_extra=settings.user_agent,
            request_id_header=request_id_header,
            max_response_bytes=settings.max_response_bytes,
        )

    async def aclose(self) -> None:
        """Close the transport (its connections)."""
        await self._transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        ok: Callable[[Response], bool] | None = None,
        retry: bool = True,
    ) -> Response:
        """Send one request with the retry policy; return the successful answer.

        Args:
            method: the HTTP method.
            path: relative to the base URL.
            json: a JSON body.
            params: query parameters.
            content: a raw body.
            headers: extra headers for this request.
            idempotent: overrides the method's default (e.g. a publish POST is idempotent).
            ok: which answers count as success (default: 2xx).
            retry: False sends once (for a check made inside another request's auth flow,
                whose own retries then cover it).

        Raises:
            PortalError: the mapped error when the portal refused, or retries ran out;
                `UnknownOutcomeError` when a non-idempotent request may have landed.
        """
        safe = method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent
        attempts = 0
        started = time.monotonic()
        while True:
            attempts += 1
            try:
                return await self._send_once(
                    method,
                    path,
                    json=json,
                    params=params,
                    content=content,
                    headers=headers,
                    safe=safe,
                    ok=ok,
                )
            except RetryableError as exc:
                elapsed = time.monotonic() - started
                wait = (
                    self.policy.wait(exc, attempts, safe_to_resend=safe, elapsed=elapsed)
                    if retry
                    else None
                )
                if wait is None:
                    raise
                event = RetryEvent(
                    self.portal,
                    self.account,
                    f"{method} {path}",
                    attempts,
                    wait,
                    type(exc).__name__,
                )
                report(event)
                log.info(
                    "http_retry",
                    portal=self.portal,
                    account=self.account,
                    request=event.what,
                    attempt=attempts,
                    wait=round(wait, 3),
                    error=event.error,
                )
                await pause(wait)

    async def _send_once(
        self,
        method: str,
        path: str,
        *,
        json: Any,
        params: Mapping[str, Any] | None,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        safe: bool,
        ok: Callable[[Response], bool] | None,
    ) -> Response:
        async with self._semaphore, shared_gate(self.portal, self.account, *self._shared):
            check_stop()  # a request not sent yet is given up when the run stops
            guard, watch = self._loop_bound()
            # A request made inside another's attempt (a credential check in its auth flow)
            # is part of that attempt: it was admitted with it.
            if _IN_ATTEMPT.get() or _admits_at_once(guard):
                probe = False
            else:
                probe = await guard.admit(max_wait=self.policy.max_wait)
            started = time.perf_counter()
            token = _IN_ATTEMPT.set(True)
            try:
                lean = self._lean
                url = (
                    self._lean_url(path, params)
                    if lean is not None and _plain_body(json, content)
                    else None
                )
                if lean is not None and url is not None:
                    exchange = self._lean_send(
                        lean, method, url, json=json, content=content, headers=headers
                    )
                else:
                    request = self.requests.build(
                        method, path, json=json, params=params, content=content, headers=headers
                    )
                    exchange = self._send(request)
                response = await self._attempt(
                    exchange, method, path, guard, probe, watch=watch, safe=safe
                )
            except BaseException:
                guard.released(probe=probe)
                raise
            finally:
                _IN_ATTEMPT.reset(token)
            if response.status >= 500:
                guard.failed(probe=probe)
            else:
                guard.succeeded(probe=probe)
        if debug_enabled(_stdlib_log):
            log.debug(
                "http_request",
                portal=self.portal,
                account=self.account,
                method=method,
                url=redact_text(str(response.url)),
                status=response.status,
                elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
            )
        if len(response.content) > self.max_response_bytes:
            raise self._too_large(method, path, safe=safe)
        answer = self._answer(response, method, path)
        if ok(answer) if ok is not None else answer.is_success:
            return answer
        raise _counted(self._refusal(answer, method, path, safe=safe))

    async def _attempt(
        self,
        exchange: Coroutine[Any, Any, _Answer],
        method: str,
        path: str,
        guard: AccountGuard,
        probe: bool,
        *,
        watch: DeadlineWatch,
        safe: bool,
    ) -> _Answer:
        """One exchange within the attempt's deadline (auth flow, connect, send, the whole
        answer), so a server that trickles its answer cannot hold the run; transport failures
        translated, and counted by the account's breaker."""
        try:
            # `async with deadline` as plain calls: no coroutine for its entry and exit
            deadline = watch.deadline(self.timeout)
            deadline.start()
            token = _DEADLINES.set((*_DEADLINES.get(), deadline))
            try:
                answer = await exchange
            except BaseException as exc:
                deadline.end(exc)  # TimeoutError when the deadline cancelled it
                raise
            else:
                deadline.end(None)
            finally:
                _DEADLINES.reset(token)
        except (httpx.TransportError, httpx.StreamError) as exc:
            error = self._transport_error(exc, method, path, safe=safe)
            if isinstance(error, PortalError):
                guard.failed(probe=probe)
                _counted(error)
            raise error from exc
        except TimeoutError as exc:
            guard.failed(probe=probe)
            kind = TransientError if safe else UnknownOutcomeError
            message = f"{method} {path}: no complete answer within {self.timeout:g} s"
            raise _counted(kind(message, portal=self.portal, account=self.account)) from exc
        except RetryableError as exc:
            # From inside the auth flow (a token endpoint down or refusing with 429, fetched by
            # a client of its own): the account's breaker and pause hear of it too, once.
            if not getattr(exc, _COUNTED, False):
                if isinstance(exc, RateLimitedError) and exc.retry_after:
                    guard.pause(exc.retry_after)
                elif isinstance(exc, TransientError):
                    guard.failed(probe=probe)
            _counted(exc)
            raise
        return answer

    def _refusal(self, answer: Response, method: str, path: str, *, safe: bool) -> PortalError:
        """The error for an answer that is not a success."""
        error = self._mapped_error(answer)
        if isinstance(error, RateLimitedError) and error.retry_after:
            self._account_guard().pause(error.retry_after)  # the whole account waits
        if answer.status == 503 and isinstance(error, TransientError):
            # The server did not take the request on: safe to resend, even a create.
            not_sent = RequestNotSentError(
                f"{method} {path} answered 503: the portal did not take it on",
                portal=self.portal,
                account=self.account,
                request_id=error.request_id,
                status_code=503,
            )
            not_sent.__cause__ = error
            return not_sent
        if not safe and answer.status in _MAYBE_APPLIED_STATUSES:
            # A server error after a create: the write may have happened (commit-then-drop).
            unknown = UnknownOutcomeError(
                f"{method} {path} failed with {answer.status}; it may have been applied",
                portal=self.portal,
                account=self.account,
                request_id=error.request_id,
                status_code=answer.status,
            )
            unknown.__cause__ = error
            return unknown
        return error

    def _account_guard(self) -> AccountGuard:
        """The breaker and 429 pause shared by this account's clients in the running loop."""
        return self._loop_bound()[0]

    def _loop_bound(self) -> tuple[AccountGuard, DeadlineWatch]:
        """What this client keeps per event loop: the account's guard (`_account_guard`) and
        the attempts' deadlines (one timer for all), made on first use in a loop."""
        loop = asyncio.get_running_loop()
        bound = self._bound
        if bound is None or bound[0] is not loop:
            threshold, cooldown = self._breaker
            guard = guard_for(self.portal, self.account, threshold=threshold, cooldown=cooldown)
            bound = self._bound = (loop, guard, DeadlineWatch(loop))
        return bound[1], bound[2]

    def _answer(self, response: _Answer, method: str, path: str) -> Response:
        """The contract's `Response` for an answer the transport read whole."""
        header = self._request_id_header
        return Response(
            response.status,
            response.headers,
            response.content,
            portal=self.portal,
            request_id=response.headers.get(header) if header else None,
            method=method,
            path=path.split("?", 1)[0],
        )

    async def _pace(self) -> None:
        """Wait for the account's rate (in this process, and across workers when limits are
        shared) right before one exchange goes out: every request the portal receives is
        counted, when it is sent (a resend of the auth flow, a credential check made inside
        the flow before the request it guards). The wait is queueing, not the portal being
        slow: the attempts' deadlines move later by it."""
        limiter = self._limiter
        rate = self._shared[0]
        if limiter is None and rate is None:
            return
        loop = asyncio.get_running_loop()
        began = loop.time()
        if limiter is not None:
            await limiter.acquire()
        await shared_pace(self.portal, self.account, rate)
        check_stop()  # a run stopped during the wait sends nothing more
        waited = loop.time() - began
        for deadline in _DEADLINES.get():
            deadline.reschedule(deadline.when() + waited)

    async def _send(self, request: httpx.Request) -> _Answer:
        """Send `request` through the auth flow and the transport; the response is read.

        What `httpx.AsyncClient.send` does for listsync's requests (no redirects followed, no
        cookies, no event hooks), without the machinery around it.
        """
        if self._auth is None:
            response = await self._exchange(request)
        else:
            flow = self._auth.async_auth_flow(request)
            try:
                request = await flow.__anext__()
                while True:
                    response = await self._exchange(request)
                    try:
                        request = await flow.asend(response)
                    except StopAsyncIteration:
                        break
            finally:
                await flow.aclose()
        return _Answer(response.status_code, response.headers, response.content, request.url)

    def _lean_url(self, path: str, params: Mapping[str, Any] | None) -> str | None:
        """The request's URL text, if the lean path can send it (None: query parameters it
        does not write as httpx would)."""
        if params is not None:
            return self.requests.query_url_text(path, params)
        url = self._lean_urls.get(path)
        if url is None:
            if len(self._lean_urls) >= _URL_CACHE_SIZE:
                self._lean_urls.clear()
            url = self._lean_urls[path] = self.requests.url_text(path)
        return url

    def _lean_request(
        self,
        json: Any,
        content: bytes | None,
        extra: Mapping[str, str] | None,
    ) -> tuple[_LeanHeaders, bytes | None]:
        """The headers and body `RequestBuilder.build` would give the request."""
        headers = _LeanHeaders(dict(self._lean_headers))
        if extra:
            for name, value in extra.items():
                headers[name] = value
        if json is None:
            return headers, content or None
        if "content-type" not in headers:
            headers["Content-Type"] = "application/json"
        return headers, json_bytes(json)

    async def _lean_send(
        self,
        transport: _LeanTransport,
        method: str,
        url: str,
        *,
        json: Any,
        content: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> _Answer:
        """`_send` without httpx's objects: the same request (headers, body, URL) handed to
        the transport as plain values, through a `HeaderAuth`'s flow when there is one."""
        method = method.upper()
        sent, body = self._lean_request(json, content, headers)
        timeout = self._lean_timeout
        paced = self._paced
        if self._auth is None:
            if paced:
                await self._pace()
            status, raw, data = await transport.exchange(method, url, sent.pairs(), body, timeout)
        else:
            flow = cast("HeaderAuth", self._auth).header_flow(sent)
            try:
                await anext(flow)
                while True:
                    if paced:
                        await self._pace()
                    status, raw, data = await transport.exchange(
                        method, url, sent.pairs(), body, timeout
                    )
                    try:
                        await flow.asend(status)
                    except StopAsyncIteration:
                        break
            finally:
                await flow.aclose()
        answer_headers = _AnswerHeaders(raw)
        if answer_headers.get("Content-Encoding", "identity").lower() != "identity":
            # decoded as httpx decodes it (gzip, deflate, ...): a rare answer
            data = httpx.Response(status, headers=raw, content=data).content
        return _Answer(status, answer_headers, data, url)

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        if self._paced:
            await self._pace()
        response = await self._transport.handle_async_request(request)
        response.request = request
        await response.aread()  # streamed by in-process transports; a no-op for ours
        return response

    def _mapped_error(self, response: Response) -> PortalError:
        """The adapter's error for `response`; a status-code fallback if its mapper fails."""
        try:
            error = self._map_error(response)
        except Exception as exc:  # a broken error body must not hide the status
            log.warning(
                "error_mapper_failed",
                portal=self.portal,
                status=response.status,
                error=redact_text(f"{type(exc).__name__}: {exc}"),
            )
            error = error_from_status(
                response,
                portal=self.portal,
                message=f"HTTP {response.status}: {response.excerpt()!r}",
                request_id=response.request_id,
            )
        if error.account is None:
            error.account = self.account
        return error

    def _transport_error(
        self, exc: httpx.TransportError | httpx.StreamError, method: str, path: str, *, safe: bool
    ) -> ListsyncError:
        """Translate an httpx transport error into the error tree (the one boundary)."""
        if isinstance(exc, AnswerTooLargeError):
            return self._too_large(method, path, safe=safe)
        if isinstance(exc, httpx.UnsupportedProtocol):
            return ConfigurationError(
                f"{self.portal}: cannot send {method} {path}: {exc}", key="base_url"
            )
        if _provably_not_sent(exc):
            return _NotSentError(
                f"cannot connect for {method} {path}: {type(exc).__name__}: {exc}",
                portal=self.portal,
                account=self.account,
            )
        kind = TransientError if safe else UnknownOutcomeError
        return kind(
            f"{method} {path}: {type(exc).__name__}: {exc}",
            portal=self.portal,
            account=self.account,
        )

    def _too_large(self, method: str, path: str, *, safe: bool) -> PortalError:
        """An answer over `max_response_bytes`: a portal error (a create may have landed)."""
        message = f"{method} {path}: answer larger than {self.max_response_bytes} bytes"
        if safe:
            return PortalBugError(message, portal=self.portal, account=self.account)
        return UnknownOutcomeError(message, portal=self.portal, account=self.account)


def _admits_at_once(guard: AccountGuard) -> bool:
    """True when `guard.admit` would let a request through without waiting and not as a
    probe (the in-process guard, closed and not paused), so the call is spared; a guard of
    another kind (shared through Redis) is always asked."""
    return (
        type(guard) is AccountGuard
        and guard.opened_at is None
        and guard.paused_until <= time.monotonic()
    )


def _plain_body(json: Any, content: bytes | None) -> bool:
    """No body, a JSON body or a bytes body (what the lean path sends as httpx would)."""
    return content is None or (json is None and type(content) is bytes)


def _provably_not_sent(exc: Exception) -> bool:
    """True when the request cannot have reached the server (so even a create may be resent).

    httpx's transports and listsync's own (`listsync._aiohttp`) raise ConnectError or
    PoolTimeout only when no connection carried the request. Anything else (a timeout while
    reading, a connection dropped after the request was written) proves nothing.
    """
    return isinstance(exc, httpx.ConnectError | httpx.PoolTimeout)


_STATUS_ERRORS: dict[int, type[PortalError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    410: NotFoundError,
}


def error_from_status(
    response: Response,
    *,
    portal: str,
    message: str,
    request_id: str | None = None,
) -> PortalError:
    """Fallback mapping by status code, for adapters' error mappers to build on.

    429 becomes `RateLimitedError` with the parsed `Retry-After`; 401/403 authentication errors;
    404/410 `NotFoundError`; 409 `ConflictError`; 5xx `TransientError`; anything else is a
    `PortalBugError` (the adapter's mapper should have recognised it).
    """
    status = response.status
    if status == 429:
        return RateLimitedError(
            message,
            portal=portal,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            request_id=request_id or response.request_id,
            status_code=status,
        )
    kind = _STATUS_ERRORS.get(status)
    if kind is None:
        kind = TransientError if status >= 500 else PortalBugError
    return kind(
        message, portal=portal, request_id=request_id or response.request_id, status_code=status
    )
