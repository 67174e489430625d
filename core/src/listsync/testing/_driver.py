"""Drive one adapter the way the engine does: project, diff, plan, apply, record what was sent.

The kit keeps the "sent" projection in memory instead of a state store, so a check can replay a
listing's life (create, update, media, publish, sold, delete) against a sandbox in a few lines.
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
    Projection,
    TargetState,
)
from listsync.errors import UnknownOutcomeError
from listsync.model import Listing
from listsync.sync import apply_result_to_sent, diff_projection

__all__ = ["ConformanceError", "Driver"]


class ConformanceError(AssertionError):
    """A conformance check failed; the message says what the adapter got wrong."""


@dataclass
class Driver:
    """Applies listings to one adapter instance, keeping what was sent in memory.

    Attributes:
        sent: the projection the portal holds according to the driver.
        remote_id: the portal's id of the listing once created.
        item_ids: media/showing key -> the portal's id of that item.
        applied: every operation applied, with its result.
        recovered: operations whose outcome was unknown and that `recover()` found.
    """

    adapter: Any
    sent: Projection | None = None
    remote_id: str | None = None
    item_ids: dict[str, str] = field(default_factory=dict)
    applied: list[tuple[Operation, OperationResult]] = field(default_factory=list)
    recovered: list[Operation] = field(default_factory=list)

    def desired(self, listing: Listing, target: TargetState | None = None) -> Projection:
        projection: Projection = self.adapter.project(listing)
        if target is not None:
            projection = projection.model_copy(update={"target": target})
        return projection

    def plan(self, desired: Projection) -> list[Operation]:
        """The adapter's plan from what was sent to `desired`, checked against capabilities."""
        ops: list[Operation] = list(self.adapter.plan(diff_projection(self.sent, desired)))
        declared = frozenset(self.adapter.capabilities)
        for op in ops:
            needed = OP_CAPABILITY[op.kind]
            if needed not in declared:
                raise ConformanceError(
                    f"plan() produced a {op.kind.value!r} operation but {self.name} does not "
                    f"declare Capability.{needed.name}; declare it or leave the operation out "
                    "(default_plan(diff, self.capabilities) does)"
                )
        return ops

    @property
    def name(self) -> str:
        return f"adapter {getattr(self.adapter, 'name', type(self.adapter).__name__)!r}"

    async def sync(self, listing: Listing, target: TargetState | None = None) -> list[Operation]:
        """Plan and apply everything that moves the portal to `listing`; return the plan."""
        desired = self.desired(listing, target)
        ops = self.plan(desired)
        for op in ops:
            await self.apply(op, desired, listing)
        return ops

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
        """Apply one operation; after an unknown outcome, `recover()` first, then retry once."""
        ctx = self.context(desired, listing)
        try:
            result: OperationResult = await self.adapter.apply(op, ctx)
        except UnknownOutcomeError:
            found: OperationResult | None = await self.adapter.recover(op, ctx)
            if found is not None:
                self.recovered.append(op)
                result = found
            else:
                result = await self.adapter.apply(op, ctx)
        self.record(op, result, desired)
        return result

    def record(self, op: Operation, result: OperationResult, desired: Projection) -> None:
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
