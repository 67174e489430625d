"""Every request that reaches the portal is paced (the account's rate, in the process and
across workers), once, right before it is sent: an auth flow's resend after a 401 and a
credential check made inside another request's auth flow included.

Found in the three-worker acceptance run: a 1 s window of a Hemnet account's arrivals held
one request more than its shared rate, two requests a few ms apart early in the run (when the
keys are checked and rotated). The rate was waited for once per request before its auth flow
ran, so a resend of the flow went unpaced, and a request whose flow first made a credential
check was counted before that check and then sent after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Generator, MutableMapping
from contextlib import asynccontextmanager

import httpx
import pytest

import listsync.http
from listsync.errors import PortalError
from listsync.http import HeaderAuth, PortalHttp, Response, error_from_status


@asynccontextmanager
async def portal(events: list[str]) -> AsyncIterator[int]:
    """A loopback server recording each request as `sent <path>` in `events`; a path ending
    in /twice is answered 401 the first time."""
    refused: set[str] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                target = head.split(" ", 2)[1]
                events.append(f"sent {target}")
                status = "200 OK"
                if target.endswith("/twice") and target not in refused:
                    refused.add(target)
                    status = "401 Unauthorized"
                writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\n{{}}".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


class ResendingAuth(HeaderAuth):
    """Bearer token; a 401 is answered by one resend."""

    async def header_flow(self, headers: MutableMapping[str, str]) -> AsyncGenerator[None, int]:
        headers["Authorization"] = "Bearer one"
        if (yield) == 401:
            headers["Authorization"] = "Bearer two"
            yield


class CheckingAuth(HeaderAuth):
    """Checks its key with a request of its own (through the same client) before first use,
    as Hemnet's key check does."""

    def __init__(self) -> None:
        self.http: PortalHttp | None = None

    async def header_flow(self, headers: MutableMapping[str, str]) -> AsyncGenerator[None, int]:
        if self.http is not None:
            http, self.http = self.http, None
            await http.request("GET", "/keys/check")
        headers["Authorization"] = "Bearer one"
        yield


class PlainResendingAuth(httpx.Auth):
    """`ResendingAuth` as a plain `httpx.Auth` (the httpx path)."""

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = "Bearer one"
        if (yield request).status_code == 401:
            request.headers["Authorization"] = "Bearer two"
            yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("async only")


def mapper(response: Response) -> PortalError:
    return error_from_status(response, portal="items", message=f"HTTP {response.status}")


def client(port: int, auth: httpx.Auth) -> PortalHttp:
    return PortalHttp(
        portal="items",
        account="default",
        base_url=f"http://127.0.0.1:{port}",
        error_mapper=mapper,
        auth=auth,
        max_attempts=1,
        requests_per_second=1000,
    )


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What happened, in order: `paced` for each wait for the shared rate, `sent <path>` for
    each request the portal received."""
    seen: list[str] = []

    async def pace(portal: str, account: str, rate: float | None) -> None:
        assert (portal, account, rate) == ("items", "default", 1000)
        seen.append("paced")

    monkeypatch.setattr(listsync.http, "shared_pace", pace)
    return seen


@pytest.mark.parametrize("auth", [ResendingAuth, PlainResendingAuth], ids=["lean", "httpx"])
async def test_a_resend_of_the_auth_flow_is_paced_like_any_request(
    events: list[str], auth: type[httpx.Auth]
) -> None:
    async with portal(events) as port:
        http = client(port, auth())
        try:
            await http.request("GET", "/items/twice")
            await http.request("GET", "/items/once")
        finally:
            await http.aclose()
    assert events == [
        "paced", "sent /items/twice", "paced", "sent /items/twice",
        "paced", "sent /items/once",
    ]  # fmt: skip


async def test_a_credential_check_inside_an_auth_flow_is_paced_before_the_request_it_guards(
    events: list[str],
) -> None:
    auth = CheckingAuth()
    async with portal(events) as port:
        http = client(port, auth)
        auth.http = http
        try:
            await http.request("GET", "/items/1")
        finally:
            await http.aclose()
    assert events == ["paced", "sent /keys/check", "paced", "sent /items/1"]


async def test_the_wait_for_the_rate_does_not_count_against_the_attempts_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pacing happens inside the attempt (after the auth flow) but a long wait for a turn is
    not the portal being slow: the deadline covers the exchange, not the queue."""
    sent: list[str] = []

    async def slow_pace(portal: str, account: str, rate: float | None) -> None:
        await asyncio.sleep(0.3)

    monkeypatch.setattr(listsync.http, "shared_pace", slow_pace)
    async with portal(sent) as port:
        http = PortalHttp(
            portal="items",
            account="default",
            base_url=f"http://127.0.0.1:{port}",
            error_mapper=mapper,
            auth=ResendingAuth(),
            max_attempts=1,
            timeout=0.2,
        )
        try:
            answer = await http.request("GET", "/items/twice")
        finally:
            await http.aclose()
    assert answer.status == 200
    assert sent == ["sent /items/twice", "sent /items/twice"]
