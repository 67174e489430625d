"""Conformance checks for write adapters (create, update, media, publish, sold, delete)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from listsync.adapter import Capability, OpKind, PortalStatus, TargetState
from listsync.errors import PortalError, UnknownOutcomeError
from listsync.model import Listing
from listsync.sandbox import FaultConfig, RecordedRequest, Sandbox
from listsync.testing._common import CommonConformance, run
from listsync.testing._driver import ConformanceError, Driver
from listsync.testing._faults import ScriptedFaults
from listsync.testing._prepare import PrepareChecks

__all__ = ["WriteAdapterConformance"]


def _kinds(ops: Sequence[Any]) -> list[str]:
    return [op.kind.value for op in ops]


class WriteAdapterConformance(CommonConformance, PrepareChecks):
    """The conformance suite for write adapters; join it with one line:

    `class TestAcmeConformance(WriteAdapterConformance, AcmeFixtures): pass`
    """

    # -- hooks for the shared checks -------------------------------------------------------
    async def _exercise(self, adapter: Any, sandbox: Sandbox) -> None:
        await Driver(adapter).sync(self._listing())

    async def _prepare(self, adapter: Any, sandbox: Sandbox) -> Any:
        driver = Driver(adapter)
        await driver.sync(self._listing())
        return driver

    async def _idempotent_call(self, adapter: Any, state: Any) -> Any:
        driver: Driver = state
        listing = self._listing()
        if Capability.UPDATE in adapter.capabilities:
            return await driver.sync(self.changed_listing(listing))
        return await adapter.fetch(listing.external_ref, driver.remote_id)

    # -- helpers -----------------------------------------------------------------------------
    def _listing(self) -> Listing:
        listings = list(self.valid_listings())
        if not listings:
            raise ConformanceError(f"{type(self).__name__}.valid_listings() is empty")
        return listings[0]

    def _caps(self) -> frozenset[Capability]:
        return frozenset(self.load_adapter_class().capabilities)

    def _require(self, *caps: Capability) -> None:
        import pytest  # noqa: PLC0415  (the kit imports pytest only inside checks)

        missing = [c.value for c in caps if c not in self._caps()]
        if missing:
            pytest.skip(f"{self.portal} does not declare {missing}")

    def extra_media_url(self, listing: Listing, index: int) -> str:
        """URL of a media item the media checks add (override for portals that check hosts)."""
        return f"https://media.example.com/{listing.external_ref}/conformance-{index}.jpg"

    def _with_extra_media(self, listing: Listing) -> Listing:
        data = listing.model_dump(mode="json")
        url = self.extra_media_url(listing, len(listing.media))
        data["media"] = [*data["media"], {"url": url, "kind": "photo", "caption": "Conformance"}]
        return Listing.model_validate(data)

    def _with_extra_showing(self, listing: Listing, note: str) -> Listing:
        data = listing.model_dump(mode="json")
        start = "2030-05-04T11:00:00+02:00"
        showing = {"start": start, "end": "2030-05-04T12:00:00+02:00", "note": note}
        data["showings"] = [*data["showings"], showing]
        return Listing.model_validate(data)

    # -- lifecycle -----------------------------------------------------------------------------
    def test_create_then_fetch(self) -> None:
        """A new listing is created first, published when the adapter publishes, and fetch()
        finds it by remote id and by external_ref alone."""
        sandbox, listing = self.make_sandbox(), self._listing()

        async def scenario() -> None:
            async with self._adapter(sandbox) as adapter:
                driver = Driver(adapter)
                desired = driver.desired(listing)
                ops = await driver.sync(listing)
                if not ops or ops[0].kind is not OpKind.CREATE:
                    raise ConformanceError(
                        f"the first operation for a new listing must be create, got {_kinds(ops)}"
                    )
                wants_publish = desired.target is TargetState.PUBLISHED
                published = OpKind.PUBLISH in [op.kind for op in ops]
                if wants_publish and Capability.PUBLISH in adapter.capabilities and not published:
                    raise ConformanceError(f"a listing for sale was not published: {_kinds(ops)}")
                by_id = await adapter.fetch(listing.external_ref, driver.remote_id)
                if by_id is None or by_id.remote_id != driver.remote_id:
                    raise ConformanceError(
                        f"fetch() does not find the listing it just created ({by_id!r})"
                    )
                by_ref = await adapter.fetch(listing.external_ref, None)
                if by_ref is None or by_ref.remote_id != driver.remote_id:
                    raise ConformanceError(
                        "fetch(external_ref, None) must find the listing by external_ref "
                        f"(recover() depends on it), got {by_ref!r}"
                    )

        run(scenario())

    def test_plans_only_declared_operations(self) -> None:
        """Whatever the listing asks for (media, showings, every lifecycle target), plan()
        yields only operations whose capability the adapter declares."""
        listing = self._with_extra_showing(self._with_extra_media(self._listing()), "Plan")
        sandbox = self.make_sandbox()

        async def scenario() -> None:
            async with self._adapter(sandbox) as adapter:
                driver = Driver(adapter)
                published = driver.desired(listing)
                for target in TargetState:
                    driver.sent = None
                    driver.plan(published.model_copy(update={"target": target}))
                    driver.sent = published
                    driver.plan(driver.desired(self.sold_listing(listing), target))

        run(scenario())

    def test_reapplying_same_listing_is_a_no_op(self) -> None:
        """Projecting is deterministic, and re-applying an unchanged listing plans nothing and
        writes nothing."""
        sandbox, listing = self.make_sandbox(), self._listing()

        async def scenario() -> None:
            async with self._adapter(sandbox) as adapter, self._adapter(sandbox) as other:
                driver = Driver(adapter)
                await driver.sync(listing)
                writes = len(sandbox.write_requests())
                first, again = driver.desired(listing), Driver(other).desired(listing)
                if first.digest() != again.digest():
                    raise ConformanceError(
                        "prepare() is not deterministic: two projections of the same listing "
                        "differ, so every run would send it again"
                    )
                ops = await driver.sync(listing)
                if ops or len(sandbox.write_requests()) != writes:
                    raise ConformanceError(
                        f"re-applying an unchanged listing planned {_kinds(ops)} and sent "
                        f"{len(sandbox.write_requests()) - writes} write request(s); expected none"
                    )

        run(scenario())

    def test_update_sends_only_changed_fields(self) -> None:
        """Changing one field plans one update; a patch-style portal receives exactly the
        changed fields, a put-style portal the whole record."""
        self._require(Capability.UPDATE)
        sandbox, listing = self.make_sandbox(), self._listing()
        changed = self.changed_listing(listing)

        async def scenario() -> None:
            async with self._adapter(sandbox) as adapter:
                driver = Driver(adapter)
                await driver.sync(listing)
                desired = driver.desired(changed)
                ops = driver.plan(desired)
                if [op.kind for op in ops] != [OpKind.UPDATE]:
                    raise ConformanceError(
                        f"changing one field must plan exactly one update, got {_kinds(ops)}"
                    )
                before = len(sandbox.write_requests())
                await driver.apply(ops[0], desired, changed)
                writes = sandbox.write_requests()[before:]
                self._check_update_body(writes, set(ops[0].changes), set(desired.fields))

        run(scenario())

    def _check_update_body(
        self, writes: list[RecordedRequest], changed: set[str], all_fields: set[str]
    ) -> None:
        if not writes:
            raise ConformanceError("the update sent no write request")
        body = _unwrap_body(writes[0].body, changed)
        if not isinstance(body, dict):
            raise ConformanceError(
                f"the update {writes[0].method} {writes[0].path} has no JSON object body"
            )
        sent = set(body)
        missing = sorted(changed - sent)
        if missing:
            raise ConformanceError(f"the update did not send the changed field(s) {missing}")
        if self.update_style == "patch":
            extra = sorted(sent - changed)
            if extra:
                raise ConformanceError(
                    f"an update of {sorted(changed)} sent {len(sent)} fields: unchanged "
                    f"field(s) {extra} were sent too; a patch-style portal must receive exactly "
                    "the changed fields (Operation.changes)"
                )
        elif all_fields - sent:
            raise ConformanceError(
                "a put-style update must send the whole record; missing "
                f"{sorted(all_fields - sent)}"
            )

    def test_media_added_and_removed(self) -> None:
        """An added media item plans and applies media_add; removing it plans media_remove;
        afterwards nothing is left to do."""
        self._require(Capability.MEDIA)
        sandbox, listing = self.make_sandbox(), self._listing()
        more = self._with_extra_media(listing)

        async def scenario() -> None:
            async with self._adapter(sandbox) as adapter:
                driver = Driver(adapter)
                await driver.sync(listing)
                added = [op.kind for op in await driver.sync(more)]
                if OpKind.MEDIA_ADD not in added:
                    raise ConformanceError(f"adding a media item planned {added}, no media_add")
                removed = [op.kind for op in await driver.sync(listing)]
                if OpKind.MEDIA_REMOVE not in removed:
                    raise ConformanceError(f"removing a media item planned {removed}")
                left = driver.plan(driver.desired(listing))
                if left:
                    raise ConformanceError(f"after the media changes, still planned {_kinds(left)}")

        run(scenario())

    def test_showings_created_updated_deleted(self) -> None:
        """A showing is created, changed and deleted through the showing operations."""
        self._require(Capability.SHOWINGS)
        sandbox, listing = self.make_sandbox(), self._listing()
        first = self._with_extra_showing(listing, "Conformance showing")
        second = self._with_extra_showing(listing, "Conformance showing, moved")

        async def scenario() -> None:
            async with self._adapter(sandbox) as adapter:
                driver = Driver(adapter)
                await driver.sync(listing)
                steps = [(first, OpKind.SHOWING_CREATE), (listing, OpKind.SHOWING_DELETE)]
                for target, expected in steps:
                    kinds = [op.kind for op in await driver.sync(target)]
                    if expected not in kinds:
                        raise ConformanceError(f"expected {expected.value}, planned {kinds}")
                await driver.sync(first)
                kinds = [op.kind for op in await driver.sync(second)]
                if not {OpKind.SHOWING_UPDATE, OpKind.SHOWING_CREATE} & set(kinds):
                    raise ConformanceError(f"changing a showing planned {kinds}")

        run(scenario())

    def test_unpublish_then_publish(self) -> None:
        """A published listing can be unpublished and published again."""
        self._require(Capability.PUBLISH, Capability.UNPUBLISH)
        sandbox, listing = self.make_sandbox(), self._listing()

        async def scenario() -> None:
            async with self._adapter(sandbox) as adapter:
                driver = Driver(adapter)
                await driver.sync(listing)
                ops = await driver.sync(listing, TargetState.UNPUBLISHED)
                if [op.kind for op in ops] != [OpKind.UNPUBLISH]:
                    raise ConformanceError(f"unpublishing planned {_kinds(ops)}")
                record = await adapter.fetch(listing.external_ref, driver.remote_id)
                if record is not None and record.status is PortalStatus.LIVE:
                    raise ConformanceError("the listing is still live after unpublish")
                ops = await driver.sync(listing, TargetState.PUBLISHED)
                if [op.kind for op in ops] != [OpKind.PUBLISH]:
                    raise ConformanceError(f"publishing again planned {_kinds(ops)}")

        run(scenario())

    def test_mark_sold(self) -> None:
        """A sold listing projects to target SOLD and is marked sold on the portal."""
        self._require(Capability.MARK_SOLD)
        sandbox, listing = self.make_sandbox(), self._listing()
        sold = self.sold_listing(listing)

        async def scenario() -> None:
            async with self._adapter(sandbox) as adapter:
                driver = Driver(adapter)
                await driver.sync(listing)
                desired = driver.desired(sold)
                if desired.target is not TargetState.SOLD:
                    raise ConformanceError(
                        f"prepare() of a sold listing must target SOLD, got {desired.target}"
                    )
                ops = await driver.sync(sold)
                if OpKind.MARK_SOLD not in [op.kind for op in ops]:
                    raise ConformanceError(f"a sold listing planned {_kinds(ops)}")
                record = await adapter.fetch(listing.external_ref, driver.remote_id)
                if record is None or record.status is not PortalStatus.SOLD:
                    status = record.status if record else None
                    raise ConformanceError(f"after mark_sold, fetch() reports status {status}")

        run(scenario())

    def test_delete(self) -> None:
        """A listing that should be absent is deleted and no longer found as live."""
        self._require(Capability.DELETE)
        sandbox, listing = self.make_sandbox(), self._listing()

        async def scenario() -> None:
            async with self._adapter(sandbox) as adapter:
                driver = Driver(adapter)
                await driver.sync(listing)
                remote_id = driver.remote_id
                ops = await driver.sync(listing, TargetState.ABSENT)
                if [op.kind for op in ops] != [OpKind.DELETE]:
                    raise ConformanceError(f"removing a listing planned {_kinds(ops)}")
                record = await adapter.fetch(listing.external_ref, remote_id)
                if record is not None and record.status not in (
                    PortalStatus.DELETED,
                    PortalStatus.WITHDRAWN,
                ):
                    raise ConformanceError(f"after delete, fetch() reports {record.status}")

        run(scenario())

    # -- exactly once ------------------------------------------------------------------------
    def test_unknown_outcome_then_recover_leaves_one_record(self) -> None:
        """A create whose response is lost (commit-then-drop) raises UnknownOutcomeError;
        recover() finds the record, so the retry does not duplicate it."""
        sandbox, listing = self.make_sandbox(), self._listing()

        async def scenario() -> Driver:
            transport = ScriptedFaults(sandbox, sandbox.transport())
            async with self._adapter(sandbox, transport=transport) as adapter:
                await adapter.check()
                transport.arm(FaultConfig(drop_rate=1.0), count=1)
                driver = Driver(adapter)
                await driver.sync(listing)
                if driver.plan(driver.desired(listing)):
                    raise ConformanceError("after recovery the listing still plans operations")
                if await adapter.fetch(listing.external_ref, None) is None:
                    raise ConformanceError("after recovery fetch() does not find the listing")
                return driver

        try:
            driver = run(scenario())
        except UnknownOutcomeError as exc:
            raise ConformanceError(f"recover() + retry did not settle the create: {exc}") from exc
        except PortalError as exc:
            raise ConformanceError(
                f"a create whose response was lost must raise UnknownOutcomeError (the write may "
                f"have landed, so the engine looks it up first), got {type(exc).__name__}: {exc}"
            ) from exc
        if not [r for r in sandbox.requests if r.fault == "drop"]:
            raise ConformanceError("the dropped response never happened (no write was sent)")
        count = self.remote_count(sandbox, listing.external_ref)
        if count is not None and count != 1:
            raise ConformanceError(
                f"after a lost response and a retry the sandbox holds {count} records for "
                f"{listing.external_ref!r}; recover() must find the first one "
                f"(recovered: {_kinds(driver.recovered)})"
            )


def _unwrap_body(body: Any, changed: set[str]) -> Any:
    """The fields of a request body, looking inside a single wrapper key (`{"listing": {}}`)."""
    if isinstance(body, dict) and len(body) == 1 and not set(body) & changed:
        inner = next(iter(body.values()))
        if isinstance(inner, dict):
            return inner
    return body
