"""Drive one adapter the way the engine does: prepare, diff, plan, apply, record what was sent.

The kit keeps the "sent" projection in memory instead of a state store, so a check (or an
adapter's own tests) can replay a listing's life (create, update, media, publish, sold, delete)
against a sandbox in a few lines. Everything it uses is the public contract (`listsync.adapter`):
the engine (`listsync.sync`) is not involved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from listsync.adapter import (
    OP_CAPABILITY,
    Operation,
    OperationContext,
    OperationResult,
    OpKind,
    Prepared,
    Projection,
    TargetState,
    apply_result_to_sent,
    default_plan,
    diff_projection,
)
from listsync.errors import InvalidListingError, UnknownOutcomeError
from listsync.model import Listing

__all__ = ["ConformanceError", "Driver"]


class ConformanceError(AssertionError):
    """A conformance check failed; the message says what the adapter got wrong."""


@dataclass
class Driver:
    """Applies listings to one adapter instance, keeping what was sent in memory.

    Attributes:
        adapter: the write adapter driven.
        recover: after an `UnknownOutcomeError`, call `recover()` and resend once if it found
            nothing (what the engine does); False lets the error through.
        sent: the projection the portal holds according to the driver.
        remote_id: the portal's id of the listing once created.
        item_ids: media/showing key -> the portal's id of that item.
        applied: every operation applied, with its result.
        recovered: operations whose outcome was unknown and that `recover()` found.
    """

    adapter: Any
    recover: bool = True
    sent: Projection | None = None
    remote_id: str | None = None
    item_ids: dict[str, str] = field(default_factory=dict)
    applied: list[tuple[Operation, OperationResult]] = field(default_factory=list)
    recovered: list[Operation] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"adapter {getattr(self.adapter, 'name', type(self.adapter).__name__)!r}"

    def prepare(self, listing: Listing) -> Prepared:
        """`adapter.prepare(listing)`, checked to be the contract's `Prepared`."""
        prepared = self.adapter.prepare(listing)
        if not isinstance(prepared, Prepared):
            raise ConformanceError(
                f"{self.name}: prepare() must return listsync.adapter.Prepared, got "
                f"{type(prepared).__name__}"
            )
        return prepared

    def desired(self, listing: Listing, target: TargetState | None = None) -> Projection:
        """The projection of `listing` (with `target` instead of its own, when given).

        Raises:
            InvalidListingError: `prepare()` found errors (the engine blocks the listing).
        """
        prepared = self.prepare(listing)
        if prepared.projection is None:
            raise InvalidListingError(prepared.issues, external_ref=listing.external_ref)
        projection = prepared.projection
        if target is not None:
            projection = projection.model_copy(update={"target": target})
        return projection

    def plan(self, desired: Projection) -> list[Operation]:
        """The plan from what was sent to `desired`: the adapter's own `plan(diff)` when it has
        one (`CustomPlan`), else `default_plan`; checked against the declared capabilities."""
        diff = diff_projection(self.sent, desired)
        declared = frozenset(self.adapter.capabilities)
        custom = getattr(self.adapter, "plan", None)
        ops: list[Operation] = list(
            custom(diff) if callable(custom) else default_plan(diff, declared)
        )
        for op in ops:
            needed = OP_CAPABILITY[op.kind]
            if needed not in declared:
                raise ConformanceError(
                    f"plan() produced a {op.kind.value!r} operation but {self.name} does not "
                    f"declare Capability.{needed.name}; declare it or leave the operation out "
                    "(default_plan(diff, self.capabilities) does)"
                )
        return ops

    async def sync(self, listing: Listing, target: TargetState | None = None) -> list[Operation]:
        """Plan and apply everything that moves the portal to `listing`; return the plan."""
        return [op for op, _ in await self.sync_steps(listing, target)]

    async def sync_steps(
        self, listing: Listing, target: TargetState | None = None
    ) -> list[tuple[Operation, OperationResult]]:
        """Like `sync`, returning each operation applied with its result."""
        desired = self.desired(listing, target)
        return [(op, await self.apply(op, desired, listing)) for op in self.plan(desired)]

    def context(self, desired: Projection, listing: Listing | None) -> OperationContext:
        return OperationContext(
            external_ref=desired.external_ref,
            remote_id=self.remote_id,
            projection=desired,
            item_ids=dict(self.item_ids),
            listing=listing,
        )

    async def apply(
        self, op: Operation, desired: Projection, listing: Listing | None
    ) -> OperationResult:
        """Apply one operation; after an unknown outcome, `recover()` first, then resend once."""
        ctx = self.context(desired, listing)
        try:
            result: OperationResult = await self.adapter.apply(op, ctx)
        except UnknownOutcomeError:
            if not self.recover:
                raise
            found: OperationResult | None = await self.adapter.recover(op, ctx)
            if found is not None:
                self.recovered.append(op)
                result = found
            else:
                result = await self.adapter.apply(op, ctx)
        self.record(op, result, desired)
        return result

    def record(self, op: Operation, result: OperationResult, desired: Projection) -> None:
        """What the engine records after `op` succeeded with `result`."""
        if op.kind is OpKind.CREATE:
            if not result.remote_id:
                raise ConformanceError(
                    f"{self.name}: apply(CREATE) returned no remote_id; the engine needs the "
                    "portal's id of the new listing"
                )
            self.remote_id = result.remote_id
        elif op.kind in (OpKind.MEDIA_ADD, OpKind.SHOWING_CREATE) and op.key and result.remote_id:
            self.item_ids[op.key] = result.remote_id
        elif op.kind in (OpKind.MEDIA_REMOVE, OpKind.SHOWING_DELETE) and op.key:
            self.item_ids.pop(op.key, None)
        self.applied.append((op, result))
        self.sent = apply_result_to_sent(
            self.sent, desired, op, frozenset(self.adapter.capabilities)
        )
        if op.kind is OpKind.DELETE:
            self.remote_id = None
