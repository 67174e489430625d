"""Fetching a listing's media bytes safely (no server-side request forgery).

Without a `media_mirror`, the adapter downloads each media URL a listing names and uploads the
bytes to Immowelt, so a listing could make it read an internal service (a cloud metadata
endpoint, an admin page on loopback) and publish the answer. So a media URL is fetched only:

- over http or https;
- from public addresses: the host is resolved first (through `Resolver`, replaceable in tests)
  and refused when any address is loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7),
  link-local (169.254/16 with 169.254.169.254, fe80::/10), multicast, reserved, unspecified or
  otherwise not global (IPv4 inside IPv6 forms is judged as IPv4). The connection then goes to
  the address that was checked (the URL's host is replaced by it; `Host` and the TLS server
  name stay the host's), so no second DNS answer can slip in between check and connect;
- following at most `MAX_REDIRECTS` redirects by hand, each hop checked the same way;
- up to `media_max_bytes` (Immowelt's media limit is 40 MB), with a content type among
  `media_content_types` (Immowelt takes images, videos and other files; the default admits
  images, videos and PDF).

Trusted without the address check (the transport connects as it would anyway): the host of
`media_mirror` (the operator named it) and the hosts in `media_allowed_hosts`; addresses in a
network listed there (`"10.1.0.0/16"`) pass the check. `media_allow_private = true` turns the
address check off altogether: for tests and closed networks only.

A refused URL is a `MediaRefusedError`, which the adapter reports as an issue at
`media[i].url` (the listing is blocked; nothing of it reaches the portal).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from listsync.http import AnswerTooLargeError, PortalHttp

__all__ = [
    "MAX_REDIRECTS",
    "GuardedTransport",
    "MediaPolicy",
    "MediaRefusedError",
    "Resolver",
    "address_refusal",
    "fetch_media",
    "literal_address",
    "system_resolver",
]

MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# `http(s)://host` then the end, a path, a query or a fragment: `urlsplit` would find exactly
# this host (no userinfo, port, brackets, percent signs or characters it strips).
_PLAIN_URL = re.compile(r"https?://(?P<host>[A-Za-z0-9.-]+)(?:[/?#]|\Z)")
# The same with an optional port: the host of a URL `PortalHttp` built (already normalised).
_PLAIN_URL_PORT = re.compile(r"https?://(?P<host>[A-Za-z0-9.-]+)(?::[0-9]{1,5})?(?:[/?#]|\Z)")

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""`(host, port) -> the host's addresses as text`; raises `OSError` when it cannot resolve."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the operating system resolves `host` to (TCP)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class MediaRefusedError(Exception):
    """A media URL that is not fetched; the message says why (no secret in it)."""


def _embedded_v4(address: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped, 6to4 or Teredo IPv6 address, else `address`."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return address


def literal_address(host: str) -> IPAddress | None:
    """`host` as an address when it is one, in any form a resolver would take without asking
    DNS (`127.1`, `2130706433`, `0x7f000001` are 127.0.0.1); None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def address_refusal(address: IPAddress) -> str | None:
    """Why `address` is not a public one (`"loopback"`, `"private"`, ...), None if it is."""
    for each in dict.fromkeys((_embedded_v4(address), address)):
        for kind, bad in (
            ("loopback", each.is_loopback),
            ("link-local", each.is_link_local),
            ("multicast", each.is_multicast),
            ("unspecified", each.is_unspecified),
            ("reserved", each.is_reserved),
            ("private", each.is_private),
            ("non-public", not each.is_global),
        ):
            if bad:
                return kind
    return None


_last_plain: tuple[object, str, str | None] = (None, "", None)
"""The policy, `scheme://host/` and verdict of the last plain URL `offline_refusal` judged: a
listing's media share one host (asking again hashed the policy for the cache every time)."""


@dataclass(frozen=True)
class MediaPolicy:
    """What may be fetched (see the module docstring)."""

    allow_private: bool = False
    trusted_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    max_bytes: int = 40 * 1024 * 1024
    content_types: tuple[str, ...] = ("image/*", "video/*", "application/pdf")

    @classmethod
    def build(
        cls,
        *,
        allow_private: bool,
        allowed_hosts: Iterable[str],
        mirror: str | None,
        max_bytes: int,
        content_types: Iterable[str],
    ) -> MediaPolicy:
        hosts: set[str] = set()
        networks = []
        for entry in allowed_hosts:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.strip().lower().rstrip("."))
        if mirror:
            host = urlsplit(mirror).hostname
            if host:
                hosts.add(host.lower().rstrip("."))
        return cls(
            allow_private=allow_private,
            trusted_hosts=frozenset(hosts),
            allowed_networks=tuple(networks),
            max_bytes=max_bytes,
            content_types=tuple(t.lower() for t in content_types),
        )

    def trusts(self, host: str) -> bool:
        return self.allow_private or host.lower().rstrip(".") in self.trusted_hosts

    def refusal(self, address: IPAddress) -> str | None:
        """Why the policy refuses `address`, None when it may be fetched from."""
        if any(address in network for network in self.allowed_networks):
            return None
        return address_refusal(address)

    def accepts(self, content_type: str) -> bool:
        kind = content_type.split(";", 1)[0].strip().lower()
        for allowed in self.content_types:
            if (allowed.endswith("/*") and kind.startswith(allowed[:-1])) or kind == allowed:
                return True
        return False

    def offline_refusal(self, url: str) -> str | None:
        """What can be told without I/O: the scheme, and a host that is an IP address or
        `localhost`. The rest is checked when the URL is fetched.

        A plain `http(s)://host/...` URL (host of letters, digits, dots and hyphens) takes its
        host without `urlsplit`, and the verdict is kept per host: a listing names the same
        image host for every image (`_host_refusal`).
        """
        global _last_plain  # noqa: PLW0603  (one tuple, replaced whole: safe across threads)
        policy, prefix, verdict = _last_plain
        if policy is self and url.startswith(prefix):
            return verdict
        plain = _PLAIN_URL.match(url)
        if plain is not None:
            verdict = self._host_refusal(plain["host"].lower().rstrip("."))
            if plain[0].endswith("/"):  # any URL that starts so has this host
                _last_plain = (self, plain[0], verdict)
            return verdict
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS:
            return f"only http and https URLs are fetched, not {parts.scheme or 'this'}"
        return self._host_refusal((parts.hostname or "").lower().rstrip("."))

    def offline_refusals(self, urls: Iterable[str]) -> list[tuple[int, str]]:
        """`(i, offline_refusal(url))` for each refused URL of `urls`, in order.

        `offline_refusal`'s first test is made here, inline: a listing's media share a host,
        so most of its URLs start with the prefix the previous call kept.
        """
        out: list[tuple[int, str]] = []
        policy, prefix, verdict = _last_plain
        if policy is not self:
            prefix = ""
        for index, url in enumerate(urls):
            if prefix and url.startswith(prefix):
                reason = verdict
            else:
                reason = self.offline_refusal(url)
                policy, prefix, verdict = _last_plain
                if policy is not self:
                    prefix = ""
            if reason is not None:
                out.append((index, reason))
        return out

    @functools.lru_cache(maxsize=4096)  # noqa: B019  (policies live as long as their adapter)
    def _host_refusal(self, host: str) -> str | None:
        """`offline_refusal` for a URL of an accepted scheme with this (lowercase) host."""
        if not host or self.trusts(host):
            return None
        if host == "localhost" or host.endswith(".localhost"):
            return f"{host} is a loopback name"
        address = literal_address(host)
        if address is None:
            return None
        reason = self.refusal(address)
        return None if reason is None else f"{host} is a {reason} address"


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks where each request goes before `inner` connects (see the module docstring).

    Args:
        inner: the transport that connects (tests: one that fails if ever asked to).
        policy: what may be fetched.
        resolver: how host names are resolved.
        trusted: sends the requests to trusted hosts (the mirror, `media_allowed_hosts`), which
            are never pinned to an address, so its connections may be kept alive (default:
            `inner`). It must read answers whole and stop past `policy.max_bytes` with
            `AnswerTooLargeError`, as `listsync.http.default_transport` does.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        policy: MediaPolicy,
        resolver: Resolver,
        *,
        trusted: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._inner = inner
        self._policy = policy
        self._resolve = resolver
        self._trusted = trusted

    async def exchange(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        timeout: Mapping[str, float | None],
    ) -> tuple[int, Any, bytes]:
        """`PortalHttp`'s lean path (plain values in, status, raw headers and body out).

        A trusted host (the mirror) over a `trusted` transport that has a lean path of its own
        goes there without httpx's objects, still capped; everything else is checked and sent
        as `handle_async_request` does, from an `httpx.Request` built of the same values.
        """
        trusted = self._trusted
        lean = getattr(trusted, "exchange", None)
        if lean is not None:
            plain = _PLAIN_URL_PORT.match(url)
            host = plain["host"] if plain is not None else None
            if host is not None and self._policy.trusts(host):
                limit = self._policy.max_bytes
                try:
                    status, raw, data = await lean(method, url, headers, body, timeout)
                except AnswerTooLargeError:
                    raise MediaRefusedError(f"larger than {limit} bytes") from None
                if len(data) > limit:
                    raise MediaRefusedError(f"larger than {limit} bytes")
                return status, raw, data
        request = httpx.Request(
            method, url, headers=headers, content=body, extensions={"timeout": dict(timeout)}
        )
        response = await self.handle_async_request(request)
        return response.status_code, response.headers.raw, response.content

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in _DEFAULT_PORTS:
            raise MediaRefusedError(f"only http and https URLs are fetched, not {url.scheme}")
        host = url.host
        if not self._policy.trusts(host):
            request = await self._pinned(request, host)
        elif self._trusted is not None:
            try:
                response = await self._trusted.handle_async_request(request)
            except AnswerTooLargeError:
                raise MediaRefusedError(f"larger than {self._policy.max_bytes} bytes") from None
            return await self._read_capped(response, request)
        response = await self._inner.handle_async_request(request)
        return await self._read_capped(response, request)

    async def _pinned(self, request: httpx.Request, host: str) -> httpx.Request:
        """`request` sent to the checked address of `host` (Host and TLS name unchanged)."""
        url = request.url
        literal = literal_address(host)
        if literal is not None:
            addresses = [literal]
        else:
            port = url.port or _DEFAULT_PORTS[url.scheme]
            try:
                found = await self._resolve(host, port)
            except OSError as exc:
                raise httpx.ConnectError(f"cannot resolve {host}: {exc}", request=request) from exc
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
        if not addresses:
            raise httpx.ConnectError(f"cannot resolve {host}", request=request)
        for address in addresses:
            reason = self._policy.refusal(address)
            if reason is not None:
                raise MediaRefusedError(f"{host} resolves to a {reason} address ({address})")
        headers = request.headers.copy()
        headers["Host"] = url.netloc.decode("ascii")
        extensions: dict[str, Any] = dict(request.extensions)
        if url.scheme == "https":
            extensions["sni_hostname"] = host
        return httpx.Request(
            request.method,
            url.copy_with(host=str(addresses[0])),
            headers=headers,
            content=await request.aread(),
            extensions=extensions,
        )

    async def _read_capped(
        self, response: httpx.Response, request: httpx.Request
    ) -> httpx.Response:
        """The whole answer, refused once it passes the size cap (never read further)."""
        limit = self._policy.max_bytes
        try:
            declared = int(response.headers.get("Content-Length", "0"))
            if declared > limit:
                raise MediaRefusedError(f"larger than {limit} bytes ({declared})")
            body = await _body(response, limit)
        except ValueError:
            raise MediaRefusedError("an unreadable Content-Length") from None
        finally:
            await response.aclose()
        if len(body) > limit:
            raise MediaRefusedError(f"larger than {limit} bytes")
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=body,
            request=request,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()
        if self._trusted is not None:
            await self._trusted.aclose()


async def _body(response: httpx.Response, limit: int) -> bytes:
    """The raw body, read no further than just past `limit`."""
    try:
        return response.content  # a transport that hands over whole answers
    except httpx.ResponseNotRead:
        pass
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            break
    return b"".join(chunks)


_ACCEPT_ENCODING = {"Accept-Encoding": "identity"}  # the cap counts the bytes stored


async def fetch_media(http: PortalHttp, url: str, policy: MediaPolicy) -> tuple[bytes, str]:
    """GET a media URL through a `GuardedTransport` client: (bytes, content type).

    Raises:
        MediaRefusedError: a refused address, scheme, size or content type, a redirect
            without `Location` or more than `MAX_REDIRECTS` redirects.
        PortalError: the media server's error answer (e.g. `NotFoundError`), as `http` maps it.
    """
    for _ in range(MAX_REDIRECTS + 1):
        response = await http.request(
            "GET",
            url,
            headers=_ACCEPT_ENCODING,
            ok=lambda r: r.is_success or r.status in _REDIRECTS,
        )
        if response.status in _REDIRECTS:
            location = response.headers.get("Location")
            if not location:
                raise MediaRefusedError(f"a redirect ({response.status}) without a Location")
            url = urljoin(url, location)
            reason = policy.offline_refusal(url)
            if reason is not None:
                raise MediaRefusedError(f"redirected: {reason}")
            continue
        content_type = response.headers.get("Content-Type", "")
        if response.headers.get("Content-Encoding", "identity").lower() != "identity":
            raise MediaRefusedError("an encoded answer (Content-Encoding), not the file itself")
        if not policy.accepts(content_type):
            raise MediaRefusedError(f"content type {content_type or 'missing'} is not accepted")
        return response.content, content_type
    raise MediaRefusedError(f"more than {MAX_REDIRECTS} redirects")
