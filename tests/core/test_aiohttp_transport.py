"""listsync's aiohttp-backed httpx transport over real sockets: answers, gzip, and which
failures prove that nothing was sent."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from listsync._aiohttp import AiohttpTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Serve = Callable[[Handler], Awaitable[str]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    return head + (await reader.readexactly(length) if length else b"")


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> str:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_sends_the_request_and_returns_a_read_response(serve: Serve) -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await _read_request(reader))
        body = gzip.compress(b'{"id": "7"}')
        writer.write(
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            b"X-Request-Id: r-1\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        )
        await writer.drain()
        writer.close()

    base = await serve(handler)
    transport = AiohttpTransport()
    request = httpx.Request(
        "POST", f"{base}/items?q=a%20b", json={"title": "Villa"}, headers={"X-A": "1"}
    )
    response = await transport.handle_async_request(request)
    await transport.aclose()
    assert response.status_code == 201
    assert response.reason_phrase == "Created"
    assert response.json() == {"id": "7"}  # Content-Encoding decoded by httpx
    assert response.headers["x-request-id"] == "r-1"
    assert response.request is request
    (raw,) = seen
    assert raw.startswith(b"POST /items?q=a%20b HTTP/1.1\r\n")
    assert b"\r\nx-a: 1\r\n" in raw.lower()
    assert raw.endswith(b'{"title":"Villa"}')


async def test_a_refused_connection_is_a_connect_error() -> None:
    """Nothing can have been sent: ConnectError, which lets even a create be retried."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = AiohttpTransport()
    with pytest.raises(httpx.ConnectError) as caught:
        await transport.handle_async_request(httpx.Request("POST", f"http://127.0.0.1:{port}/x"))
    await transport.aclose()
    assert caught.value.__cause__ is not None


async def test_a_connection_dropped_after_the_request_is_not_a_connect_error(serve: Serve) -> None:
    """The server read the request and hung up: it may have acted on it."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.close()

    base = await serve(handler)
    transport = AiohttpTransport()
    with pytest.raises(httpx.TransportError) as caught:
        await transport.handle_async_request(httpx.Request("POST", f"{base}/x", json={}))
    await transport.aclose()
    assert isinstance(caught.value, httpx.RemoteProtocolError)


async def test_a_url_without_scheme_is_unsupported() -> None:
    transport = AiohttpTransport()
    with pytest.raises(httpx.UnsupportedProtocol):
        await transport.handle_async_request(httpx.Request("GET", "items.test/x"))
    await transport.aclose()
