"""Conformance checks for read adapters: paging terminates, covers everything once and
survives a total that changes while paging."""

from __future__ import annotations

from typing import Any, ClassVar

from listsync.adapter import Capability
from listsync.model import Listing
from listsync.sandbox import Sandbox
from listsync.testing._common import CommonConformance, run
from listsync.testing._driver import ConformanceError

__all__ = ["ReadAdapterConformance"]


class ReadAdapterConformance(CommonConformance):
    """The conformance suite for read adapters; join it with one line:

    `class TestAcmeConformance(ReadAdapterConformance, AcmeFixtures): pass`

    The fixtures class provides `seed_remote()` and `change_remote()` (and `search_query()`
    when the portal needs one).
    """

    seed_count: ClassVar[int] = 25
    """Records seeded for the pagination checks: choose several pages' worth."""

    # -- hooks for the shared checks -------------------------------------------------------
    async def _exercise(self, adapter: Any, sandbox: Sandbox) -> None:
        self.seed_remote(sandbox, 3)
        await self._collect(adapter, limit=1000)

    async def _prepare(self, adapter: Any, sandbox: Sandbox) -> Any:
        self.seed_remote(sandbox, 3)
        await self._collect(adapter, limit=1000)
        return None

    async def _idempotent_call(self, adapter: Any, state: Any) -> Any:
        return await self._collect(adapter, limit=1000)

    # -- helpers -----------------------------------------------------------------------------
    async def _collect(self, adapter: Any, *, limit: int, on_first: Any = None) -> list[str]:
        refs: list[str] = []
        async for listing in adapter.search(self.search_query()):
            if not isinstance(listing, Listing):
                raise ConformanceError(f"search() must yield Listing objects, got {listing!r}")
            refs.append(listing.external_ref)
            if len(refs) == 1 and on_first is not None:
                on_first()
            if len(refs) > limit:
                raise ConformanceError(
                    f"search() did not terminate: it yielded more than {limit} listings"
                )
        return refs

    def _search(self, count: int, *, change: bool) -> tuple[list[str], set[str], set[str], int]:
        sandbox = self.make_sandbox()
        seeded = self.seed_remote(sandbox, count)
        added: set[str] = set()

        def mutate() -> None:
            added.update(self.change_remote(sandbox))

        async def scenario() -> list[str]:
            async with self._adapter(sandbox) as adapter:
                return await self._collect(
                    adapter, limit=10 * count + 50, on_first=mutate if change else None
                )

        refs = run(scenario())
        return refs, seeded, added, len(sandbox.requests)

    def _check_once(self, refs: list[str], expected: set[str], allowed: set[str]) -> None:
        duplicates = sorted({r for r in refs if refs.count(r) > 1})
        if duplicates:
            raise ConformanceError(
                f"search() yielded {len(duplicates)} listing(s) more than once, e.g. "
                f"{duplicates[:3]}; every matching listing must come exactly once"
            )
        missing = sorted(expected - set(refs))
        if missing:
            raise ConformanceError(
                f"search() missed {len(missing)} of {len(expected)} seeded listings, e.g. "
                f"{missing[:3]}"
            )
        unexpected = sorted(set(refs) - expected - allowed)
        if unexpected:
            raise ConformanceError(f"search() yielded listings nobody seeded: {unexpected[:3]}")

    # -- checks ------------------------------------------------------------------------------
    def test_pagination_covers_everything_once(self) -> None:
        """Paging through several pages yields every seeded listing exactly once and stops."""
        self._require_search()
        refs, seeded, _, requests = self._search(self.seed_count, change=False)
        self._check_once(refs, seeded, set())
        if requests > self.seed_count + 5:
            raise ConformanceError(
                f"search() sent {requests} requests for {self.seed_count} listings; paging "
                "does not advance"
            )

    def test_pagination_survives_a_changing_total(self) -> None:
        """Records added while paging neither break the search, nor make it yield a listing
        twice, nor make it miss one that was there from the start."""
        self._require_search()
        refs, seeded, added, _ = self._search(self.seed_count, change=True)
        if not added:
            raise ConformanceError("change_remote() added no records")
        self._check_once(refs, seeded, added)

    def test_empty_search_terminates(self) -> None:
        """A search without matches yields nothing and stops after a request or two."""
        self._require_search()
        refs, _, _, requests = self._search(0, change=False)
        if refs:
            raise ConformanceError(f"an empty portal yielded {refs[:3]}")
        if requests > 2:
            raise ConformanceError(f"an empty search sent {requests} requests")

    def test_get_finds_a_listing_from_search(self) -> None:
        """get() returns the listing search() yielded, by the same id."""
        cls = self.load_adapter_class()
        if Capability.READ not in cls.capabilities:
            import pytest  # noqa: PLC0415  (the kit imports pytest only inside checks)

            pytest.skip(f"{self.portal} does not declare read")
        sandbox = self.make_sandbox()
        seeded = sorted(self.seed_remote(sandbox, 3))

        async def scenario() -> Listing | None:
            async with self._adapter(sandbox) as adapter:
                found: Listing | None = await adapter.get(self.remote_id_for(seeded[0]))
                return found

        found = run(scenario())
        if found is None or found.external_ref != seeded[0]:
            raise ConformanceError(f"get({seeded[0]!r}) returned {found!r}")

    def remote_id_for(self, external_ref: str) -> str:
        """The id `get()` takes for a listing whose `external_ref` search reported."""
        return external_ref

    def _require_search(self) -> None:
        if Capability.SEARCH not in self.load_adapter_class().capabilities:
            import pytest  # noqa: PLC0415  (the kit imports pytest only inside checks)

            pytest.skip(f"{self.portal} does not declare search")
