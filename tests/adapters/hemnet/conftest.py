"""Fixtures for the Hemnet adapter tests: a sandbox, adapters wired to it, listings, and the
conformance kit's `Driver` (the engine's loop in miniature) over the adapter."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import pytest

from listsync.model import Listing, parse_listing
from listsync.testing import Driver
from listsync_hemnet import HemnetAccount, HemnetAdapter, HemnetSettings
from listsync_hemnet.sandbox import HemnetSandbox

BASE_URL = "https://hemnet.sandbox.test"
START = 1_800_000_000.0  # 2027-01-15, a fixed sandbox time
DAY = 86_400.0


class FakeClock:
    """A clock shared by sandbox and adapter; `advance()` moves it, each read ticks a little so
    image processing (sandbox time) moves on while the adapter polls."""

    def __init__(self, now: float = START, tick: float = 0.5) -> None:
        self.now = now
        self.tick = tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def listing_data(**overrides: Any) -> dict[str, Any]:
    """A complete, publishable Swedish listing (JSON form); `overrides` replace top-level keys."""
    data: dict[str, Any] = {
        "external_ref": "obj-1001",
        "agency": {
            "external_ref": "agency-7",
            "name": "Mäklarhuset Söder",
            "email": "info@maklarhuset.example.se",
        },
        "agent": {"first_name": "Eva", "last_name": "Lind", "email": "eva@maklarhuset.example.se"},
        "category": "apartment",
        "tenure": "cooperative",
        "status": "for_sale",
        "address": {
            "country": "SE",
            "street": "Götgatan",
            "house_number": "12",
            "apartment_number": "1102",
            "postal_code": "11646",
            "city": "Stockholm",
        },
        "coordinates": {"lat": 59.3142, "lon": 18.0726},
        "asking_price": {"amount": "4950000", "currency": "SEK"},
        "monthly_fee": {"amount": "3120", "currency": "SEK"},
        "living_area": "62.5",
        "rooms": "2.5",
        "bedrooms": 1,
        "construction_year": 1929,
        "description": {"sv": "Ljus tvåa med balkong mot gården."},
        "tagline": {"sv": "Balkong i söderläge"},
        "links": {"broker_page": "https://maklarhuset.example.se/obj-1001"},
        "media": [
            {"url": "https://img.example.se/obj-1001/1.jpg"},
            {"url": "https://img.example.se/obj-1001/2.jpg", "kind": "floor_plan"},
        ],
        "showings": [
            {"start": "2027-02-01T17:00:00+01:00", "end": "2027-02-01T17:45:00+01:00"},
        ],
    }
    data.update(copy.deepcopy(overrides))
    return data


def make_listing(**overrides: Any) -> Listing:
    return parse_listing(listing_data(**overrides))


AdapterFactory = Callable[..., Awaitable[HemnetAdapter]]


def split_settings(values: Mapping[str, Any]) -> tuple[HemnetSettings, HemnetAccount]:
    """The sandbox's flat client settings as the adapter's settings and account models."""
    settings = {k: v for k, v in values.items() if k in HemnetSettings.model_fields}
    account = {k: v for k, v in values.items() if k in HemnetAccount.model_fields}
    return HemnetSettings(**settings), HemnetAccount(**account)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> HemnetSandbox:
    return HemnetSandbox(clock=clock, image_processing_seconds=2.0)


@pytest.fixture
def stored() -> list[tuple[str, str, dict[str, str]]]:
    """What the credential-store callback received."""
    return []


@pytest.fixture
async def make_adapter(
    sandbox: HemnetSandbox, clock: FakeClock, stored: list[tuple[str, str, dict[str, str]]]
) -> AsyncIterator[AdapterFactory]:
    adapters: list[HemnetAdapter] = []

    async def store(portal: str, account: str, secrets: Mapping[str, str]) -> None:
        stored.append((portal, account, dict(secrets)))

    async def factory(account: str = "default", **account_options: Any) -> HemnetAdapter:
        settings, creds = split_settings(sandbox.client_settings(BASE_URL, account))
        creds = HemnetAccount.model_validate({**creds.model_dump(), **account_options})
        adapter = HemnetAdapter(
            settings,
            creds,
            account_name=account,
            transport=sandbox.transport(),
            credential_store=store,
            clock=clock,
        )
        adapters.append(adapter)
        return adapter

    yield factory
    for adapter in adapters:
        await adapter.aclose()


@pytest.fixture
async def adapter(make_adapter: AdapterFactory) -> HemnetAdapter:
    return await make_adapter()


@pytest.fixture
def driver(adapter: HemnetAdapter) -> Driver:
    return Driver(adapter)
