"""The lean HTTP path (listsync's transport, no auth or a `HeaderAuth`) sends what the httpx
path sends and hands back the same answers.

Both paths go over loopback to a small HTTP/1.1 server that records each request's head and
body: the lean one because the client's auth is a `HeaderAuth` (or none), the httpx one
because its auth is a plain `httpx.Auth` doing the same thing.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncGenerator, AsyncIterator, Generator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from listsync.errors import NotFoundError, PortalError
from listsync.http import HeaderAuth, PortalHttp, Response, error_from_status


class Recorder:
    """Answers every request; records (method, target, headers lower-cased, body)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, list[tuple[str, str]], bytes]] = []
        self.port = 0
        self.unauthorized_once: set[str] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = []
                for line in lines[1:]:
                    if line:
                        name, value = line.split(":", 1)
                        headers.append((name.strip().lower(), value.strip()))
                length = int(dict(headers).get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                self.seen.append((method, target, headers, body))
                writer.write(self.answer(target, dict(headers)))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def answer(self, target: str, headers: dict[str, str]) -> bytes:
        status, extra, body = "200 OK", "", b'{"ok": true, "name": "Villa \\u00e5"}'
        if target.endswith("/gone"):
            status, body = "404 Not Found", b'{"error": "gone"}'
        elif target.endswith("/zipped"):
            extra, body = "Content-Encoding: gzip\r\n", gzip.compress(b'{"zipped": 1}')
        elif target.endswith("/twice") and target not in self.unauthorized_once:
            self.unauthorized_once.add(target)
            status = "401 Unauthorized"
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"X-Request-Id: r-{len(self.seen)}\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body


@asynccontextmanager
async def recorder() -> AsyncIterator[Recorder]:
    served = Recorder()
    server = await asyncio.start_server(served.serve, "127.0.0.1", 0)
    served.port = server.sockets[0].getsockname()[1]
    async with server:
        yield served


class LeanBearer(HeaderAuth):
    """Bearer token; a 401 is answered by one resend with a second token."""

    def __init__(self) -> None:
        self.statuses: list[int] = []

    async def header_flow(self, headers: MutableMapping[str, str]) -> AsyncGenerator[None, int]:
        headers["Authorization"] = "Bearer one"
        status = yield
        self.statuses.append(status)
        if status == 401:
            headers["authorization"] = "Bearer two"
            self.statuses.append((yield))


class HttpxBearer(httpx.Auth):
    """The same flow as a plain `httpx.Auth` (which `PortalHttp` drives with httpx's objects)."""

    def __init__(self) -> None:
        self.statuses: list[int] = []

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = "Bearer one"
        response = yield request
        self.statuses.append(response.status_code)
        if response.status_code == 401:
            request.headers["authorization"] = "Bearer two"
            self.statuses.append((yield request).status_code)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("async only")


def mapper(response: Response) -> PortalError:
    return error_from_status(response, portal="items", message=f"HTTP {response.status}")


def client(port: int, auth: httpx.Auth | None) -> PortalHttp:
    return PortalHttp(
        portal="items",
        account="default",
        base_url=f"http://127.0.0.1:{port}/api/v1",
        error_mapper=mapper,
        auth=auth,
        headers={"X-Client": "bench"},
        request_id_header="X-Request-Id",
        max_attempts=1,
    )


CALLS: list[dict[str, Any]] = [
    {"method": "GET", "path": "/items/1"},
    {"method": "POST", "path": "/items", "json": {"title": "Villa å", "n": [1, 2.5, None]}},
    {"method": "POST", "path": "/items/1/publish"},
    {"method": "put", "path": "items/1", "json": {"a": 1}, "headers": {"content-type": "x/y"}},
    {"method": "PATCH", "path": "/items/1", "json": {}, "headers": {"X-Client": "other"}},
    {"method": "DELETE", "path": "/items/1"},
    {"method": "POST", "path": "/upload", "content": b"\x00\x01raw"},
    {"method": "PUT", "path": "/upload", "content": b""},
    {"method": "GET", "path": "/items/%C3%A5?x=1#frag"},
    {"method": "GET", "path": "/items/zipped"},
    {"method": "GET", "path": "/items", "params": {"limit": 100, "offset": 0, "ref": "a-1_b.c~"}},
    {"method": "GET", "path": "/items", "params": {"q": "a b/å", "on": True, "n": 1.5}},
    {"method": "GET", "path": "/items?x=1", "params": {"limit": 2}},
    {"method": "GET", "path": "/items", "params": {}},
    {"method": "GET", "path": "/items/twice"},  # last: answered 401 once (auth only)
]


def comparable(seen: list[tuple[str, str, list[tuple[str, str]], bytes]]) -> list[Any]:
    """Requests with their headers sorted (aiohttp orders the ones it adds differently) and
    names lower-cased (header names ignore case; the httpx path sends them lower-cased)."""
    return [(m, t, sorted(h), b) for m, t, h, b in seen]


@pytest.mark.parametrize(("lean", "plain"), [(LeanBearer, HttpxBearer), (None, httpx.Auth)])
async def test_lean_path_sends_and_answers_as_the_httpx_path(lean: Any, plain: Any) -> None:
    answers: dict[str, list[tuple[int, dict[str, str], Any, str | None]]] = {}
    seen = {}
    async with recorder() as served:
        for name, auth in (("lean", lean and lean()), ("httpx", plain and plain())):
            served.seen.clear()
            served.unauthorized_once.clear()
            async with client(served.port, auth) as http:
                assert (http._lean is not None) == (name == "lean")
                got = answers.setdefault(name, [])
                for call in CALLS if lean is not None else CALLS[:-1]:
                    response = await http.request(**call)
                    got.append(
                        (
                            response.status,
                            {k: response.headers[k] for k in ("content-type", "Set-Cookie")},
                            response.json(),
                            response.request_id,
                        )
                    )
            seen[name] = comparable(served.seen)
            if isinstance(auth, LeanBearer | HttpxBearer):
                answers[name + " statuses"] = [(s, {}, None, None) for s in auth.statuses]
    assert seen["lean"] == seen["httpx"]
    assert answers["lean"] == answers["httpx"]
    assert answers["lean"][9][2] == {"zipped": 1}  # decoded as httpx decodes it
    if lean is not None:
        assert answers["lean statuses"] == answers["httpx statuses"]
        assert ("authorization", "Bearer two") in seen["lean"][-1][2]


async def test_lean_path_maps_refusals_as_the_httpx_path() -> None:
    for auth in (LeanBearer(), HttpxBearer()):
        async with recorder() as served, client(served.port, auth) as http:
            with pytest.raises(NotFoundError) as caught:
                await http.request("GET", "/items/gone")
        assert caught.value.request_id == "r-1"


async def test_header_auth_works_with_httpx_clients() -> None:
    """`HeaderAuth.async_auth_flow` runs the same flow for any httpx client."""
    auth = LeanBearer()
    async with recorder() as served:
        base = f"http://127.0.0.1:{served.port}"
        async with httpx.AsyncClient(base_url=base, auth=auth) as plain:
            response = await plain.get("/items/twice")
    assert response.status_code == 200
    assert auth.statuses == [401, 200]
    assert [dict(h)["authorization"] for _, _, h, _ in served.seen] == [
        "Bearer one",
        "Bearer two",
    ]


async def test_plain_query_parameters_take_the_lean_path() -> None:
    """Before: any `params` (Hemnet's page limit and offset) sent the request through
    httpx's objects. Plain ones now go the lean way; the others still take the httpx path."""
    from listsync._aiohttp import AiohttpTransport

    class LeanOnly(AiohttpTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            raise AssertionError(f"an httpx.Request was built for {request.url}")

    async with recorder() as served:
        http = PortalHttp(
            portal="items",
            account="default",
            base_url=f"http://127.0.0.1:{served.port}/api/v1",
            error_mapper=mapper,
            transport=LeanOnly(),
            max_attempts=1,
        )
        async with http:
            await http.request("GET", "items", params={"limit": 100, "offset": 0})
            with pytest.raises(AssertionError, match=r"httpx\.Request"):
                await http.request("GET", "items", params={"q": "a b"})
    assert [target for _, target, _, _ in served.seen] == ["/api/v1/items?limit=100&offset=0"]
