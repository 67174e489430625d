"""The Hemnet adapter joins the shared write-adapter conformance suite."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from listsync.adapter import Projection
from listsync.model import Listing
from listsync.sandbox import Sandbox
from listsync.testing import AdapterFixtures, RefusedSample, WriteAdapterConformance
from listsync_hemnet import mapping
from listsync_hemnet.sandbox import HemnetSandbox

from .conftest import make_listing


class HemnetFixtures(AdapterFixtures):
    portal = "hemnet"
    sandbox_options: ClassVar[Mapping[str, Any]] = {
        "auto_approve": True,
        "image_processing_seconds": 0.0,
    }
    credential_lifetime = 181 * 86400.0

    def valid_listings(self) -> Sequence[Listing]:
        return [make_listing(), make_listing(external_ref="obj-1002", showings=[])]

    def refused_listings(self) -> Sequence[RefusedSample]:
        return [
            RefusedSample(make_listing(living_area=None), ("living_area",), "living area"),
            RefusedSample(make_listing(description={}), ("description.sv",), "description"),
        ]

    def unchecked_projection(self, adapter: Any, listing: Listing) -> Projection | None:
        return mapping.project(listing)

    def remote_count(self, sandbox: Sandbox, external_ref: str) -> int | None:
        assert isinstance(sandbox, HemnetSandbox)
        return sum(1 for item in sandbox.listings() if item.get("externalId") == external_ref)


class TestHemnetConformance(WriteAdapterConformance, HemnetFixtures):
    pass
