"""Compare what was last sent to a portal with what should be there, and plan the steps.

Pure functions: no I/O, no portal names. The engine plans with `default_plan` unless the adapter
has a `plan` method of its own (which may call `default_plan` and reorder, fold or refuse
operations when its portal works differently); `apply_result_to_sent` is what the engine
records after each operation that succeeded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from listsync.adapter._types import (
    OP_CAPABILITY,
    Capability,
    Operation,
    OpKind,
    ProjectedItem,
    Projection,
    TargetState,
    _item_creations,
)
from listsync.adapter._types import new_operation as _operation

__all__ = [
    "ProjectionDiff",
    "apply_result_to_sent",
    "changed_fields",
    "default_plan",
    "diff_projection",
    "new_listing_plan",
]

_ABSENT = object()


@dataclass(frozen=True)
class ProjectionDiff:
    """The difference between the last sent projection and the desired one.

    Attributes:
        sent: what the portal holds according to the state store (None: nothing yet).
        desired: what it should hold.
        field_changes: changed top-level fields; `None` means "unset this field".
        ref_changes: changed refs (`Projection.refs`); `None` means "no longer referenced".
        media_added / media_removed: items by key.
        showings_added / showings_changed / showings_removed: items by key; a changed showing
            carries only its changed payload fields.
    """

    sent: Projection | None
    desired: Projection
    field_changes: dict[str, Any] = field(default_factory=dict)
    ref_changes: dict[str, Any] = field(default_factory=dict)
    media_added: tuple[ProjectedItem, ...] = ()
    media_removed: tuple[ProjectedItem, ...] = ()
    showings_added: tuple[ProjectedItem, ...] = ()
    showings_changed: tuple[tuple[ProjectedItem, dict[str, Any]], ...] = ()
    showings_removed: tuple[ProjectedItem, ...] = ()

    @property
    def exists(self) -> bool:
        """True when the listing exists on the portal."""
        return self.sent is not None and self.sent.target is not TargetState.ABSENT

    @property
    def current_target(self) -> TargetState:
        return self.sent.target if self.sent is not None else TargetState.ABSENT


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Top-level keys whose value differs; a key only in `old` maps to None (unset)."""
    out: dict[str, Any] = {}
    for key in old.keys() | new.keys():
        before = old.get(key, _ABSENT)
        after = new.get(key)
        if before is _ABSENT and after is None:
            continue
        if before != after:
            out[key] = after
    return out


def _by_key(items: Iterable[ProjectedItem]) -> dict[str, ProjectedItem]:
    return {item.key: item for item in items}


def diff_projection(sent: Projection | None, desired: Projection) -> ProjectionDiff:
    """Everything that differs between `sent` and `desired`."""
    if sent is None or sent.target is TargetState.ABSENT:
        return _new_diff(
            sent, desired, dict(desired.fields), dict(desired.refs), desired.media, desired.showings
        )
    old_media, new_media = _by_key(sent.media), _by_key(desired.media)
    old_show, new_show = _by_key(sent.showings), _by_key(desired.showings)
    # A media item whose payload changed (e.g. a new index) is removed and added again.
    media_changed = {k for k in old_media.keys() & new_media.keys() if old_media[k] != new_media[k]}
    return ProjectionDiff(
        sent=sent,
        desired=desired,
        field_changes=changed_fields(sent.fields, desired.fields),
        ref_changes=changed_fields(sent.refs, desired.refs),
        media_added=tuple(
            i for k, i in new_media.items() if k not in old_media or k in media_changed
        ),
        media_removed=tuple(
            i for k, i in old_media.items() if k not in new_media or k in media_changed
        ),
        showings_added=tuple(i for k, i in new_show.items() if k not in old_show),
        showings_changed=tuple(
            (i, changed_fields(old_show[k].payload, i.payload))
            for k, i in new_show.items()
            if k in old_show and old_show[k].payload != i.payload
        ),
        showings_removed=tuple(i for k, i in old_show.items() if k not in new_show),
    )


def _new_diff(  # noqa: PLR0917  (the fields of a diff, in order)
    sent: Projection | None,
    desired: Projection,
    field_changes: dict[str, Any],
    ref_changes: dict[str, Any],
    media_added: tuple[ProjectedItem, ...],
    showings_added: tuple[ProjectedItem, ...],
) -> ProjectionDiff:
    """`ProjectionDiff(sent=..., desired=..., ...)` of these values and no removals or changes,
    its attributes set in one go instead of by the frozen dataclass's `object.__setattr__` per
    field (the diff of every new listing)."""
    diff = _NEW_OBJECT(ProjectionDiff)
    diff.__dict__.update(
        sent=sent,
        desired=desired,
        field_changes=field_changes,
        ref_changes=ref_changes,
        media_added=media_added,
        media_removed=(),
        showings_added=showings_added,
        showings_changed=(),
        showings_removed=(),
    )
    return diff


_NEW_OBJECT = object.__new__


def _transition(
    current: TargetState, target: TargetState, desired: Projection, sent: Projection | None
) -> list[Operation]:
    if target is TargetState.PUBLISHED and current is not TargetState.PUBLISHED:
        return [_operation(OpKind.PUBLISH)]
    if target is TargetState.UNPUBLISHED and current is TargetState.PUBLISHED:
        return [_operation(OpKind.UNPUBLISH)]
    if target is TargetState.DRAFT and current is TargetState.PUBLISHED:
        return [_operation(OpKind.UNPUBLISH)]
    if target is TargetState.SOLD:
        already = current is TargetState.SOLD and sent is not None and sent.sale == desired.sale
        if not already:
            return [_operation(OpKind.MARK_SOLD, payload=dict(desired.sale or {}))]
    return []


def default_plan(diff: ProjectionDiff, capabilities: frozenset[Capability]) -> list[Operation]:
    """The operations that move a portal from `diff.sent` to `diff.desired`, in order.

    Order: create or update, media removals, media additions, showings, then the lifecycle
    transition (publish after the images, so a portal that needs an image can publish).
    Operations the adapter has no capability for are left out: a portal without `PUBLISH`
    publishes on create.
    """
    desired = diff.desired
    ops: list[Operation] = []
    if desired.target is TargetState.ABSENT:
        if diff.exists:
            if Capability.DELETE in capabilities:
                ops.append(_operation(OpKind.DELETE))
            elif diff.current_target is TargetState.PUBLISHED:
                ops.append(_operation(OpKind.UNPUBLISH))
        return _supported(ops, capabilities)
    # Each operation is made only for a capability the adapter has (what `_supported` keeps):
    # most listings have several images, each an operation.
    if not diff.exists:
        if Capability.CREATE in capabilities:
            payload, refs = dict(desired.fields), dict(desired.refs) or None
            ops.append(_operation(OpKind.CREATE, payload=payload, refs=refs))
        current = TargetState.DRAFT if Capability.PUBLISH in capabilities else TargetState.PUBLISHED
    else:
        if (diff.field_changes or diff.ref_changes) and Capability.UPDATE in capabilities:
            update = _operation(
                OpKind.UPDATE, changes=dict(diff.field_changes), refs=dict(diff.ref_changes) or None
            )
            ops.append(update)
        current = diff.current_target
    if Capability.MEDIA in capabilities:
        ops += [_operation(OpKind.MEDIA_REMOVE, i.key) for i in diff.media_removed]
        ops += _item_creations(OpKind.MEDIA_ADD, diff.media_added)
    if Capability.SHOWINGS in capabilities:
        ops += [_operation(OpKind.SHOWING_DELETE, i.key) for i in diff.showings_removed]
        ops += [
            _operation(OpKind.SHOWING_UPDATE, i.key, changes=dict(ch))
            for i, ch in diff.showings_changed
        ]
        ops += _item_creations(OpKind.SHOWING_CREATE, diff.showings_added)
    ops += _supported(_transition(current, desired.target, desired, diff.sent), capabilities)
    return ops


def new_listing_plan(desired: Projection, capabilities: frozenset[Capability]) -> list[Operation]:
    """`default_plan(diff_projection(None, desired), capabilities)` without the diff: the plan
    of a listing the portal does not hold (no record, or one whose target is ABSENT, which
    plans the same), which is every listing of a first run.

    The planner's shortcut for adapters without a `plan` of their own: the same operations,
    without copying the fields into a diff that only this function would read.
    """
    target = desired.target
    if target is TargetState.ABSENT:
        return []
    ops: list[Operation] = []
    if Capability.CREATE in capabilities:
        refs = dict(desired.refs) or None
        ops.append(_operation(OpKind.CREATE, payload=dict(desired.fields), refs=refs))
    if Capability.MEDIA in capabilities and desired.media:
        ops += _item_creations(OpKind.MEDIA_ADD, desired.media)
    if Capability.SHOWINGS in capabilities and desired.showings:
        ops += _item_creations(OpKind.SHOWING_CREATE, desired.showings)
    current = TargetState.DRAFT if Capability.PUBLISH in capabilities else TargetState.PUBLISHED
    if target is not current:
        ops += _supported(_transition(current, target, desired, None), capabilities)
    return ops


def _supported(ops: list[Operation], capabilities: frozenset[Capability]) -> list[Operation]:
    return [op for op in ops if OP_CAPABILITY[op.kind] in capabilities]


def apply_result_to_sent(
    sent: Projection | None,
    desired: Projection,
    op: Operation,
    capabilities: frozenset[Capability],
) -> Projection:
    """What the portal holds after `op` succeeded: the engine records this after every step,
    so a run killed half-way re-plans only the steps that are left."""
    base = (
        sent
        if sent is not None
        else Projection(external_ref=desired.external_ref, fields={}, target=TargetState.ABSENT)
    )
    kind = op.kind
    if kind is OpKind.CREATE:
        target = TargetState.DRAFT if Capability.PUBLISH in capabilities else TargetState.PUBLISHED
        # Keep media applied before the create (portals that upload media first, e.g. Immowelt).
        return Projection(
            external_ref=desired.external_ref,
            fields=dict(desired.fields),
            refs=dict(desired.refs),
            target=target,
            media=base.media,
        )
    if kind is OpKind.UPDATE:
        fields = {**base.fields, **op.changes}
        fields = {k: v for k, v in fields.items() if not (v is None and k not in desired.fields)}
        refs = {**base.refs, **op.refs}
        refs = {k: v for k, v in refs.items() if not (v is None and k not in desired.refs)}
        return base.model_copy(update={"fields": fields, "refs": refs})
    if kind is OpKind.DELETE:
        return base.model_copy(
            update={
                "target": TargetState.ABSENT,
                "media": (),
                "showings": (),
                "fields": {},
                "refs": {},
            }
        )
    if kind in (OpKind.MEDIA_ADD, OpKind.MEDIA_REMOVE):
        return base.model_copy(update={"media": _items_after(base.media, desired.media, op)})
    if kind in (OpKind.SHOWING_CREATE, OpKind.SHOWING_UPDATE, OpKind.SHOWING_DELETE):
        items = _items_after(base.showings, desired.showings, op)
        return base.model_copy(update={"showings": items})
    transitions = {
        OpKind.PUBLISH: TargetState.PUBLISHED,
        OpKind.UNPUBLISH: TargetState.UNPUBLISHED
        if desired.target is not TargetState.DRAFT
        else TargetState.DRAFT,
        OpKind.MARK_SOLD: TargetState.SOLD,
    }
    update: dict[str, Any] = {"target": transitions[kind]}
    if kind is OpKind.MARK_SOLD:
        update["sale"] = desired.sale
    return base.model_copy(update=update)


def _items_after(
    current: tuple[ProjectedItem, ...], desired: tuple[ProjectedItem, ...], op: Operation
) -> tuple[ProjectedItem, ...]:
    kept = [i for i in current if i.key != op.key]
    if op.kind in (OpKind.MEDIA_REMOVE, OpKind.SHOWING_DELETE):
        return tuple(kept)
    wanted = next((i for i in desired if i.key == op.key), None)
    if wanted is not None:
        kept.append(wanted)
    return tuple(kept)
