"""Fixtures for the Immowelt adapter tests: a sandbox on a manual clock, adapters, listings."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from listsync.adapter import OperationResult, OpKind, Projection
from listsync.config import parse_portal_config
from listsync.model import Listing, parse_listing
from listsync.testing import Driver, ManualClock
from listsync_immowelt import ImmoweltAccount, ImmoweltAdapter, ImmoweltSettings
from listsync_immowelt.mapping import project
from listsync_immowelt.sandbox import ImmoweltSandbox

BASE_URL = "https://immowelt.sandbox.invalid"

BASE_LISTING: dict[str, Any] = {
    "external_ref": "DE-1001",
    "marketing_key": "OBJ-1001",
    "agency": {
        "external_ref": "agency-1",
        "name": "Makler Berlin GmbH",
        "email": "info@makler-berlin.de",
        "phone": "+49 30 1234567",
    },
    "agent": {
        "first_name": "Erika",
        "last_name": "Mustermann",
        "email": "erika.mustermann@makler-berlin.de",
        "phone": "+49 30 7654321",
        "salutation": "Mrs",
    },
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
    "coordinates": {"lat": 52.5311, "lon": 13.3849},
    "asking_price": {"amount": "450000", "currency": "EUR"},
    "brokerage_fee": {"has_fee": True, "percent": "3.57", "note": "3,57 % inkl. MwSt."},
    "living_area": "82.5",
    "rooms": "3",
    "bedrooms": 2,
    "bathrooms": 1,
    "floor": 2,
    "construction_year": 1998,
    "available_from": "2026-03-01",
    "headline": {"de": "Helle 3-Zimmer-Wohnung in Mitte"},
    "description": {"de": "Ruhige Lage, Balkon nach Sueden, Einbaukueche."},
    "portals": ["immowelt"],
}


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`base` with `extra` merged in; a None value in `extra` removes the key."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def make_listing(**overrides: Any) -> Listing:
    """The base listing (valid for Immowelt) with `overrides` deep-merged in."""
    return parse_listing(deep_merge(BASE_LISTING, overrides))


def with_media(listing: Listing, *names: str) -> Listing:
    urls = [{"url": f"https://crm.example.com/img/{listing.external_ref}/{n}"} for n in names]
    return parse_listing({**listing.model_dump(mode="json"), "media": urls})


def unchecked_projection(adapter: ImmoweltAdapter, listing: Listing) -> Projection:
    """What `adapter.prepare` projects for `listing`, without the offline rules (to send a
    listing `prepare` would block and see the sandbox refuse it)."""
    return project(
        listing,
        software_name=adapter.settings.software_name,
        external_customer_id=adapter.account.external_customer_id,
    )


def prepared(adapter: ImmoweltAdapter, listing: Listing) -> Projection:
    """`adapter.prepare(listing).projection` of a listing that breaks no rule."""
    ready = adapter.prepare(listing)
    assert ready.projection is not None, ready.issues
    return ready.projection


def payload_of(adapter: ImmoweltAdapter, listing: Listing) -> dict[str, Any]:
    """The import payload `adapter` would send for `listing` (rules not checked)."""
    return unchecked_projection(adapter, listing).fields


async def sync(driver: Driver, listing: Listing) -> list[OperationResult]:
    """`driver.sync(listing)`, returning the result of each operation applied."""
    return [result for _, result in await driver.sync_steps(listing)]


def applied_kinds(driver: Driver) -> list[OpKind]:
    return [op.kind for op, _ in driver.applied]


AdapterFactory = Callable[..., ImmoweltAdapter]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_800_000_000.0)


@pytest.fixture
def sandbox(clock: ManualClock) -> ImmoweltSandbox:
    return ImmoweltSandbox(clock=clock, page_size=3)


def build_adapter(
    sandbox: ImmoweltSandbox,
    clock: Callable[[], float],
    *,
    account: str = "default",
    transport: httpx.AsyncBaseTransport | None = None,
    base_url: str = BASE_URL,
    in_process: bool = True,
    **overrides: Any,
) -> ImmoweltAdapter:
    table = {**sandbox.client_settings(base_url, account), "max_retry_wait": 0.2, **overrides}
    config = parse_portal_config("immowelt", table, ImmoweltSettings, ImmoweltAccount)
    settings = config.settings
    acct = config.accounts["default"]
    assert isinstance(settings, ImmoweltSettings)
    assert isinstance(acct, ImmoweltAccount)
    return ImmoweltAdapter(
        settings,
        acct,
        account_name=account,
        transport=transport if transport is not None or not in_process else sandbox.transport(),
        clock=clock,
    )


@pytest.fixture
async def make_adapter(
    sandbox: ImmoweltSandbox, clock: ManualClock
) -> AsyncIterator[AdapterFactory]:
    made: list[ImmoweltAdapter] = []

    def factory(**kwargs: Any) -> ImmoweltAdapter:
        adapter = build_adapter(sandbox, clock, **kwargs)
        made.append(adapter)
        return adapter

    yield factory
    for adapter in made:
        await adapter.aclose()


@pytest.fixture
def adapter(make_adapter: AdapterFactory) -> ImmoweltAdapter:
    return make_adapter()
