"""The HTTP layer's retry policy, limits and error mapping, driven by sandbox fault injection."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest
import structlog

from listsync.errors import (
    ConfigurationError,
    NotFoundError,
    PortalBugError,
    RateLimitedError,
    RequestNotSentError,
    TransientError,
    UnknownOutcomeError,
)
from listsync.http import Response, error_from_status, parse_retry_after, user_agent
from listsync.retry import RetryEvent, RetryPolicy
from listsync.sandbox import FaultConfig

from .conftest import ItemsSandbox, make_http


class FlakyConnect(httpx.AsyncBaseTransport):
    """Raises `exc` for the first `failures` requests, then forwards to `inner`."""

    def __init__(self, inner: httpx.AsyncBaseTransport, exc: type[Exception], failures: int):
        self.inner, self.exc, self.failures, self.calls = inner, exc, failures, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc("synthetic", request=request)  # type: ignore[call-arg]  # httpx errors take request=
        return await self.inner.handle_async_request(request)


async def test_idempotent_request_is_retried_after_5xx_until_it_succeeds(
    sandbox: ItemsSandbox,
) -> None:
    """A GET answered 5xx twice is retried and the third answer is returned."""
    sandbox.items["1"] = {"title": "Villa"}
    sandbox.set_faults(FaultConfig(error_rate=1.0, max_faults=2))
    async with make_http(sandbox) as http:
        response = await http.request("GET", "/items/1")
    assert response.json() == {"title": "Villa"}
    assert [r.fault for r in sandbox.requests] == ["error", "error", None]


async def test_attempts_are_limited_and_the_last_error_is_raised(sandbox: ItemsSandbox) -> None:
    """With every answer a 503, exactly `max_attempts` requests are made, then TransientError."""
    sandbox.set_faults(FaultConfig(error_rate=1.0, error_statuses=(503,)))
    async with make_http(sandbox, max_attempts=3) as http:
        with pytest.raises(TransientError) as caught:
            await http.request("GET", "/items/1")
    assert len(sandbox.requests) == 3
    assert caught.value.status_code == 503
    assert caught.value.request_id == "req-fault"
    assert "req-fault" in str(caught.value)


async def test_post_is_not_retried_after_500_and_reports_unknown_outcome(
    sandbox: ItemsSandbox,
) -> None:
    """A create answered 500 may have landed: one attempt only, UnknownOutcomeError."""
    sandbox.set_faults(FaultConfig(error_rate=1.0, error_statuses=(500,)))
    async with make_http(sandbox) as http:
        with pytest.raises(UnknownOutcomeError) as caught:
            await http.request("POST", "/items", json={"title": "x"})
    assert len(sandbox.requests) == 1
    assert caught.value.status_code == 500


async def test_post_answered_503_is_resent_as_not_taken_on(sandbox: ItemsSandbox) -> None:
    """503 means the server did not take the request on: even a create is sent again (as for
    a refused connection), up to `max_attempts`, then RequestNotSentError."""
    sandbox.set_faults(FaultConfig(error_rate=1.0, error_statuses=(503,)))
    async with make_http(sandbox, max_attempts=3) as http:
        with pytest.raises(RequestNotSentError) as caught:
            await http.request("POST", "/items", json={"title": "x"})
    assert caught.value.status_code == 503
    assert len(sandbox.requests) == 3
    sandbox.set_faults(FaultConfig(error_rate=1.0, error_statuses=(503,), max_faults=1))
    async with make_http(sandbox, max_attempts=3) as http:
        created = await http.request("POST", "/items", json={"title": "y"})
    assert created.status == 201
    assert sandbox.items == {"1": {"title": "y"}}


async def test_post_marked_idempotent_is_retried_after_5xx(sandbox: ItemsSandbox) -> None:
    """A POST the adapter marks idempotent (e.g. publish) is retried like a PUT."""
    sandbox.set_faults(FaultConfig(error_rate=1.0, error_statuses=(500,), max_faults=1))
    async with make_http(sandbox) as http:
        response = await http.request("POST", "/items", json={"a": 1}, idempotent=True)
    assert response.status == 201
    assert len(sandbox.requests) == 2


async def test_post_is_retried_when_the_connection_was_refused(sandbox: ItemsSandbox) -> None:
    """Connection refused means nothing was sent, so even a create is retried (once created)."""
    flaky = FlakyConnect(sandbox.transport(), httpx.ConnectError, failures=2)
    async with make_http(transport=flaky) as http:
        response = await http.request("POST", "/items", json={"title": "x"})
    assert response.status == 201
    assert flaky.calls == 3
    assert len(sandbox.write_requests()) == 1


async def test_connect_timeout_on_post_is_an_unknown_outcome(sandbox: ItemsSandbox) -> None:
    """A connect timeout proves nothing (it may hide a dropped connection): a POST is not
    resent."""
    flaky = FlakyConnect(sandbox.transport(), httpx.ConnectTimeout, failures=1)
    async with make_http(transport=flaky) as http:
        with pytest.raises(UnknownOutcomeError):
            await http.request("POST", "/items", json={"title": "x"})
    assert flaky.calls == 1


async def test_read_timeout_on_get_is_retried(sandbox: ItemsSandbox) -> None:
    """A timeout on an idempotent request is retried."""
    sandbox.items["1"] = {"title": "x"}
    flaky = FlakyConnect(sandbox.transport(), httpx.ReadTimeout, failures=1)
    async with make_http(transport=flaky) as http:
        response = await http.request("GET", "/items/1")
    assert response.status == 200
    assert flaky.calls == 2


async def test_retry_after_is_honoured(sandbox: ItemsSandbox, retries: list[RetryEvent]) -> None:
    """429 with Retry-After: the wait scheduled before each retry is the portal's value."""
    sandbox.items["1"] = {"title": "x"}
    sandbox.set_faults(FaultConfig(rate_limit_rate=1.0, retry_after=0.01, max_faults=2))
    async with make_http(sandbox) as http:
        response = await http.request("GET", "/items/1")
    assert response.status == 200
    assert [r.status for r in sandbox.requests] == [429, 429, 200]
    assert [d.wait for d in retries] == [0.01, 0.01]


async def test_rate_limited_post_is_retried(sandbox: ItemsSandbox) -> None:
    """A 429 is refused before any processing, so a create is retried too."""
    sandbox.set_faults(FaultConfig(rate_limit_rate=1.0, retry_after=0, max_faults=1))
    async with make_http(sandbox) as http:
        response = await http.request("POST", "/items", json={"title": "x"})
    assert response.status == 201
    assert len(sandbox.write_requests()) == 1


async def test_retry_after_beyond_max_wait_raises_at_once(sandbox: ItemsSandbox) -> None:
    """Retry-After above `max_retry_wait`: RateLimitedError with `retry_after`, no waiting."""
    sandbox.set_faults(FaultConfig(rate_limit_rate=1.0, retry_after=120))
    async with make_http(sandbox, max_retry_wait=60) as http:
        with pytest.raises(RateLimitedError) as caught:
            await http.request("GET", "/items/1")
    assert caught.value.retry_after == 120
    assert len(sandbox.requests) == 1


async def test_commit_then_drop_in_process_keeps_the_write(sandbox: ItemsSandbox) -> None:
    """A create whose response is lost raises UnknownOutcomeError; the sandbox kept it."""
    sandbox.set_faults(FaultConfig(drop_rate=1.0))
    async with make_http(sandbox) as http:
        with pytest.raises(UnknownOutcomeError) as caught:
            await http.request("POST", "/items", json={"title": "x"})
    assert isinstance(caught.value.__cause__, httpx.ReadError)
    assert sandbox.items == {"1": {"title": "x"}}
    assert [r.fault for r in sandbox.write_requests()] == ["drop"]


async def test_dropped_put_is_resent(sandbox: ItemsSandbox) -> None:
    """A PUT whose response was lost is idempotent, so it is sent again and succeeds."""
    sandbox.set_faults(FaultConfig(drop_rate=1.0, max_faults=1))
    async with make_http(sandbox) as http:
        response = await http.request("PUT", "/items/7", json={"v": 2})
    assert response.status == 200
    assert len(sandbox.write_requests()) == 2


async def test_non_retryable_errors_come_from_the_mapper(sandbox: ItemsSandbox) -> None:
    """A 404 is mapped by the adapter's mapper, raised once, and carries the account."""
    async with make_http(sandbox) as http:
        with pytest.raises(NotFoundError) as caught:
            await http.request("GET", "/items/404")
    assert caught.value.account == "default"
    assert len(sandbox.requests) == 1


async def test_a_failing_error_mapper_falls_back_to_the_status(sandbox: ItemsSandbox) -> None:
    """When the adapter's mapper itself fails, the status code still decides the error."""

    def broken_mapper(response: httpx.Response) -> NotFoundError:
        raise ValueError("unexpected body")

    async with make_http(sandbox) as http:
        http._map_error = broken_mapper
        with structlog.testing.capture_logs() as logs, pytest.raises(NotFoundError):
            await http.request("GET", "/items/404")
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["error_mapper_failed"]


async def test_concurrency_is_limited_per_instance() -> None:
    """No more than `max_concurrency` requests of one client are in flight at once."""
    sandbox = ItemsSandbox(handler_delay=0.005)
    sandbox.items["1"] = {}
    async with make_http(sandbox, max_concurrency=2) as http:
        await asyncio.gather(*(http.request("GET", "/items/1") for _ in range(10)))
    assert sandbox.max_in_flight == 2


async def test_requests_per_second_limit_goes_through_the_limiter(
    sandbox: ItemsSandbox,
) -> None:
    """With `requests_per_second`, every request acquires the per-instance rate limiter."""
    sandbox.items["1"] = {}
    async with make_http(sandbox, requests_per_second=1000) as http:
        assert http._limiter is not None
        acquired = 0
        original = http._limiter.acquire

        async def counting(amount: float = 1) -> None:
            nonlocal acquired
            acquired += 1
            await original(amount)

        http._limiter.acquire = counting  # type: ignore[method-assign]  # observe the limiter
        await asyncio.gather(*(http.request("GET", "/items/1") for _ in range(5)))
    assert acquired == 5


async def test_user_agent_names_listsync(sandbox: ItemsSandbox) -> None:
    """Every request carries `User-Agent: listsync/<version>`."""
    sandbox.items["1"] = {}
    async with make_http(sandbox) as http:
        await http.request("GET", "/items/1")
    assert sandbox.requests[0].headers["user-agent"] == user_agent()
    assert user_agent().startswith("listsync/0.")


async def test_debug_log_redacts_secrets_in_urls(sandbox: ItemsSandbox) -> None:
    """The per-request debug line masks signature parameters such as Booli's hash."""
    sandbox.items["1"] = {}
    async with make_http(sandbox) as http:
        with structlog.testing.capture_logs() as logs:
            await http.request(
                "GET", "/items/1", params={"callerId": "acme", "hash": "f00dfeed", "q": "x"}
            )
    (line,) = [e for e in logs if e["event"] == "http_request"]
    assert "f00dfeed" not in line["url"]
    assert "acme" not in line["url"]
    assert "q=x" in line["url"]
    assert line["status"] == 200


async def test_bad_base_url_is_a_configuration_error() -> None:
    """A base URL without a scheme is a ConfigurationError naming `base_url`, not a retry loop."""
    async with make_http(base_url="items.test") as http:
        with pytest.raises(ConfigurationError) as caught:
            await http.request("GET", "/x")
    assert caught.value.key == "base_url"


# -- over loopback with the default (aiohttp-backed) transport --------------------------------


async def test_default_transport_works_over_loopback(sandbox: ItemsSandbox, served: str) -> None:
    """The aiohttp-backed transport creates, reads and replaces through a served sandbox."""
    async with make_http(base_url=served) as http:
        created = await http.request("POST", "/items", json={"title": "Villa"})
        item_id = created.json()["id"]
        await http.request("PUT", f"/items/{item_id}", json={"title": "Villa 2"})
        read = await http.request("GET", f"/items/{item_id}")
    assert read.json() == {"title": "Villa 2"}
    assert [r.principal for r in sandbox.requests] == ["key-default"] * 3
    assert sandbox.requests[0].headers["user-agent"] == user_agent()


async def test_commit_then_drop_over_loopback_is_an_unknown_outcome(
    sandbox: ItemsSandbox, served: str
) -> None:
    """Served over loopback a dropped create comes back as a 5xx: UnknownOutcomeError, kept."""
    sandbox.set_faults(FaultConfig(drop_rate=1.0))
    async with make_http(base_url=served) as http:
        with pytest.raises(UnknownOutcomeError):
            await http.request("POST", "/items", json={"title": "x"})
    assert sandbox.items == {"1": {"title": "x"}}
    assert len(sandbox.requests) == 1


async def test_retry_after_over_loopback(
    sandbox: ItemsSandbox, served: str, retries: list[RetryEvent]
) -> None:
    """A 429 with Retry-After over a real socket is retried after the portal's wait."""
    sandbox.items["1"] = {}
    sandbox.set_faults(FaultConfig(rate_limit_rate=1.0, retry_after=0.01, max_faults=1))
    async with make_http(base_url=served) as http:
        response = await http.request("GET", "/items/1")
    assert response.status == 200
    assert [r.status for r in sandbox.requests] == [429, 200]
    assert [d.wait for d in retries] == [0.01]


async def test_connection_refused_over_loopback_is_retried_then_transient(
    retries: list[RetryEvent],
) -> None:
    """Nothing listening: a POST is retried (nothing was sent), then TransientError."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with make_http(base_url=f"http://127.0.0.1:{port}", max_attempts=3) as http:
        with pytest.raises(TransientError) as caught:
            await http.request("POST", "/items", json={})
    assert not isinstance(caught.value, UnknownOutcomeError)
    assert len(retries) == 2


async def test_connection_dropped_after_a_post_over_loopback_is_not_resent() -> None:
    """A server that reads a create and hangs up: UnknownOutcomeError, exactly one attempt."""
    connections = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, make_http(base_url=f"http://127.0.0.1:{port}") as http:
        with pytest.raises(UnknownOutcomeError):
            await http.request("POST", "/items", json={"title": "x"})
    assert connections == 1


# -- the decision function and helpers -----------------------------------------------------


@pytest.mark.parametrize(
    ("error", "safe", "expected"),
    [
        (RateLimitedError("slow", portal="p", retry_after=2.5), False, 2.5),
        (RateLimitedError("slow", portal="p", retry_after=61), True, None),
        (RateLimitedError("slow", portal="p"), False, "backoff"),
        (TransientError("5xx", portal="p"), True, "backoff"),
        (TransientError("5xx", portal="p"), False, None),
        (RequestNotSentError("refused", portal="p"), False, "backoff"),
        (UnknownOutcomeError("lost", portal="p"), False, None),
        (UnknownOutcomeError("lost", portal="p"), True, "backoff"),
        (NotFoundError("gone", portal="p"), True, None),
        (PortalBugError("odd", portal="p"), True, None),
        (ValueError("not ours"), True, None),
    ],
)
def test_the_one_retry_policy(error: Exception, safe: bool, expected: float | str | None) -> None:
    """What is retried, and how long: a 429's Retry-After within `max_wait`, else at once; a
    backoff for transient failures of requests that are safe to resend or were never sent."""
    policy = RetryPolicy(max_attempts=5, max_wait=60, backoff=1.0, backoff_max=30)
    wait = policy.wait(error, 1, safe_to_resend=safe)
    if expected == "backoff":
        assert wait is not None
        assert 0.5 <= wait < 1.5
    else:
        assert wait == expected
    assert policy.wait(error, 5, safe_to_resend=safe) is None  # attempts used up


def test_backoff_doubles_up_to_its_cap() -> None:
    """Each further attempt waits about twice as long, never more than `backoff_max` (x1.5)."""
    policy = RetryPolicy(max_attempts=20, backoff=1.0, backoff_max=4.0)
    error = TransientError("5xx", portal="p")
    waits = [policy.wait(error, n, safe_to_resend=True) or 0.0 for n in range(1, 8)]
    assert 0.5 <= waits[0] < 1.5
    assert 1.0 <= waits[1] < 3.0
    assert all(2.0 <= w < 6.0 for w in waits[3:])


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        (" 0.5 ", 0.5),
        ("-4", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    """Retry-After as delta-seconds or an HTTP date, relative to `now`; junk is None."""
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after(header, now=now) == expected


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, "AuthenticationError"), (403, "PermissionDeniedError"), (404, "NotFoundError"),
     (409, "ConflictError"), (429, "RateLimitedError"), (502, "TransientError"),
     (418, "PortalBugError")],
)  # fmt: skip
def test_error_from_status(status: int, kind: str) -> None:
    """The fallback mapper picks the error class from the status code."""
    response = Response(status, httpx.Headers({"Retry-After": "7"}), b"", portal="p")
    error = error_from_status(response, portal="p", message="m", request_id="r1")
    assert type(error).__name__ == kind
    assert error.status_code == status
    assert error.request_id == "r1"
    if isinstance(error, RateLimitedError):
        assert error.retry_after == 7.0


async def test_requests_are_joined_to_the_base_url_with_params_and_no_cookies() -> None:
    """Requests built by PortalHttp itself (cached URL joins) reach the same URLs httpx would
    build, keep query parameters and per-request headers, and never send back a cookie."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={}, headers={"Set-Cookie": "session=abc; Path=/"})

    transport = httpx.MockTransport(handler)
    async with make_http(transport=transport, base_url="http://items.test/api/v1/") as http:
        await http.request("GET", "/items", params={"q": "a b", "limit": 5})
        await http.request("GET", "/items", headers={"X-Trace": "1"})
        await http.request("POST", "items/7/publish", json={"x": 1}, idempotent=True)
    urls = [str(r.url) for r in seen]
    assert urls == [
        "http://items.test/api/v1/items?q=a+b&limit=5",
        "http://items.test/api/v1/items",
        "http://items.test/api/v1/items/7/publish",
    ]
    assert seen[1].headers["X-Trace"] == "1"
    assert "X-Trace" not in seen[2].headers
    assert all("cookie" not in r.headers for r in seen)
    assert seen[2].content == b'{"x":1}'


async def test_a_failed_token_fetch_before_a_create_is_retried_like_a_refused_connection() -> None:
    """RequestNotSentError (nothing reached the portal, e.g. its token endpoint was down) lets
    even a non-idempotent create be retried by the HTTP layer."""
    error = RequestNotSentError("token endpoint unavailable (503)", portal="items")
    assert RetryPolicy().wait(error, 1, safe_to_resend=False) is not None


_BASES = [
    "http://items.test/api/v1/",
    "http://items.test/api/v1",
    "https://h.example:8443",
    "http://h/ä/",
]
_PATHS = ["/items", "items", "/items?q=a b&x=1", "/l/abc%20def/images", "/a/ö/b", "", "/", "/x;y=1"]


@pytest.mark.parametrize("base_url", _BASES)
async def test_joined_urls_equal_httpx_clients_joins(base_url: str) -> None:
    """PortalHttp joins paths to its base URL by text (one parse); every join equals the URL
    `httpx.AsyncClient(base_url=...)` builds for the same path."""
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    async with httpx.AsyncClient(base_url=base_url) as client:
        expected = [client.build_request("GET", path).url for path in _PATHS]
        async with make_http(transport=transport, base_url=base_url) as http:
            joined = [http.requests.url(path) for path in _PATHS]
    assert [str(u) for u in joined] == [str(u) for u in expected]
    assert joined == expected


_BODIES: list[dict[str, Any]] = [
    {},
    {"json": {"title": "Villa ö", "rooms": 3, "tags": ["a", None]}},
    {"json": []},
    {"content": b"raw bytes"},
    {"content": b""},
    {"params": {"q": "a b", "limit": 5}},
    {"json": {"a": 1}, "params": {"x": "1"}},
]
_EXTRA_HEADERS: list[dict[str, str] | None] = [
    None,
    {"X-Trace": "1"},
    {"Content-Type": "application/merge-patch+json"},
    {"Host": "other.example", "Content-Length": "3"},
]


@pytest.mark.parametrize("method", ["GET", "post", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("body", _BODIES)
@pytest.mark.parametrize("extra", _EXTRA_HEADERS)
async def test_built_requests_equal_httpx_clients_requests(
    method: str, body: dict[str, Any], extra: dict[str, str] | None
) -> None:
    """PortalHttp builds requests itself (one header list, no re-parsing); each one has the
    method, URL, headers (in order) and body `httpx.AsyncClient.build_request` gives."""
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    async with make_http(transport=transport, base_url="http://items.test:8080/api/") as http:
        builder = http.requests
        ours = builder.build(method, "/items/7", headers=extra, **body)
        async with httpx.AsyncClient(
            base_url="http://items.test:8080/api/", headers=builder.headers
        ) as client:
            theirs = client.build_request(method, "/items/7", headers=extra, **body)
    assert (ours.method, ours.url) == (theirs.method, theirs.url)
    assert ours.headers.raw == theirs.headers.raw
    assert ours.content == theirs.content
