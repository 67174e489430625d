"""The agency travels as the projection's ref, resolved to `brokerAgencyId` when sent."""

from __future__ import annotations

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
