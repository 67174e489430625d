"""The Immowelt adapter joins the shared write-adapter conformance suite."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from listsync.adapter import Projection
from listsync.model import Listing
from listsync.sandbox import Sandbox
from listsync.testing import (
    AdapterFixtures,
    RefusedSample,
    UpdateStyle,
    WriteAdapterConformance,
)
from listsync_immowelt import ImmoweltAdapter
from listsync_immowelt.sandbox import ImmoweltSandbox

from .conftest import make_listing, unchecked_projection


class ImmoweltFixtures(AdapterFixtures):
    portal = "immowelt"
    update_style: ClassVar[UpdateStyle] = "put"

    def valid_listings(self) -> Sequence[Listing]:
        return [
            make_listing(),
            make_listing(
                external_ref="DE-1002",
                transaction="rent",
                asking_price=None,
                rent={"base": {"amount": "1200", "currency": "EUR"}},
            ),
        ]

    def refused_listings(self) -> Sequence[RefusedSample]:
        return [
            RefusedSample(
                make_listing(agent={"phone": "(030) 7654321"}), ("agent.phone",), "rule 3"
            ),
            RefusedSample(
                make_listing(transaction="rent", asking_price=None),
                ("rent.base.amount",),
                "rule 17",
            ),
        ]

    def unchecked_projection(self, adapter: object, listing: Listing) -> Projection:
        assert isinstance(adapter, ImmoweltAdapter)
        return unchecked_projection(adapter, listing)

    def sold_listing(self, listing: Listing) -> Listing:
        data = listing.model_dump(mode="json")
        data["status"] = "sold"
        data["sale"] = {"price": data["asking_price"], "date": "2026-11-01", "price_public": True}
        return Listing.model_validate(data)

    def remote_count(self, sandbox: Sandbox, external_ref: str) -> int | None:
        assert isinstance(sandbox, ImmoweltSandbox)
        return 1 if external_ref in sandbox.listings() else 0


class TestImmoweltConformance(WriteAdapterConformance, ImmoweltFixtures):
    pass
