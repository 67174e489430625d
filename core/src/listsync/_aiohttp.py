"""An httpx transport that sends through aiohttp and reads each answer whole.

httpx's own connection pool spends CPU that grows with concurrency (benchmarks/README.md),
so listsync keeps httpx's request and response types (adapters, auth flows, error mappers and
cassettes all speak them) and hands the wire to aiohttp. `httpx-aiohttp` did the same with a
streaming response over aiohttp's; portal answers are small JSON documents, so this transport
reads the body in one call and hands httpx a complete response, which measured ~0.1 ms CPU
less per request on a batch run (benchmarks/README.md, "apply_throughput").

`exchange` sends the same way without httpx's objects (plain URL, header pairs, body; the
answer as status, raw headers and body): `PortalHttp`'s lean path.

Errors: aiohttp's exceptions become httpx's, with the aiohttp exception as `__cause__`. A
failure to open a connection (refused, DNS, connect or pool timeout) is `httpx.ConnectError`,
which the HTTP layer takes as proof that nothing was sent; a connection dropped after the
request went out is `httpx.RemoteProtocolError`, which proves nothing.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp
import httpx
import yarl
from typing_extensions import override

from listsync._requests import AnswerTooLargeError

__all__ = ["AiohttpTransport", "RawHeaders"]

RawHeaders = tuple[tuple[bytes, bytes], ...]
"""An answer's headers as received: (name, value) pairs of bytes."""
_URL_CACHE_SIZE = 4096

# Most specific first: the first match wins.
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ConnectionTimeoutError, httpx.ConnectError),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientConnectionError, httpx.ReadError),
    (TimeoutError, httpx.ReadTimeout),
)


def _httpx_error(exc: BaseException, request: httpx.Request | None) -> httpx.TransportError | None:
    for aiohttp_type, httpx_type in _ERRORS:
        if isinstance(exc, aiohttp_type):
            return httpx_type(f"{type(exc).__name__}: {exc}", request=request)
    return None


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (created on first use, in the running loop) behind httpx's API.

    Args:
        max_connections: the connection pool's size (all hosts together).
        verify: an SSL context, or False to skip certificate checks (True: the system's).
        max_response_bytes: stop reading an answer larger than this (AnswerTooLargeError),
            so a hostile or broken server cannot fill memory.
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        verify: ssl.SSLContext | bool = True,
        max_response_bytes: int | None = None,
    ):
        self._max_connections = max_connections
        self._max_bytes = max_response_bytes
        self._ssl = verify
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[Any, ...], aiohttp.ClientTimeout] = {}
        self._urls: dict[str, yarl.URL] = {}

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self._max_connections, ssl=self._ssl)
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # no portal here uses cookies
            trust_env=False,
            auto_decompress=False,  # httpx's response decodes Content-Encoding itself
        )
        return self._session

    def _timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        """httpx's timeout extension as aiohttp's (one object per distinct setting)."""
        return self._timeout_of(request.extensions.get("timeout", {}))

    def _timeout_of(self, given: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
        key = (given.get("connect"), given.get("read"), given.get("pool"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(sock_connect=key[0], sock_read=key[1], connect=key[2])
            self._timeouts[key] = timeout
        return timeout

    async def exchange(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        timeout: Mapping[str, float | None],
    ) -> tuple[int, RawHeaders, bytes]:
        """One request without httpx's objects: (status, raw headers, the whole body).

        The same call to aiohttp as `handle_async_request`, for `PortalHttp`'s lean path.
        `url` is percent-encoded already; `headers` are sent as given (aiohttp adds Host and
        Content-Length as httpx would); `timeout` is httpx's timeout extension. Errors are
        httpx's, as from `handle_async_request`.
        """
        session = self._session or self._open()
        target = self._urls.get(url)
        if target is None:
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()
            target = self._urls[url] = yarl.URL(url, encoded=True)
        try:
            async with session.request(
                method,
                target,
                data=body or None,
                headers=headers,
                allow_redirects=False,
                timeout=self._timeout_of(timeout),
            ) as answer:
                return answer.status, answer.raw_headers, await self._read(answer, None)
        except Exception as exc:
            mapped = _httpx_error(exc, None)
            if mapped is None:
                raise
            raise mapped from exc

    @override
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        body = await request.aread()  # listsync's bodies are bytes already: no copy
        try:
            async with session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),  # httpx has percent-encoded it
                data=body or None,
                headers=request.headers.multi_items(),
                allow_redirects=False,
                timeout=self._timeout(request),
            ) as answer:
                content = await self._read(answer, request)
                status, headers, reason = answer.status, answer.raw_headers, answer.reason
        except Exception as exc:
            mapped = _httpx_error(exc, request)
            if mapped is None:
                raise
            raise mapped from exc
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if reason:
            extensions["reason_phrase"] = reason.encode()
        return httpx.Response(
            status, headers=headers, content=content, request=request, extensions=extensions
        )

    async def _read(self, answer: aiohttp.ClientResponse, request: httpx.Request | None) -> bytes:
        """The whole body, or AnswerTooLargeError once it passes `max_response_bytes`."""
        limit = self._max_bytes
        if limit is None:
            return await answer.read()
        declared = answer.content_length
        if declared is not None:
            if declared > limit:
                raise AnswerTooLargeError(f"answer of {declared} bytes", request=request)
            # aiohttp reads no further than the declared length: the cap holds in one read
            return await answer.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in answer.content.iter_chunked(65536):
            size += len(chunk)
            if size > limit:
                raise AnswerTooLargeError(f"answer over {limit} bytes", request=request)
            chunks.append(chunk)
        return b"".join(chunks)

    @override
    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
