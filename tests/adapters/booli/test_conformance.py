"""The Booli adapter joins the shared read-adapter conformance suite."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from listsync.sandbox import Sandbox
from listsync.testing import AdapterFixtures, ReadAdapterConformance
from listsync_booli.mapping import external_ref_for
from listsync_booli.sandbox import BooliSandbox

from .conftest import ALL_SWEDEN


class BooliFixtures(AdapterFixtures):
    portal = "booli"
    sandbox_options: ClassVar[Mapping[str, Any]] = {"listings": 0, "sold": 0}
    settings_overrides: ClassVar[Mapping[str, Any]] = {
        "max_attempts": 3,
        "max_retry_wait": 0.5,
        "page_size": 10,
    }

    def search_query(self) -> Mapping[str, str]:
        return ALL_SWEDEN

    def seed_remote(self, sandbox: Sandbox, count: int) -> set[str]:
        assert isinstance(sandbox, BooliSandbox)
        return {external_ref_for(i) for i in sandbox.add_objects(count, where="end")}

    def change_remote(self, sandbox: Sandbox) -> set[str]:
        assert isinstance(sandbox, BooliSandbox)
        return {external_ref_for(i) for i in sandbox.add_objects(7, where="start")}


class TestBooliConformance(ReadAdapterConformance, BooliFixtures):
    pass
