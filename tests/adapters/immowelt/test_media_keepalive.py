"""Media from a trusted host (the mirror) go over kept-alive connections, still capped.

Media from hosts that are checked are pinned to the checked address on a connection of their
own (tests/reliability/test_ssrf.py). The mirror and `media_allowed_hosts` are never pinned, so
a batch that uploads thousands of images from its mirror reuses connections instead of opening
one per image (benchmarks/README.md: the media fetches were the largest regression of the
session's CPU per request). Every server here listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from listsync._aiohttp import AiohttpTransport
from listsync.config import parse_portal_config
from listsync.http import PortalHttp, default_transport
from listsync_immowelt import ImmoweltAccount, ImmoweltAdapter, ImmoweltSettings
from listsync_immowelt._media import GuardedTransport, MediaPolicy, MediaRefusedError, fetch_media
from listsync_immowelt.errors import map_error
from listsync_immowelt.sandbox import ImmoweltSandbox

JPEG = b"\xff\xd8\xff" + b"x" * 61


class Mirror:
    """A keep-alive HTTP/1.1 server answering every GET with `body`; counts connections."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.connections = 0
        self.requests = 0
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                self.requests += 1
                head = (
                    "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(self.body)}\r\n\r\n"
                )
                writer.write(head.encode() + self.body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def mirror(body: bytes = JPEG) -> AsyncIterator[Mirror]:
    served = Mirror(body)
    server = await asyncio.start_server(served._serve, "127.0.0.1", 0)
    served.port = server.sockets[0].getsockname()[1]
    async with server:
        yield served


class MustNotConnect(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"the pinned transport was asked for {request.url}")


async def no_resolver(host: str, port: int) -> list[str]:
    raise AssertionError(f"a trusted host was resolved: {host}")


def policy(port: int, *, max_bytes: int = 1024) -> MediaPolicy:
    return MediaPolicy.build(
        allow_private=False,
        allowed_hosts=(),
        mirror=f"http://127.0.0.1:{port}/_mirror",
        max_bytes=max_bytes,
        content_types=("image/*",),
    )


def media_http(transport: httpx.AsyncBaseTransport, max_bytes: int = 1024) -> PortalHttp:
    return PortalHttp(
        portal="immowelt",
        account="default",
        base_url="http://127.0.0.1:9",
        error_mapper=map_error,
        transport=transport,
        max_attempts=1,
        max_response_bytes=max_bytes,
    )


async def test_trusted_host_goes_through_the_trusted_transport() -> None:
    async with mirror() as served:
        rules = policy(served.port)
        guarded = GuardedTransport(
            MustNotConnect(), rules, no_resolver, trusted=default_transport(4)
        )
        async with media_http(guarded) as http:
            for n in range(3):
                url = f"http://127.0.0.1:{served.port}/_mirror/img/{n}.jpg"
                content, kind = await fetch_media(http, url, rules)
                assert (content, kind) == (JPEG, "image/jpeg")
    assert served.requests == 3
    assert served.connections == 1


async def test_trusted_answer_over_the_cap_is_refused() -> None:
    async with mirror(b"\xff\xd8" + b"y" * 4000) as served:
        rules = policy(served.port, max_bytes=1000)
        trusted = default_transport(4, max_response_bytes=1000)
        guarded = GuardedTransport(MustNotConnect(), rules, no_resolver, trusted=trusted)
        async with media_http(guarded, max_bytes=1000) as http:
            url = f"http://127.0.0.1:{served.port}/_mirror/big.jpg"
            with pytest.raises(MediaRefusedError, match="larger than 1000 bytes"):
                await fetch_media(http, url, rules)


def adapter_without_transports(port: int, **overrides: Any) -> ImmoweltAdapter:
    sandbox = ImmoweltSandbox()
    table = {
        **sandbox.client_settings("http://127.0.0.1:9/v1"),
        "media_mirror": f"http://127.0.0.1:{port}/_mirror",
        **overrides,
    }
    config = parse_portal_config("immowelt", table, ImmoweltSettings, ImmoweltAccount)
    settings, account = config.settings, config.accounts["default"]
    assert isinstance(settings, ImmoweltSettings)
    assert isinstance(account, ImmoweltAccount)
    return ImmoweltAdapter(settings, account)


async def test_adapter_fetches_mirror_media_over_one_connection() -> None:
    """Before: the adapter's default media transport opened a connection per image."""
    async with mirror() as served:
        adapter = adapter_without_transports(served.port)
        try:
            for n in range(4):
                url = f"http://127.0.0.1:{served.port}/_mirror/cdn.example.org/{n}.jpg"
                content, _ = await fetch_media(adapter._media_http, url, adapter.media_policy)
                assert content == JPEG
        finally:
            await adapter.aclose()
    assert served.requests == 4
    assert served.connections == 1


class LeanOnly(AiohttpTransport):
    """listsync's transport that fails the test when asked through httpx's objects."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"an httpx.Request was built for {request.url}")


async def test_trusted_media_take_the_lean_path() -> None:
    """Before: `GuardedTransport` had no lean path, so every mirror download built an
    `httpx.Request` and two `httpx.Response`s (the largest httpx share of the apply profile)."""
    async with mirror() as served:
        rules = policy(served.port)
        guarded = GuardedTransport(MustNotConnect(), rules, no_resolver, trusted=LeanOnly())
        async with media_http(guarded) as http:
            for n in range(2):
                url = f"http://127.0.0.1:{served.port}/_mirror/img/{n}.jpg"
                assert await fetch_media(http, url, rules) == (JPEG, "image/jpeg")
    assert served.requests == 2


async def test_lean_trusted_answer_over_the_cap_is_refused_even_by_an_uncapped_transport() -> None:
    async with mirror(b"\xff\xd8" + b"z" * 3000) as served:
        rules = policy(served.port, max_bytes=1000)
        guarded = GuardedTransport(MustNotConnect(), rules, no_resolver, trusted=LeanOnly())
        async with media_http(guarded, max_bytes=10_000) as http:
            url = f"http://127.0.0.1:{served.port}/_mirror/big.jpg"
            with pytest.raises(MediaRefusedError, match="larger than 1000 bytes"):
                await fetch_media(http, url, rules)


async def test_untrusted_host_on_the_lean_path_is_still_checked_and_pinned() -> None:
    """A host the policy does not trust goes through the address check and the pinned
    transport, also when `PortalHttp` hands the request over as plain values."""
    seen: list[httpx.Request] = []

    class Pinned(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200, headers={"Content-Type": "image/jpeg"}, content=JPEG)

    async def resolver(host: str, port: int) -> list[str]:
        return {"cdn.example.org": ["93.184.216.34"], "evil.example.org": ["10.0.0.5"]}[host]

    rules = policy(9)
    guarded = GuardedTransport(Pinned(), rules, resolver, trusted=LeanOnly())
    async with media_http(guarded) as http:
        assert http._lean is not None
        content, _ = await fetch_media(http, "https://cdn.example.org/a.jpg", rules)
        assert content == JPEG
        with pytest.raises(MediaRefusedError, match="private"):
            await fetch_media(http, "https://evil.example.org/b.jpg", rules)
    assert len(seen) == 1
    assert str(seen[0].url) == "https://93.184.216.34/a.jpg"
    assert seen[0].headers["Host"] == "cdn.example.org"
    assert seen[0].extensions["sni_hostname"] == "cdn.example.org"
    assert seen[0].headers["Accept-Encoding"] == "identity"
