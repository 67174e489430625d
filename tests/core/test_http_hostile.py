"""Hostile or broken answers are contained: a capped body, a deadline for the whole answer,
and answers of the wrong shape become one-line portal errors (over real loopback sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from listsync.errors import PortalBugError, TransientError, UnknownOutcomeError

from .conftest import make_http

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"


async def _read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))


def _huge(*, declared: bool) -> Handler:
    """Answers 200 with a 50 MB body, with or without a Content-Length header."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        size = 50 * 1024 * 1024
        chunk = b"x" * (1024 * 1024)
        if declared:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
            writer.write(f"Content-Length: {size}\r\n\r\n".encode())
        else:
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
            )
        try:
            for _ in range(50):
                writer.write(chunk)
                await writer.drain()
        except ConnectionError:
            pass  # the client stopped reading, as it should
        writer.close()

    return handler


@pytest.fixture(params=[True, False], ids=["declared", "streamed"])
async def huge(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    async for url in _serve(_huge(declared=request.param)):
        yield url


async def test_an_oversized_answer_is_a_portal_error_not_a_memory_hog(huge: str) -> None:
    """A 50 MB answer stops being read at `max_response_bytes`: a GET fails with a portal error,
    a create with an unknown outcome (it may have landed; the engine looks it up)."""
    async with make_http(base_url=huge, max_response_bytes=1024 * 1024, max_attempts=1) as http:
        with pytest.raises(PortalBugError, match="larger than 1048576 bytes"):
            await http.request("GET", "/items/1")
    async with make_http(base_url=huge, max_response_bytes=1024 * 1024, max_attempts=1) as http:
        with pytest.raises(UnknownOutcomeError, match="larger than"):
            await http.request("POST", "/items", json={})


async def _trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Sends its headers, then one byte of the body every 0.2 s, for ever."""
    await _read_request(reader)
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    try:
        while True:
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.2)
    except (ConnectionError, asyncio.CancelledError):
        writer.close()


async def test_a_trickling_server_cannot_hold_a_request_past_its_deadline() -> None:
    """Every byte arrives within the socket read timeout, but the whole answer does not come
    within `timeout`: the attempt ends there (a transient error for an idempotent request)."""
    async for url in _serve(_trickle):
        async with make_http(base_url=url, timeout=1.0, max_attempts=2) as http:
            with pytest.raises(TransientError, match="no complete answer within 1 s"):
                await http.request("GET", "/items/1")
            with pytest.raises(UnknownOutcomeError, match="no complete answer"):
                await http.request("POST", "/items", json={})


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        (b"<html><body>Service Unavailable</body></html>", "text/html", "not JSON"),
        (b'{"items": [1, 2', "application/json", "not JSON"),
        (b"[1, 2, 3]", "application/json", "JSON list where an object was expected"),
    ],
)
async def test_answers_of_the_wrong_shape_are_one_line_portal_errors(
    body: bytes, content_type: str, says: str
) -> None:
    """HTML with status 200, a truncated body, a list instead of an object: a PortalBugError
    naming the portal, the request, the status and an excerpt of the body."""

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Type": content_type, "X-Request-Id": "req-42"}
        return httpx.Response(200, content=body, headers=headers)

    transport = httpx.MockTransport(handler)
    async with make_http(transport=transport, request_id_header="X-Request-Id") as http:
        answer = await http.request("GET", "/items/1")
    with pytest.raises(PortalBugError) as caught:
        answer.json_object()
    message = str(caught.value)
    assert says in message
    assert "GET /items/1" in message
    assert "request id req-42" in message
    assert "\n" not in message
    with pytest.raises(PortalBugError, match="without 'id'"):
        answer.field({}, "id")
