"""The planning shortcuts: the same operations as the long way round.

`new_listing_plan` is the planner's way to plan a listing the portal does not hold without the
diff; `new_operation` shares its fields sets. Each must give exactly what the general path
(the diff and `default_plan`, a validated `Operation`) gives.
"""

from __future__ import annotations

import dataclasses
from itertools import combinations
from typing import Any

import pytest

from listsync.adapter import (
    Capability,
    Operation,
    OpKind,
    ProjectedItem,
    Projection,
    TargetState,
    default_plan,
    diff_projection,
    new_item,
    new_operation,
    new_projection,
)
from listsync.adapter._diff import new_listing_plan
from listsync.sync._plan import Planner
from listsync.sync._sqlrows import OPERATION_JSON

PLANNED = (
    Capability.CREATE,
    Capability.MEDIA,
    Capability.SHOWINGS,
    Capability.PUBLISH,
    Capability.UNPUBLISH,
    Capability.MARK_SOLD,
    Capability.DELETE,
)
EVERY_CAPABILITY_SET = [
    frozenset(chosen) for size in range(len(PLANNED) + 1) for chosen in combinations(PLANNED, size)
]


def _projections() -> list[Projection]:
    media = tuple(
        new_item(f"m{i}", i, {"url": f"https://x.test/{i}.jpg", "index": i}) for i in range(3)
    )
    showings = (new_item("s0", 0, {"startAt": "2026-12-06T10:00", "endAt": "2026-12-06T11:00"}),)
    out = []
    for target in TargetState:
        for refs in (None, {"agency": {"ref": "A-1"}}):
            for items in ((), media[:1], media):
                out.append(
                    new_projection(
                        "REF-1",
                        {"title": "Villa", "price": 1_000_000, "rooms": [1, 2]},
                        refs=refs,
                        media=items,
                        showings=showings if items else (),
                        target=target,
                        sale={"price": 990_000} if target is TargetState.SOLD else None,
                    )
                )
    return out


def _facts(op: Operation) -> tuple[Any, ...]:
    return (op, repr(op), OPERATION_JSON.dump_json(op), type(op.kind))


@pytest.mark.parametrize("capabilities", EVERY_CAPABILITY_SET)
def test_new_listing_plan_is_the_default_plan_of_the_diff(
    capabilities: frozenset[Capability],
) -> None:
    """For no record and for a record whose target is ABSENT, with every capability set."""
    absent = new_projection("REF-1", {}, target=TargetState.ABSENT)
    for desired in _projections():
        got = new_listing_plan(desired, capabilities)
        for sent in (None, absent):
            want = default_plan(diff_projection(sent, desired), capabilities)
            assert [_facts(op) for op in got] == [_facts(op) for op in want]


def test_item_operations_get_payloads_of_their_own() -> None:
    """An operation's payload is a copy: changing it leaves the projection (and its digest)
    alone, as with the validated `Operation(payload=...)`."""
    desired = _projections()[5]
    digest = desired.digest()
    ops = new_listing_plan(desired, frozenset(PLANNED))
    items: list[ProjectedItem] = [*desired.media, *desired.showings]
    keyed = [op for op in ops if op.key is not None]
    assert [op.key for op in keyed] == [item.key for item in items]
    for op, item in zip(keyed, items, strict=True):
        assert op.payload == item.payload
        assert op.payload is not item.payload
        assert op.changes == {}
        assert op.refs == {}
        assert op.changes is not op.refs
        op.payload["url"] = "changed"
    create = ops[0]
    assert create.kind is OpKind.CREATE
    assert create.payload == desired.fields
    assert create.payload is not desired.fields
    assert desired.digest() == digest


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"key": "k"},
        {"changes": {"a": 1}},
        {"payload": {"b": 2}},
        {"refs": {"agency": None}},
        {"key": "k", "changes": {}, "payload": {"c": 3}, "refs": {"d": 4}},
    ],
)
def test_new_operation_is_the_validated_operation(kwargs: dict[str, Any]) -> None:
    """Same value, repr and JSON as `Operation(...)`; frozen like it; a replaced copy leaves
    it as it was."""
    made = new_operation(OpKind.UPDATE, **kwargs)
    validated = Operation(kind=OpKind.UPDATE, **kwargs)
    assert made == validated
    assert repr(made) == repr(validated)
    assert OPERATION_JSON.dump_json(made) == OPERATION_JSON.dump_json(validated)
    changed = dataclasses.replace(made, key="other")
    assert (changed.key, made.key) == ("other", kwargs.get("key"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.key = "x"  # type: ignore[misc]


class _Recording:
    """An adapter with a plan of its own: it records the diffs it is given."""

    capabilities = frozenset(PLANNED)

    def __init__(self) -> None:
        self.diffs: list[Any] = []

    def plan(self, diff: Any) -> list[Operation]:
        self.diffs.append(diff)
        return default_plan(diff, self.capabilities)


class _Default:
    capabilities = frozenset(PLANNED)


@pytest.mark.parametrize("sent_target", [None, TargetState.ABSENT, TargetState.PUBLISHED])
def test_the_planner_gives_a_custom_plan_the_diff_of_a_new_listing(
    sent_target: TargetState | None,
) -> None:
    """The shortcut is for the default plan only: an adapter's own `plan` still gets the diff
    (sent None or ABSENT included), and both give `default_plan`'s operations."""
    planner = Planner.__new__(Planner)
    planner._custom = {}
    sent = None
    if sent_target is not None:
        sent = new_projection("REF-1", {"title": "Old"}, target=sent_target)
    for desired in _projections():
        if desired.target is TargetState.ABSENT and sent_target is None:
            continue
        custom = _Recording()
        want = default_plan(diff_projection(sent, desired), custom.capabilities)
        got = planner._operations(custom, sent, desired)  # type: ignore[arg-type]
        assert [_facts(op) for op in got] == [_facts(op) for op in want]
        assert len(custom.diffs) == 1
        assert custom.diffs[0] == diff_projection(sent, desired)
        plain = planner._operations(_Default(), sent, desired)  # type: ignore[arg-type]
        assert [_facts(op) for op in plain] == [_facts(op) for op in want]
