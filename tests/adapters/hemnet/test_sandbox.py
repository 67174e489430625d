"""The Hemnet sandbox itself: accounts, scoping, paging, errors, serving, registration."""

from __future__ import annotations

import asyncio
import importlib.metadata

import httpx

from listsync.adapter import WriteAdapter
from listsync.testing import Driver
from listsync_hemnet import HemnetAdapter
from listsync_hemnet.sandbox import HemnetSandbox

from .conftest import BASE_URL, AdapterFactory, make_listing, split_settings


async def test_accounts_see_only_their_own_listings(
    sandbox: HemnetSandbox, make_adapter: AdapterFactory
) -> None:
    """A listing created with one account's key is invisible to another account."""
    first = await make_adapter("default")
    other = await make_adapter("agency-b")
    await Driver(first).sync(make_listing(status="draft"))
    [mine] = sandbox.listings("default")
    assert sandbox.listings("agency-b") == []
    assert await other.fetch("obj-1001", None) is None
    assert await other.fetch("obj-1001", mine["id"]) is None
    principals = {r.principal for r in sandbox.requests}
    assert principals == {
        sandbox.add_account("default")["key_id"],
        sandbox.add_account("agency-b")["key_id"],
    }


async def test_accounts_can_be_created_up_front() -> None:
    """The `accounts` option pre-creates accounts, each with its own key."""
    sandbox = HemnetSandbox(accounts=["a", "b"])
    assert len({sandbox.add_account(n)["key_id"] for n in ("default", "a", "b")}) == 3


async def test_lists_page_with_limit_offset_and_filter(sandbox: HemnetSandbox) -> None:
    """List endpoints honour limit/offset, report totalCount and filter by externalId."""
    creds = sandbox.add_account("default")
    headers = {"Authorization": f"Bearer {creds['token']}"}
    async with httpx.AsyncClient(
        transport=sandbox.transport(), base_url=BASE_URL, headers=headers
    ) as client:
        agency = (
            await client.post("/broker_agencies", json={"externalId": "a1", "name": "A"})
        ).json()
        for n in range(5):
            body = {
                "externalId": f"x{n % 2}",
                "brokerAgencyId": agency["brokerAgency"]["id"],
                "tenure": "OWNED",
                "housingForm": 100,
                "streetAddress": "Gatan 1",
                "postCode": "11646",
                "postalArea": "Stockholm",
            }
            assert (await client.post("/listings", json=body)).status_code == 201
        page = (await client.get("/listings", params={"limit": 2, "offset": 4})).json()
        assert (len(page["listings"]), page["totalCount"]) == (1, 5)
        filtered = (await client.get("/listings", params={"externalId": "x1"})).json()
        assert filtered["totalCount"] == 2
        bad = await client.post("/listings", json={"externalId": "x", "bogus": 1})
        assert bad.status_code == 422
        fields = {e["field"] for e in bad.json()["errors"]}
        assert {"bogus", "brokerAgencyId", "housingForm"} <= fields
        assert all(e["type"] == "ValidationError" for e in bad.json()["errors"])


async def test_unauthenticated_requests_get_hemnets_error_format(sandbox: HemnetSandbox) -> None:
    """A missing or wrong token gets a 401 with an `errors` list."""
    async with httpx.AsyncClient(transport=sandbox.transport(), base_url=BASE_URL) as client:
        response = await client.get("/keys", headers={"Authorization": "Bearer nope.nope"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["type"] == "AuthenticationError"
    assert response.headers["X-Request-Id"]


def test_serve_over_loopback_with_the_default_transport() -> None:
    """`HemnetSandbox().serve()` answers a real HTTP round trip through the adapter's
    default (aiohttp) transport."""
    sandbox = HemnetSandbox()
    with sandbox.serve() as base_url:
        settings, account = split_settings(sandbox.client_settings(base_url))

        async def run() -> None:
            adapter = HemnetAdapter(settings, account, credential_store=_noop)
            try:
                await adapter.check()
            finally:
                await adapter.aclose()

        asyncio.run(run())
    assert base_url.startswith("http://127.0.0.1:")
    assert sandbox.requests[-1].path == "/keys"
    assert sandbox.requests[-1].status == 200


async def test_registration_matches_the_name() -> None:
    """Entry points `hemnet` load the adapter and sandbox; names agree; the contract holds."""
    adapters = {e.name: e for e in importlib.metadata.entry_points(group="listsync.adapters")}
    sandboxes = {e.name: e for e in importlib.metadata.entry_points(group="listsync.sandboxes")}
    assert adapters["hemnet"].load() is HemnetAdapter
    assert sandboxes["hemnet"].load() is HemnetSandbox
    assert HemnetAdapter.name == HemnetSandbox.name == "hemnet"
    settings, account = split_settings(HemnetSandbox().client_settings(BASE_URL))
    adapter = HemnetAdapter(settings, account, credential_store=_noop)
    try:
        assert isinstance(adapter, WriteAdapter)
    finally:
        await adapter.aclose()


async def _noop(portal: str, account: str, secrets: object) -> None:
    return None
