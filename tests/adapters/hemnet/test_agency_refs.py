"""The agency travels as the projection's ref, resolved to `brokerAgencyId` when sent."""

from __future__ import annotations

import json
from typing import Any

import httpx

from listsync.adapter import Operation, OpKind
from listsync.testing import Driver
from listsync_hemnet.sandbox import HemnetSandbox

from .conftest import make_listing

OTHER_AGENCY = {"external_ref": "agency-8", "name": "Norrmalm Mäklare"}


async def test_an_agency_change_is_an_update_sending_only_the_new_broker_agency_id(
    sandbox: HemnetSandbox, driver: Driver
) -> None:
    """Moving a listing to another agency plans one UPDATE whose refs hold the new agency and
    no field change; the adapter creates the agency and PATCHes `brokerAgencyId` alone."""
    await driver.sync(make_listing())
    listing_id = driver.remote_id
    mark = len(sandbox.requests)
    steps = await driver.sync_steps(make_listing(agency=OTHER_AGENCY))
    [(op, _)] = steps
    assert op.kind is OpKind.UPDATE
    assert op.changes == {}
    assert op.refs == {"agency": {"externalId": "agency-8", "name": "Norrmalm Mäklare"}}
    writes = [r for r in sandbox.requests[mark:] if r.is_write]
    assert [(r.method, r.path) for r in writes] == [
        ("POST", "/broker_agencies"),
        ("PATCH", f"/listings/{listing_id}"),
    ]
    [agency] = [a for a in _agencies(sandbox) if a["externalId"] == "agency-8"]
    assert writes[1].body == {"brokerAgencyId": agency["id"]}
    assert sandbox.listings()[0]["brokerAgencyId"] == agency["id"]
    # The ref is recorded as sent: nothing more to do.
    assert await driver.sync(make_listing(agency=OTHER_AGENCY)) == []


async def test_a_create_sends_the_agency_id_and_no_agency_body(
    sandbox: HemnetSandbox, driver: Driver
) -> None:
    """The CREATE carries every ref; the listing body gets `brokerAgencyId` and nothing of the
    agency's own fields."""
    steps = await driver.sync_steps(make_listing(status="draft"))
    create = steps[0][0]
    assert create.kind is OpKind.CREATE
    assert create.refs == {"agency": driver.desired(make_listing()).refs["agency"]}
    post = next(r for r in sandbox.requests if r.method == "POST" and r.path == "/listings")
    assert set(post.body) == set(create.payload) | {"brokerAgencyId"}
    assert "agency" not in post.body


async def test_a_projection_stored_before_refs_existed_converges_with_one_agency_patch(
    sandbox: HemnetSandbox, driver: Driver
) -> None:
    """A sent projection from before refs (the agency as an `_agency` field) is updated with
    one PATCH of `brokerAgencyId`: the old field is never sent to Hemnet."""
    listing = make_listing(status="draft")
    await driver.sync(listing)
    assert driver.sent is not None
    old_fields = {**driver.sent.fields, "_agency": driver.sent.refs["agency"]}
    driver.sent = driver.sent.model_copy(update={"fields": old_fields, "refs": {}})
    mark = len(sandbox.requests)
    [op] = await driver.sync(listing)
    assert (op.kind, op.changes, set(op.refs)) == (OpKind.UPDATE, {"_agency": None}, {"agency"})
    [patch] = [r for r in sandbox.requests[mark:] if r.is_write]
    assert list(patch.body) == ["brokerAgencyId"]
    assert await driver.sync(listing) == []


def _agencies(sandbox: HemnetSandbox) -> list[dict[str, str]]:
    return [a for account in sandbox._accounts.values() for a in account.agencies.values()]


async def test_a_create_journalled_before_refs_existed_sends_no_agency_field(
    sandbox: HemnetSandbox, driver: Driver
) -> None:
    """A CREATE whose payload still holds the agency as `_agency` (journalled by an older
    version) is sent without it, with the agency resolved from the projection's ref."""
    listing = make_listing(status="draft")
    desired = driver.desired(listing)
    old = Operation(
        kind=OpKind.CREATE, payload={**desired.fields, "_agency": desired.refs["agency"]}
    )
    result = await driver.apply(old, desired, listing)
    assert result.remote_id
    post = next(r for r in sandbox.requests if r.method == "POST" and r.path == "/listings")
    assert "_agency" not in post.body
    assert post.body["brokerAgencyId"] == sandbox.listings()[0]["brokerAgencyId"]


class _StaleAgencyLookup(httpx.AsyncBaseTransport):
    """Answers the first agency look-up as if the agency did not exist yet: another worker
    sharing the account creates it between this look-up and this adapter's create."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.stale = True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.stale and request.method == "GET" and request.url.path == "/broker_agencies":
            self.stale = False
            body = json.loads(await response.aread())
            emptied = {k: ([] if isinstance(v, list) else 0 if k == "totalCount" else v)
                       for k, v in body.items()}  # fmt: skip
            return httpx.Response(200, json=emptied, headers={"X-Request-Id": "stale"})
        return response


async def test_an_agency_created_meanwhile_by_another_worker_is_used_not_refused(
    sandbox: HemnetSandbox,
) -> None:
    """Two workers sharing an account: the one whose create is refused ("externalId is
    already taken") looks the agency up again and uses it; its listing is not blocked."""
    first = Driver(await _adapter(sandbox, sandbox.transport()))
    await first.sync(make_listing(external_ref="L-FIRST"))
    transport = _StaleAgencyLookup(sandbox.transport())
    second = Driver(await _adapter(sandbox, transport))
    await second.sync(make_listing(external_ref="L-SECOND"))
    agencies = [a["id"] for a in _agencies(sandbox)]
    assert len(agencies) == 1
    assert {listing["brokerAgencyId"] for listing in sandbox.listings()} == set(agencies)
    assert not transport.stale


async def _adapter(sandbox: HemnetSandbox, transport: httpx.AsyncBaseTransport) -> Any:
    from listsync_hemnet import HemnetAdapter

    from .conftest import BASE_URL, split_settings

    settings, account = split_settings(sandbox.client_settings(BASE_URL))
    return HemnetAdapter(settings, account, transport=transport, clock=sandbox.clock)
