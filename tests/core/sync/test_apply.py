"""Apply against the acme test portal: convergence, no-op re-runs, faults, exactly-once."""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from acme_portal import AcmeAdapter, AcmeSandbox, listing_data

from listsync.adapter import Operation, OperationContext, OperationResult, OpKind
from listsync.model import parse_listing
from listsync.sandbox import FaultConfig
from listsync.sync import AuditEntry, Intent, ListingState, Outcome, StateKey, StateStore
from listsync.syndicator import Syndicator


def _listings(n: int, **kwargs: object) -> list:
    return [parse_listing(listing_data(f"L-{i:03}", **kwargs)) for i in range(n)]  # type: ignore[arg-type]


async def test_first_apply_converges_and_second_sends_nothing(
    syndicator: Syndicator, sandbox: AcmeSandbox
) -> None:
    """Every listing is created once with its images and published; a re-run writes nothing."""
    listings = _listings(12)
    report = await syndicator.run(listings)
    assert report.totals == {"converged": 12}
    assert report.converged
    assert sandbox.by_external_id() == {item.external_ref: 1 for item in listings}
    assert all(i["status"] == "live" for i in sandbox.listings.values())
    writes = len(sandbox.write_requests())
    assert writes == 12 * (1 + 2 + 1)  # create, two images, publish

    again = await syndicator.run(listings)
    assert again.totals == {"unchanged": 12}
    assert len(sandbox.write_requests()) == writes


async def test_one_changed_field_sends_exactly_one_patch(
    syndicator: Syndicator, sandbox: AcmeSandbox
) -> None:
    """Changing the price of one listing sends one PATCH holding only the price."""
    listings = _listings(5)
    await syndicator.run(listings)
    before = len(sandbox.requests)
    changed = parse_listing(listing_data("L-002", price=2_100_000))
    report = await syndicator.run([*listings[:2], changed, *listings[3:]])
    new = [r for r in sandbox.requests[before:] if r.is_write]
    assert [(r.method, r.body) for r in new] == [("PATCH", {"price": 2_100_000})]
    assert report.totals == {"unchanged": 4, "converged": 1}


async def test_removed_field_is_sent_as_null_and_image_changes_are_minimal(
    syndicator: Syndicator, sandbox: AcmeSandbox
) -> None:
    """A field the listing no longer has is unset with null; only the changed image moves."""
    await syndicator.run([parse_listing(listing_data("L-1", images=3))])
    data = listing_data("L-1", images=2)
    del data["rooms"]
    before = len(sandbox.requests)
    await syndicator.run([parse_listing(data)])
    writes = [
        (r.method, r.path.split("/")[-1] if r.method == "DELETE" else r.body)
        for r in sandbox.requests[before:]
        if r.is_write
    ]
    assert writes[0] == ("PATCH", {"rooms": None})
    assert [m for m, _ in writes] == ["PATCH", "DELETE"]
    (item,) = sandbox.listings.values()
    assert "rooms" not in item["fields"]
    assert len(item["images"]) == 2


async def test_faults_converge_without_duplicates(
    syndicator: Syndicator, sandbox: AcmeSandbox
) -> None:
    """With 5xx, 429 + Retry-After and commit-then-drop faults every listing converges once."""
    sandbox.set_faults(
        FaultConfig(seed=7, error_rate=0.1, rate_limit_rate=0.05, retry_after=0.01, drop_rate=0.1)
    )
    listings = _listings(40)
    report = await syndicator.run(listings)
    faults = Counter(r.fault for r in sandbox.requests if r.fault)
    assert faults["drop"] > 0
    assert faults["error"] > 0
    assert faults["rate_limit"] > 0
    sandbox.set_faults(FaultConfig())
    if not report.converged:  # retries ran out for a few: the next run finishes them
        report = await syndicator.run(listings)
    assert sum(report.totals.values()) == 40
    assert sandbox.duplicates() == {}
    assert sandbox.image_duplicates() == 0
    assert sandbox.by_external_id() == {item.external_ref: 1 for item in listings}
    assert all(len(i["images"]) == 2 for i in sandbox.listings.values())
    final = await syndicator.run(listings)
    assert final.totals == {"unchanged": 40}


async def test_intent_left_by_a_killed_run_is_recovered_not_resent(
    syndicator: Syndicator, sandbox: AcmeSandbox
) -> None:
    """A create that landed before a crash is adopted by lookup, never created twice."""
    listing = parse_listing(listing_data("L-1"))
    adapter = syndicator.pool.adapter("acme", "default")
    desired = adapter.project(listing)
    op = Operation(kind=OpKind.CREATE, payload=desired.fields)
    key = StateKey("acme", "default", "L-1")
    syndicator.store.add_intent(Intent(key, op, run_id="killed"))
    from listsync.adapter import OperationContext

    await adapter.apply(
        op, OperationContext(external_ref="L-1", remote_id=None, projection=desired)
    )
    posts_before = sum(1 for r in sandbox.requests if r.method == "POST" and r.path == "/listings")
    report = await syndicator.run([listing])
    assert report.totals == {"converged": 1}
    posts = sum(1 for r in sandbox.requests if r.method == "POST" and r.path == "/listings")
    assert posts == posts_before == 1
    assert sandbox.by_external_id() == {"L-1": 1}
    assert syndicator.store.intents(key) == []
    trail = [(a.operation, a.outcome) for a in syndicator.store.audit("L-1")]
    assert trail[0] == ("recover create", "adopted")


async def test_intent_that_never_landed_is_dropped_and_sent(
    syndicator: Syndicator, sandbox: AcmeSandbox
) -> None:
    """A journalled create the portal never saw is looked up, not found, then created."""
    listing = parse_listing(listing_data("L-1"))
    key = StateKey("acme", "default", "L-1")
    syndicator.store.add_intent(Intent(key, Operation(kind=OpKind.CREATE), run_id="killed"))
    report = await syndicator.run([listing])
    assert report.totals == {"converged": 1}
    assert sandbox.by_external_id() == {"L-1": 1}
    trail = [(a.operation, a.outcome) for a in syndicator.store.audit("L-1")]
    assert trail[0] == ("recover create", "not_found")


async def test_one_failing_listing_does_not_stop_the_others(
    syndicator: Syndicator, sandbox: AcmeSandbox
) -> None:
    """A portal's refusal of a listing's content blocks that listing (canonical paths in the
    report and the state); the rest converge."""
    listings = _listings(6)
    bad = parse_listing(listing_data("L-BAD", price=950_000_000))
    report = await syndicator.run([*listings[:3], bad, *listings[3:]])
    assert report.totals == {"converged": 6, "blocked": 1}
    (blocked,) = [r for r in report.results if r.outcome is Outcome.BLOCKED]
    assert blocked.error_class == "PortalValidationError"
    assert [i.path for i in blocked.issues] == ["asking_price.amount"]
    (state,) = await syndicator.status("L-BAD")
    assert state.outcome is Outcome.BLOCKED
    assert state.issues[0].path == "asking_price.amount"
    assert state.remote_id is None
    assert syndicator.store.intents(state.key) == []  # a refused create did not land


async def test_adapter_bug_is_isolated(sandbox: AcmeSandbox, state_url: str) -> None:
    """An unexpected exception inside an adapter fails only that listing."""

    class Buggy(AcmeAdapter):
        async def apply(self, op, ctx):  # type: ignore[no-untyped-def]
            if ctx.external_ref == "L-001":
                raise KeyError("oops")
            return await super().apply(op, ctx)

    async with Syndicator(
        {"acme": {"base_url": "http://acme.test", "token": "tok-default"}},
        state=state_url,
        transports={"acme": sandbox.transport()},
        adapters={"acme": Buggy},
    ) as s:
        report = await s.run(_listings(3))
    assert report.totals == {"converged": 2, "failed": 1}
    (failed,) = [r for r in report.results if not r.ok]
    assert failed.error_class == "KeyError"


async def test_blocked_listing_is_never_sent_and_recorded(
    syndicator: Syndicator, sandbox: AcmeSandbox
) -> None:
    """A preflight error blocks the listing with its canonical path; nothing is sent."""
    blocked = parse_listing(listing_data("L-NOPRICE", price=None))
    report = await syndicator.run([blocked])
    assert report.totals == {"blocked": 1}
    assert sandbox.requests == []
    (state,) = await syndicator.status("L-NOPRICE")
    assert state.outcome is Outcome.BLOCKED
    assert [i.path for i in state.issues] == ["asking_price"]


async def test_lifecycle_sold_withdrawn_and_removed_portal(
    syndicator: Syndicator, sandbox: AcmeSandbox
) -> None:
    """Sold marks the listing sold; dropping the portal from the listing deletes it there."""
    await syndicator.run([parse_listing(listing_data("L-1"))])
    await syndicator.run([parse_listing(listing_data("L-1", status="sold"))])
    (item,) = sandbox.listings.values()
    assert item["status"] == "sold"
    assert item["sale"] == {"price": 2_000_000}
    report = await syndicator.run([parse_listing(listing_data("L-1", portals=()))])
    assert [r.entry.action.value for r in report.results] == ["delete"]
    assert item["status"] == "deleted"
    again = await syndicator.run([parse_listing(listing_data("L-1", portals=()))])
    assert again.results == []


async def test_stop_finishes_in_flight_and_rerun_completes(
    syndicator: Syndicator, sandbox: AcmeSandbox
) -> None:
    """After stop() no new listing starts; every outcome is accounted for; a re-run finishes."""
    listings = _listings(30)
    seen: list[Outcome] = []

    def on_result(result: object) -> None:
        seen.append(result.outcome)  # type: ignore[attr-defined]
        if len(seen) == 3:
            syndicator.stop()

    report = await syndicator.run(listings, on_result=on_result)
    assert report.interrupted
    assert not report.converged
    counts = Counter(seen)
    assert counts[Outcome.SKIPPED] > 0
    assert counts[Outcome.CONVERGED] < 30
    assert sandbox.duplicates() == {}
    final = await syndicator.run(listings)
    assert final.converged
    assert sandbox.by_external_id() == {item.external_ref: 1 for item in listings}


class MemoryStore:
    """A `StateStore` in dicts, as a CRM might write one: it keeps what it is given except
    `sent_record` (the SQLite store's bookkeeping), so it relies on `sent_json` alone."""

    def __init__(self) -> None:
        self.states: dict[StateKey, ListingState] = {}
        self.journal: dict[int, Intent] = {}
        self.trail: list[AuditEntry] = []
        self._ids = itertools.count(1)

    def get(self, key: StateKey) -> ListingState | None:
        return self.states.get(key)

    def records(
        self, external_ref: str | None = None, *, portal: str | None = None
    ) -> Iterator[ListingState]:
        found = [
            s
            for s in self.states.values()
            if external_ref in (None, s.external_ref) and portal in (None, s.portal)
        ]
        return iter(sorted(found, key=lambda s: s.key))

    def save(
        self,
        state: ListingState,
        *,
        audit: AuditEntry | None = None,
        clear_intent: int | None = None,
        intent: Intent | None = None,
    ) -> int | None:
        self.states[state.key] = dataclasses.replace(state, sent_record=None)
        self.trail += [audit] if audit is not None else []
        if clear_intent is not None:
            self.clear_intent(clear_intent)
        return None if intent is None else self.add_intent(intent)

    def add_intent(self, intent: Intent) -> int:
        intent_id = next(self._ids)
        self.journal[intent_id] = dataclasses.replace(intent, id=intent_id)
        return intent_id

    def intents(self, key: StateKey) -> list[Intent]:
        return [i for i in self.journal.values() if i.key == key]

    def clear_intent(self, intent_id: int) -> None:
        self.journal.pop(intent_id, None)

    def audit(
        self, external_ref: str, *, portal: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        trail = [a for a in self.trail if a.key.external_ref == external_ref]
        return [a for a in trail if portal in (None, a.key.portal)][-limit:]

    def close(self) -> None:
        pass


class CrashOnSecondImage(AcmeAdapter):
    """Dies (an unexpected error, as a killed process would) before sending a second image."""

    async def apply(self, op: Operation, ctx: OperationContext) -> OperationResult:
        if op.kind is OpKind.MEDIA_ADD and len(ctx.item_ids) == 1:
            raise KeyError("killed")
        return await super().apply(op, ctx)


@pytest.mark.parametrize(
    "make_store",
    [lambda path: f"sqlite:///{path / 'state.sqlite'}", lambda _path: MemoryStore()],
    ids=["sqlite", "memory"],
)
async def test_a_listing_stopped_part_way_goes_on_from_what_was_recorded(
    sandbox: AcmeSandbox, tmp_path: Path, make_store: Callable[[Path], StateStore | str]
) -> None:
    """The operations a run completed before it died are recorded (as steps in SQLite); the
    next run sends only what is left: no second listing, no image twice. Any `StateStore`
    works: one that ignores the SQLite store's bookkeeping too."""
    store = make_store(tmp_path)
    settings = {"acme": {"base_url": "http://acme.test", "token": "tok-default"}}
    listing = parse_listing(listing_data("L-1", images=3))
    transports = {"acme": sandbox.transport()}
    async with Syndicator(
        settings, state=store, transports=transports, adapters={"acme": CrashOnSecondImage}
    ) as s:
        assert (await s.run([listing])).totals == {"failed": 1}
    before = len(sandbox.requests)
    async with Syndicator(
        settings, state=store, transports=transports, adapters={"acme": AcmeAdapter}
    ) as s:
        assert (await s.run([listing])).totals == {"converged": 1}
        assert (await s.run([listing])).totals == {"unchanged": 1}
    writes = [(r.method, r.path) for r in sandbox.requests[before:] if r.is_write]
    assert writes == [("POST", "/listings/L1/images")] * 2 + [("POST", "/listings/L1/publish")]
    assert sandbox.by_external_id() == {"L-1": 1}
    assert sandbox.image_duplicates() == 0
    (item,) = sandbox.listings.values()
    assert len(item["images"]) == 3


async def test_stop_between_operations_journals_nothing_it_will_not_send(
    sandbox: AcmeSandbox, state_url: str
) -> None:
    """Stopped while a listing's first image is sent, the run records that image, leaves the
    listing interrupted and journals no intent for the next image, which it does not send;
    the next run sends the rest."""

    class StopOnImage(AcmeAdapter):
        async def apply(self, op: Operation, ctx: OperationContext) -> OperationResult:
            answer = await super().apply(op, ctx)
            if op.kind is OpKind.MEDIA_ADD:
                syndicator.stop()
            return answer

    settings = {"acme": {"base_url": "http://acme.test", "token": "tok-default"}}
    listing = parse_listing(listing_data("L-1", images=2))
    key = StateKey("acme", "default", "L-1")
    transports = {"acme": sandbox.transport()}
    async with Syndicator(
        settings, state=state_url, transports=transports, adapters={"acme": StopOnImage}
    ) as syndicator:
        report = await syndicator.run([listing])
        assert [r.outcome for r in report.results] == [Outcome.INTERRUPTED]
        assert syndicator.store.intents(key) == []
        (state,) = await syndicator.status("L-1")
        assert len(state.item_ids) == 1
    (item,) = sandbox.listings.values()
    assert len(item["images"]) == 1
    async with Syndicator(
        settings, state=state_url, transports=transports, adapters={"acme": AcmeAdapter}
    ) as syndicator:
        assert (await syndicator.run([listing])).totals == {"converged": 1}
    assert len(item["images"]) == 2
    assert item["status"] == "live"
