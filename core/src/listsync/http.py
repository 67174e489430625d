"""The one place an `httpx.AsyncClient` is built, and the one place requests are retried.

`PortalHttp` wraps one client per (portal, account):

- transport: httpx's API over aiohttp (`httpx_aiohttp.AiohttpTransport`) by default. httpx's own
  connection pool spent 2.8 ms CPU per request at 32 workers on this kind of machine against
  0.47 ms through aiohttp (../shared/LIBRARIES.md §10); tests pass an in-process transport.
- explicit timeouts; a concurrency limit (`max_concurrency`) and a requests-per-second limit
  (aiolimiter) per instance, hence per account;
- retries with exponential backoff and jitter (stamina) for connect errors, timeouts, 429 and
  5xx, honouring `Retry-After` up to `max_retry_wait`; the decision is `retry_decision()`;
- `User-Agent: listsync/<version>`;
- transport errors mapped to the error tree in `_map_transport_error`, portal error bodies by the
  adapter's `error_mapper`;
- every log line goes through `listsync.redact`.

A request is retried automatically only when that is safe: the method is idempotent (GET, PUT,
PATCH, DELETE, or a POST the adapter marks `idempotent=True`), or nothing can have reached the
server (connection refused, 429). Other failures of a non-idempotent request raise
`UnknownOutcomeError`, and the engine looks the record up before sending it again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import time
from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpx
import stamina
import structlog
from aiolimiter import AsyncLimiter

from listsync.errors import (
    PortalBugError,
    PortalError,
    RateLimitedError,
    RetryableError,
    TransientError,
    UnknownOutcomeError,
)
from listsync.redact import redact_text

__all__ = [
    "ErrorMapper",
    "PortalHttp",
    "default_transport",
    "parse_retry_after",
    "retry_decision",
    "user_agent",
]

log = structlog.stdlib.get_logger(__name__)

ErrorMapper = Callable[[httpx.Response], PortalError]
"""Turns a portal's non-success response into a listsync error (one function per adapter)."""

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def user_agent(extra: str | None = None) -> str:
    try:
        v = version("listsync")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        v = "0"
    return f"listsync/{v}" + (f" {extra}" if extra else "")


def default_transport(max_connections: int = 100) -> httpx.AsyncBaseTransport:
    """httpx's API over aiohttp's connection pool (measured faster, see the module docstring)."""
    from httpx_aiohttp import AiohttpTransport  # noqa: PLC0415  (keeps aiohttp off import paths that never send)

    return AiohttpTransport(  # type: ignore[no-any-return]  # untyped third-party constructor
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        trust_env=False,
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def retry_decision(error: Exception, *, idempotent: bool, max_wait: float) -> bool | float:
    """Whether to retry after `error`: False, True (exponential backoff) or seconds to wait.

    This is the only function that decides.
    """
    if isinstance(error, RateLimitedError):
        if error.retry_after is None:
            return True
        return error.retry_after if error.retry_after <= max_wait else False
    if isinstance(error, UnknownOutcomeError):
        return False  # the engine decides, after looking the record up
    if isinstance(error, TransientError):
        return idempotent or getattr(error, "not_sent", False)
    return False


class _NotSentError(TransientError):
    """The connection could not be opened: nothing reached the server."""

    not_sent = True


class PortalHttp:
    """One portal account's HTTP client: limits, retries, error mapping, redacted logs."""

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
        headers: Mapping[str, str] | None = None,
        user_agent_extra: str | None = None,
    ) -> None:
        self.portal = portal
        self.account = account
        self.max_attempts = max_attempts
        self.max_retry_wait = max_retry_wait
        self._map_error = error_mapper
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._limiter = (
            AsyncLimiter(requests_per_second, 1.0) if requests_per_second is not None else None
        )
        self.client = httpx.AsyncClient(
            base_url=base_url,
            auth=auth,
            transport=transport if transport is not None else default_transport(max_concurrency),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"User-Agent": user_agent(user_agent_extra), **(headers or {})},
        )

    async def aclose(self) -> None:
        await self.client.aclose()

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
        ok: Callable[[httpx.Response], bool] | None = None,
    ) -> httpx.Response:
        """Send one request with the retry policy; return the successful response.

        Args:
            idempotent: overrides the method's default (e.g. a publish POST is idempotent).
            ok: which responses count as success (default: 2xx).

        Raises:
            PortalError: the mapped error when the portal refused, or retries ran out.
        """
        safe = method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent

        def decide(exc: Exception) -> bool | float:
            return retry_decision(exc, idempotent=safe, max_wait=self.max_retry_wait)

        async for attempt in stamina.retry_context(
            on=decide,
            attempts=self.max_attempts,
            timeout=None,
            wait_initial=0.1,
            wait_max=min(30.0, max(self.max_retry_wait, 0.1)),
            wait_jitter=0.5,
        ):
            with attempt:
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
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover

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
        ok: Callable[[httpx.Response], bool] | None,
    ) -> httpx.Response:
        async with self._slot():
            started = time.perf_counter()
            async with self._map_transport_errors(method, path, safe=safe):
                response = await self.client.request(
                    method, path, json=json, params=params, content=content, headers=headers
                )
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        success = ok(response) if ok is not None else response.is_success
        log.debug(
            "http_request",
            portal=self.portal,
            account=self.account,
            method=method,
            url=redact_text(str(response.request.url)),
            status=response.status_code,
            elapsed_ms=elapsed_ms,
        )
        if success:
            return response
        error = self._map_error(response)
        error.account = self.account if error.account is None else error.account
        if not safe and response.status_code in _RETRY_STATUSES - {429, 503}:
            # A server error after a create: the write may have happened (commit-then-drop).
            raise UnknownOutcomeError(
                f"{method} {path} failed with {response.status_code}; it may have been applied",
                portal=self.portal,
                account=self.account,
                request_id=error.request_id,
                status_code=response.status_code,
            ) from error
        raise error

    @asynccontextmanager
    async def _slot(self) -> Any:
        async with self._semaphore:
            if self._limiter is not None:
                await self._limiter.acquire()
            yield

    @asynccontextmanager
    async def _map_transport_errors(self, method: str, path: str, *, safe: bool) -> Any:
        """Translate httpx transport errors into the error tree (the one boundary)."""
        try:
            yield
        except httpx.ConnectError as exc:
            # Connection refused / DNS: nothing was sent, any request may be retried.
            raise _NotSentError(
                f"cannot connect for {method} {path}: {exc}",
                portal=self.portal,
                account=self.account,
            ) from exc
        except (httpx.TransportError, httpx.StreamError) as exc:
            # Includes ConnectTimeout: aiohttp reports a dropped connection after the request
            # was written as a connection error, so a timeout proves nothing about delivery.
            kind = TransientError if safe else UnknownOutcomeError
            raise kind(
                f"{method} {path}: {type(exc).__name__}: {exc}",
                portal=self.portal,
                account=self.account,
            ) from exc


def error_from_status(
    response: httpx.Response,
    *,
    portal: str,
    message: str,
    request_id: str | None = None,
) -> PortalError:
    """Fallback mapping by status code, for adapters' error mappers to build on."""
    from listsync.errors import (  # noqa: PLC0415  (kept next to its only use)
        AuthenticationError,
        ConflictError,
        NotFoundError,
        PermissionDeniedError,
    )

    status = response.status_code
    kwargs: dict[str, Any] = {"portal": portal, "request_id": request_id, "status_code": status}
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimitedError(message, retry_after=retry_after, **kwargs)
    if status == 401:
        return AuthenticationError(message, **kwargs)
    if status == 403:
        return PermissionDeniedError(message, **kwargs)
    if status == 404:
        return NotFoundError(message, **kwargs)
    if status == 409:
        return ConflictError(message, **kwargs)
    if status >= 500:
        return TransientError(message, **kwargs)
    return PortalBugError(message, **kwargs)


__all__ += ["RetryableError", "error_from_status"]
