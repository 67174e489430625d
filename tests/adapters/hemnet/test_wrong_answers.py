"""Answers of the wrong shape become one-line `PortalBugError`s, never KeyError or JSON errors."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from listsync.adapter import Operation, OpKind
from listsync.errors import PortalBugError
from listsync.testing import Driver
from listsync_hemnet import HemnetAdapter
from listsync_hemnet.sandbox import HemnetSandbox

from .conftest import BASE_URL, FakeClock, make_listing, split_settings

Rewrite = Callable[[httpx.Request, httpx.Response], httpx.Response | None]


class Rewriting(httpx.AsyncBaseTransport):
    """The sandbox's transport, with some answers replaced after the sandbox handled them (a
    proxy or a broken portal release garbling what came back)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, rewrite: Rewrite) -> None:
        self._inner = inner
        self._rewrite = rewrite

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        await response.aread()
        return self._rewrite(request, response) or response

    async def aclose(self) -> None:
        await self._inner.aclose()


def _on(method: str, path: str, status: int, content: bytes, content_type: str) -> Rewrite:
    def rewrite(request: httpx.Request, response: httpx.Response) -> httpx.Response | None:
        if (request.method, request.url.path) != (method, path):
            return None
        headers = {"Content-Type": content_type, "X-Request-Id": "req-garbled"}
        return httpx.Response(status, headers=headers, content=content, request=request)

    return rewrite


async def _adapter(sandbox: HemnetSandbox, clock: FakeClock, rewrite: Rewrite) -> HemnetAdapter:
    settings, account = split_settings(sandbox.client_settings(BASE_URL))
    return HemnetAdapter(
        settings,
        account,
        transport=Rewriting(sandbox.transport(), rewrite),
        credential_store=_noop,
        clock=clock,
    )


GARBAGE = {
    "html with 200": (200, b"<html><body>\n<h1>Welcome</h1>\n</body></html>", "text/html"),
    "an empty 201": (201, b"", "application/json"),
    "an object without id": (201, b"{}", "application/json"),
    "a listing without id": (201, b'{"listing": {"externalId": "obj-1001"}}', "application/json"),
    "a list": (201, b"[1, 2]", "application/json"),
    "truncated json": (201, b'{"listing": {"id": "li', "application/json"),
    "a listing that is text": (201, b'{"listing": "ok"}', "application/json"),
}


@pytest.mark.parametrize("kind", list(GARBAGE))
async def test_a_garbled_create_answer_is_a_one_line_portal_bug(
    sandbox: HemnetSandbox, clock: FakeClock, kind: str
) -> None:
    """Whatever comes back for POST /listings instead of the listing, the create fails with a
    PortalBugError naming the request, status and request id on one line."""
    status, content, content_type = GARBAGE[kind]
    adapter = await _adapter(
        sandbox, clock, _on("POST", "/listings", status, content, content_type)
    )
    try:
        driver = Driver(adapter)
        listing = make_listing()
        desired = driver.desired(listing)
        create = Operation(kind=OpKind.CREATE, payload=dict(desired.fields), refs=desired.refs)
        with pytest.raises(PortalBugError) as info:
            await driver.apply(create, desired, listing)
    finally:
        await adapter.aclose()
    message = str(info.value)
    assert "\n" not in message
    assert "POST /listings" in message
    assert str(status) in message
    assert info.value.request_id == "req-garbled"
    assert info.value.portal == "hemnet"


async def test_a_list_page_of_the_wrong_shape_is_a_portal_bug(
    sandbox: HemnetSandbox, clock: FakeClock
) -> None:
    """A listings page whose entries lack their id (looked up when recovering a create) is a
    PortalBugError, not a KeyError."""
    page = b'{"listings": [{"externalId": "obj-1001"}], "totalCount": 1}'
    adapter = await _adapter(sandbox, clock, _on("GET", "/listings", 200, page, "application/json"))
    try:
        with pytest.raises(PortalBugError, match="without an 'id'"):
            await adapter.fetch("obj-1001", None)
    finally:
        await adapter.aclose()


async def test_a_garbled_key_check_is_a_portal_bug_not_a_key_error(
    sandbox: HemnetSandbox, clock: FakeClock
) -> None:
    """The key check's answer in HTML fails the request it guards with a PortalBugError."""
    key_id = sandbox.add_account("default")["key_id"]
    adapter = await _adapter(
        sandbox, clock, _on("GET", f"/keys/{key_id}", 200, b"<html>", "text/html")
    )
    try:
        with pytest.raises(PortalBugError, match=f"GET /keys/{key_id}"):
            await adapter.check()
    finally:
        await adapter.aclose()


async def _noop(portal: str, account: str, secrets: object) -> None:
    return None
