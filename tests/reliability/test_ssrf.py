"""Media URLs cannot make the Immowelt adapter read internal services (issue 14 item 5).

Without a media mirror the adapter downloads each media URL and uploads the bytes to the portal.
Every URL that points at loopback, a private network or the cloud metadata address, directly or
after a redirect, is refused before any connection is made, and the listing is blocked with an
issue at `media[i].url` before anything reaches the portal.

No test here sends a packet to a non-loopback address, even with the guard broken: names are
resolved by a stand-in resolver, media requests go to `StandIn`, a transport that answers only
for the one public address a test scripts and FAILS THE TEST for any other, and everything runs
inside `block_network()` except the loopback tests, whose real connections go to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest

from listsync.config import parse_portal_config
from listsync.errors import InvalidListingError
from listsync.model import Listing, parse_listing
from listsync.testing import Driver, ManualClock, block_network
from listsync_immowelt import ImmoweltAccount, ImmoweltAdapter, ImmoweltSettings
from listsync_immowelt._media import address_refusal
from listsync_immowelt.sandbox import ImmoweltSandbox

PUBLIC = "93.184.215.14"  # a global unicast address; only ever handed to the stand-in
BASE_URL = "https://immowelt.sandbox.invalid"

LISTING: dict[str, Any] = {
    "external_ref": "DE-SSRF-1",
    "agency": {"external_ref": "a-1", "name": "Makler GmbH", "email": "info@makler.de"},
    "transaction": "sale",
    "category": "apartment",
    "status": "for_sale",
    "address": {
        "country": "DE",
        "street": "Invalidenstrasse",
        "house_number": "117",
        "postal_code": "10115",
        "city": "Berlin",
    },
    "asking_price": {"amount": "450000", "currency": "EUR"},
    "living_area": "82.5",
    "rooms": "3",
    "headline": {"de": "Helle Wohnung"},
    "description": {"de": "Ruhige Lage."},
    "portals": ["immowelt"],
}


def listing_with(*urls: str) -> Listing:
    return parse_listing({**LISTING, "media": [{"url": u} for u in urls]})


class StandIn(httpx.AsyncBaseTransport):
    """Answers requests to `PUBLIC` as scripted; any other destination fails the test."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.answer = answer
        self.seen: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != PUBLIC or self.answer is None:
            pytest.fail(f"asked to connect to {request.url.host}: the guard let it through")
        self.seen.append(request)
        return self.answer(request)


class StandInResolver:
    """Resolves from a table; records each look-up. Unknown names fail the test."""

    def __init__(self, table: dict[str, Sequence[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append(host)
        if host not in self.table:
            pytest.fail(f"unexpected look-up of {host}")
        return self.table[host]


class Connections:
    """A TCP server on 127.0.0.1 that counts connections (a stand-in metadata service)."""

    def __init__(self) -> None:
        self.count = 0
        self.port = 0

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.count += 1
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 6\r\n\r\nSECRET"
        )
        await writer.drain()
        writer.close()


@asynccontextmanager
async def loopback_service() -> AsyncIterator[Connections]:
    service = Connections()
    server = await asyncio.start_server(service._accepted, "127.0.0.1", 0)
    service.port = server.sockets[0].getsockname()[1]
    async with server:
        yield service


def make_adapter(
    sandbox: ImmoweltSandbox,
    *,
    base_url: str = BASE_URL,
    in_process: bool = True,
    **overrides: Any,
) -> ImmoweltAdapter:
    """An adapter on the sandbox, without the media mirror unless `overrides` set one."""
    table = {**sandbox.client_settings(base_url), "media_mirror": None, **overrides}
    kwargs = {k: table.pop(k) for k in ("media_transport", "resolver") if k in table}
    config = parse_portal_config("immowelt", table, ImmoweltSettings, ImmoweltAccount)
    settings, account = config.settings, config.accounts["default"]
    assert isinstance(settings, ImmoweltSettings)
    assert isinstance(account, ImmoweltAccount)
    transport = sandbox.transport() if in_process else None
    return ImmoweltAdapter(settings, account, transport=transport, **kwargs)


def portal_requests(sandbox: ImmoweltSandbox) -> list[str]:
    """Requests that reached the portal's API or its upload target (not the token)."""
    return [
        f"{r.method} {r.path}" for r in sandbox.requests if r.path.startswith(("/v1/", "/_upload/"))
    ]


@contextmanager
def refused(path: str = "media[0].url") -> Iterator[None]:
    with pytest.raises(InvalidListingError) as caught:
        yield
    assert [issue.path for issue in caught.value.issues] == [path]
    assert caught.value.issues[0].rule == "media-url"


@pytest.fixture
def sandbox() -> ImmoweltSandbox:
    return ImmoweltSandbox(clock=ManualClock(start=1_800_000_000.0))


@pytest.mark.parametrize(
    ("host", "addresses", "kind"),
    [
        ("assets.internal.test", ["127.0.0.1"], "loopback"),
        ("intranet.test", ["10.20.30.40"], "private"),
        ("nas.test", ["192.168.1.10"], "private"),
        ("docker.test", ["172.17.0.2"], "private"),
        ("metadata.test", ["169.254.169.254"], "link-local"),
        ("v6.test", ["fd00::1"], "private"),
        ("v6local.test", ["fe80::1"], "link-local"),
        ("mapped.test", ["::ffff:127.0.0.1"], "loopback"),
        ("multicast.test", ["224.0.0.1"], "multicast"),
        ("zero.test", ["0.0.0.0"], "unspecified"),  # noqa: S104  (an address to refuse)
        ("cgnat.test", ["100.64.0.1"], "non-public"),
        ("rebind.test", [PUBLIC, "10.0.0.1"], "private"),
    ],
)
async def test_names_resolving_to_internal_addresses_are_refused(
    sandbox: ImmoweltSandbox, host: str, addresses: list[str], kind: str
) -> None:
    """The name is resolved (by the stand-in) and refused before any connection; nothing of
    the listing reaches the portal."""
    resolver = StandInResolver({host: addresses})
    media = StandIn()
    adapter = make_adapter(sandbox, resolver=resolver, media_transport=media)
    with block_network() as attempts:
        with refused():
            await Driver(adapter).sync(listing_with(f"https://{host}/latest/meta-data/x.jpg"))
        await adapter.aclose()
    assert resolver.calls == [host]
    assert media.seen == []
    assert attempts == []
    assert portal_requests(sandbox) == []
    assert sandbox.listings() == {}
    assert address_refusal(ipaddress.ip_address(addresses[-1])) == kind


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/latest/meta-data/iam/secret.jpg",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/x.jpg",
        "http://10.0.0.8/photo.jpg",
        "http://[::1]/photo.jpg",
        "http://localhost/photo.jpg",
        "http://2130706433/photo.jpg",  # 127.0.0.1 written as one number
    ],
)
async def test_internal_addresses_in_the_url_block_the_listing_offline(
    sandbox: ImmoweltSandbox, url: str
) -> None:
    """An address (or `localhost`) in the URL itself is refused by `prepare`: the listing is
    blocked with no I/O at all, not even a look-up."""
    resolver = StandInResolver({})
    adapter = make_adapter(sandbox, resolver=resolver, media_transport=StandIn())
    listing = listing_with("https://cdn.example.org/ok.jpg", url)
    prepared = adapter.prepare(listing)
    assert prepared.blocked
    assert [i.path for i in prepared.issues] == ["media[1].url"]
    with block_network() as attempts:
        with refused("media[1].url"):
            await Driver(adapter).sync(listing)
        await adapter.aclose()
    assert resolver.calls == []
    assert attempts == []
    assert portal_requests(sandbox) == []


async def test_a_redirect_to_loopback_is_refused_before_connecting(
    sandbox: ImmoweltSandbox,
) -> None:
    """A public host answering a redirect to 127.0.0.1: the hop is refused; the loopback
    service never sees a connection and the portal nothing. The public hop itself went to the
    checked address, with the original Host and TLS server name."""
    async with loopback_service() as service:
        target = f"http://127.0.0.1:{service.port}/latest/meta-data/iam/secret.jpg"
        media = StandIn(lambda _: httpx.Response(302, headers={"Location": target}))
        resolver = StandInResolver({"cdn.example.org": [PUBLIC]})
        adapter = make_adapter(sandbox, resolver=resolver, media_transport=media)
        with refused():
            await Driver(adapter).sync(listing_with("https://cdn.example.org/a.jpg"))
        await adapter.aclose()
        assert service.count == 0
    assert [str(r.url) for r in media.seen] == [f"https://{PUBLIC}/a.jpg"]
    assert media.seen[0].headers["Host"] == "cdn.example.org"
    assert media.seen[0].extensions["sni_hostname"] == "cdn.example.org"
    assert portal_requests(sandbox) == []


async def test_a_redirect_to_a_private_name_and_too_many_redirects_are_refused(
    sandbox: ImmoweltSandbox,
) -> None:
    """Each hop is resolved and checked again; a chain longer than 5 hops is refused."""
    media = StandIn(lambda _: httpx.Response(301, headers={"Location": "http://db.test/x.jpg"}))
    resolver = StandInResolver({"cdn.example.org": [PUBLIC], "db.test": ["10.1.1.1"]})
    adapter = make_adapter(sandbox, resolver=resolver, media_transport=media)
    with block_network(), refused():
        await Driver(adapter).sync(listing_with("https://cdn.example.org/a.jpg"))
    assert resolver.calls == ["cdn.example.org", "db.test"]

    loop = StandIn(lambda r: httpx.Response(302, headers={"Location": f"/hop{len(loop.seen)}"}))
    adapter = make_adapter(
        sandbox, resolver=StandInResolver({"cdn.example.org": [PUBLIC]}), media_transport=loop
    )
    with block_network(), refused():
        await Driver(adapter).sync(listing_with("https://cdn.example.org/a.jpg"))
    assert len(loop.seen) == 6  # the first request and 5 redirects followed
    assert portal_requests(sandbox) == []
    await adapter.aclose()


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (httpx.Response(200, text="<html>login</html>"), "content type"),
        (
            httpx.Response(200, content=b"x" * 5000, headers={"Content-Type": "image/jpeg"}),
            "larger",
        ),
    ],
)
async def test_wrong_content_type_and_oversized_files_are_refused(
    sandbox: ImmoweltSandbox, answer: httpx.Response, why: str
) -> None:
    """Only the accepted content types, and no more than `media_max_bytes`, are uploaded."""
    media = StandIn(lambda _: answer)
    adapter = make_adapter(
        sandbox,
        resolver=StandInResolver({"cdn.example.org": [PUBLIC]}),
        media_transport=media,
        media_max_bytes=4096,
    )
    with block_network(), pytest.raises(InvalidListingError, match=why):
        await Driver(adapter).sync(listing_with("https://cdn.example.org/a.jpg"))
    assert portal_requests(sandbox) == []
    await adapter.aclose()


async def test_a_public_image_is_fetched_from_the_checked_address(
    sandbox: ImmoweltSandbox,
) -> None:
    """The guard lets a public image through: its bytes are uploaded and the listing created."""
    media = StandIn(
        lambda _: httpx.Response(
            200, content=b"\xff\xd8jpeg", headers={"Content-Type": "image/jpeg"}
        )
    )
    adapter = make_adapter(
        sandbox, resolver=StandInResolver({"cdn.example.org": [PUBLIC]}), media_transport=media
    )
    with block_network():
        await Driver(adapter).sync(listing_with("https://cdn.example.org/a.jpg"))
    await adapter.aclose()
    assert list(sandbox.uploaded.values()) == [b"\xff\xd8jpeg"]
    assert "DE-SSRF-1" in sandbox.listings()


@pytest.mark.parametrize(
    "allow",
    [{"media_allow_private": True}, {"media_allowed_hosts": ["127.0.0.1"]}],
)
async def test_the_allow_settings_let_a_loopback_sandbox_serve_media(
    allow: dict[str, Any],
) -> None:
    """With an explicit allow setting, media on the sandbox served over loopback are fetched
    (real connections, 127.0.0.1 only); without it the same listing is blocked offline."""
    sandbox = ImmoweltSandbox()
    with sandbox.serve() as base_url:
        url = f"{base_url}/_mirror/crm.example.com/img/front.jpg"
        assert url.startswith("http://127.0.0.1:")
        listing = listing_with(url)

        blocked = make_adapter(sandbox, base_url=base_url, in_process=False)
        with refused():
            await Driver(blocked).sync(listing)
        await blocked.aclose()
        assert portal_requests(sandbox) == []

        adapter = make_adapter(sandbox, base_url=base_url, in_process=False, **allow)
        await Driver(adapter).sync(listing)
        await adapter.aclose()
    stored = sandbox.listings()["DE-SSRF-1"]
    assert [m["externalMediaId"] for m in stored["media"]] == list(sandbox.uploaded)
    assert all(content.startswith(b"\xff\xd8") for content in sandbox.uploaded.values())


async def test_the_configured_mirror_is_trusted() -> None:
    """`media_mirror` (as the sandbox's own settings and `listsync demo` give it) needs no
    allow setting: the operator named that host."""
    sandbox = ImmoweltSandbox()
    with sandbox.serve() as base_url:
        table = sandbox.client_settings(base_url)
        adapter = make_adapter(
            sandbox, base_url=base_url, in_process=False, media_mirror=table["media_mirror"]
        )
        await Driver(adapter).sync(listing_with("https://crm.example.com/img/front.jpg"))
        await adapter.aclose()
    assert len(sandbox.uploaded) == 1


async def test_ipv6_and_ports_are_pinned_with_the_host_kept(sandbox: ImmoweltSandbox) -> None:
    """A public IPv6 answer is connected to in brackets, the port kept, `Host` naming the host."""
    public_v6 = "2606:4700:4700::1111"
    seen: list[httpx.Request] = []

    class V6(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.host != public_v6:
                pytest.fail(f"asked to connect to {request.url.host}")
            seen.append(request)
            return httpx.Response(200, content=b"img", headers={"Content-Type": "image/png"})

    adapter = make_adapter(
        sandbox,
        resolver=StandInResolver({"cdn.example.org": [public_v6]}),
        media_transport=V6(),
    )
    with block_network():
        await Driver(adapter).sync(listing_with("https://cdn.example.org:8443/a.png?s=1"))
    await adapter.aclose()
    assert [str(r.url) for r in seen] == [f"https://[{public_v6}]:8443/a.png?s=1"]
    assert seen[0].headers["Host"] == "cdn.example.org:8443"
