"""The adapter contract's values built by the fast constructors (`new_item`, `new_operation`,
`new_projection`) are the instances their classes' own constructors (and validation) build."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from listsync.adapter import (
    OP_CAPABILITY,
    Capability,
    Operation,
    OpKind,
    ProjectedItem,
    Projection,
    ProjectionDiff,
    TargetState,
    default_plan,
    diff_projection,
    new_item,
    new_operation,
    new_projection,
)

EVERYTHING = frozenset(Capability)


def assert_as_validated(built: Any) -> None:
    """`built` equals, field for field and in every serialised form, what its class builds
    from the same fields: a dataclass (`ProjectedItem`, `Operation`) through its `__init__`
    and pydantic's JSON, a model through validation of the fields it says were set."""
    if dataclasses.is_dataclass(built):
        cls = type(built)
        made = cls(**{f.name: getattr(built, f.name) for f in dataclasses.fields(cls)})
        adapter: TypeAdapter[Any] = TypeAdapter(cls)
        assert built == made
        assert repr(built) == repr(made)
        assert adapter.dump_json(built) == adapter.dump_json(made)
        assert adapter.validate_json(adapter.dump_json(built)) == made
        assert pickle.loads(pickle.dumps(built)) == made  # noqa: S301  (our own bytes)
        return
    assert isinstance(built, BaseModel)
    model = type(built)
    validated = model(**{name: getattr(built, name) for name in built.model_fields_set})
    assert built == validated
    assert built.model_fields_set == validated.model_fields_set
    assert built.__pydantic_extra__ == validated.__pydantic_extra__
    assert built.__pydantic_private__ == validated.__pydantic_private__
    assert list(built.__dict__) == list(validated.__dict__)
    assert built.model_dump_json() == validated.model_dump_json()
    assert repr(built) == repr(validated)
    assert pickle.loads(pickle.dumps(built)) == validated  # noqa: S301  (our own bytes)


def test_item_is_the_validated_item() -> None:
    """`new_item` builds the `ProjectedItem` its constructor builds, frozen like it."""
    built = new_item("k-1", 3, {"url": "https://img.example.com/1.jpg", "index": 0})
    assert_as_validated(built)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.key = "other"  # type: ignore[misc]


def test_copies_of_items_and_operations_are_their_own() -> None:
    """Items and operations built with their slots set directly copy, deep-copy and replace as
    dataclasses do, and a replaced copy leaves the original as it was."""
    first = new_item("k-1", 1, {"url": "u1", "index": 1})
    assert copy.copy(first) == first
    assert copy.deepcopy(first) == first
    assert copy.deepcopy(first).payload is not first.payload
    assert dataclasses.replace(first, key="k-9") == ProjectedItem("k-9", 1, first.payload)
    assert first.key == "k-1"
    ops = default_plan(diff_projection(None, new_projection("r", {}, media=(first,))), EVERYTHING)
    op = next(op for op in ops if op.kind is OpKind.MEDIA_ADD)
    assert dataclasses.replace(op, key="k-9").key == "k-9"
    assert op.key == "k-1"
    assert_as_validated(op)


def test_an_operation_s_kind_may_be_given_as_its_value() -> None:
    """`Operation(kind="publish")` holds `OpKind.PUBLISH` (as the pydantic model it was did);
    an unknown kind is refused."""
    assert Operation(kind="publish").kind is OpKind.PUBLISH  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="launch"):
        Operation(kind="launch")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "arguments",
    [
        {"kind": OpKind.PUBLISH},
        {"kind": OpKind.MEDIA_REMOVE, "key": "k-1"},
        {"kind": OpKind.UPDATE, "changes": {"price": 1, "gone": None}},
        {"kind": OpKind.MEDIA_ADD, "key": "k-1", "payload": {"url": "u"}},
        {"kind": OpKind.SHOWING_UPDATE, "key": "s-1", "changes": {"note": "x"}, "payload": {}},
        {"kind": OpKind.UPDATE, "changes": {}, "refs": {"agency": None}},
        {"kind": OpKind.CREATE, "payload": {"price": 1}, "refs": {"agency": {"ref": "a-1"}}},
    ],
)
def test_operation_is_the_validated_operation(arguments: dict[str, Any]) -> None:
    """`new_operation` builds the `Operation` its constructor builds from the same arguments."""
    kind = arguments.pop("kind")
    built = new_operation(kind, **arguments)
    assert_as_validated(built)
    assert built == Operation(kind=kind, **arguments)


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"target": TargetState.ABSENT},
        {"refs": {"agency": {"ref": "a-1"}}, "target": TargetState.SOLD, "sale": {"price": 5}},
        {"refs": {}, "target": TargetState.PUBLISHED},
        {
            "media": (new_item("m-1", 0, {"url": "u", "index": 0}),),
            "showings": (new_item("s-1", 1, {"startAt": "2026-05-01T10:00:00+02:00"}),),
            "target": TargetState.DRAFT,
        },
    ],
)
def test_projection_is_the_validated_projection(arguments: dict[str, Any]) -> None:
    """`new_projection` builds the `Projection` validation builds, with the same digest; the
    fields marked as set are those given (a default passed explicitly may count as unset,
    which no serialised form or digest tells apart)."""
    fields = {"price": 1, "city": "Solna", "texts": {"sv": "Ljus trea", "en": "Bright"}}
    built = new_projection("ref-1", fields, **arguments)
    validated = Projection(external_ref="ref-1", fields=fields, **arguments)
    assert built == validated
    assert built.digest() == validated.digest()
    assert built.model_dump_json() == validated.model_dump_json()
    assert repr(built) == repr(validated)
    assert built.model_fields_set <= validated.model_fields_set
    assert_as_validated(built)
    with pytest.raises(ValueError, match="frozen"):
        built.target = TargetState.ABSENT  # type: ignore[misc]


def _projection(
    target: TargetState,
    *,
    media: int,
    price: int,
    sale: int | None = None,
    agency: str | None = None,
) -> Projection:
    items = tuple(new_item(f"m-{i}", i, {"url": f"u{i}", "index": i}) for i in range(media))
    shows = (
        ProjectedItem(key="s-a", canonical_index=0, payload={"note": f"n{price}"}),
        ProjectedItem(key=f"s-{price}", canonical_index=1, payload={"note": None}),
    )
    return Projection(
        external_ref="ref-1",
        fields={"price": price, "city": "Solna"} if price else {"city": "Solna"},
        refs={"agency": {"ref": agency}} if agency else {},
        media=items,
        showings=shows,
        target=target,
        sale=None if sale is None else {"price": sale},
    )


_ABSENT = Projection(external_ref="ref-1", fields={}, target=TargetState.ABSENT)
PLANS = [
    (None, _projection(TargetState.PUBLISHED, media=2, price=1), EVERYTHING),
    (None, _projection(TargetState.PUBLISHED, media=0, price=1, agency="a-1"), EVERYTHING),
    (
        _projection(TargetState.PUBLISHED, media=0, price=1, agency="a-1"),
        _projection(TargetState.PUBLISHED, media=0, price=1, agency="a-2"),
        EVERYTHING,
    ),
    (
        _projection(TargetState.PUBLISHED, media=0, price=1, agency="a-1"),
        _projection(TargetState.PUBLISHED, media=0, price=1),
        EVERYTHING,
    ),
    (
        _projection(TargetState.PUBLISHED, media=3, price=1),
        _projection(TargetState.SOLD, media=2, price=0, sale=5),
        EVERYTHING,
    ),
    (
        _projection(TargetState.DRAFT, media=1, price=1),
        _projection(TargetState.UNPUBLISHED, media=1, price=2),
        EVERYTHING,
    ),
    (_projection(TargetState.PUBLISHED, media=1, price=1), _ABSENT, EVERYTHING),
    (
        _projection(TargetState.PUBLISHED, media=1, price=1),
        _ABSENT,
        EVERYTHING - {Capability.DELETE},
    ),
]
"""(sent, desired, capabilities): between them, every kind of operation is planned."""


def _planned(plan: tuple[Projection | None, Projection, frozenset[Capability]]) -> list[Operation]:
    sent, desired, capabilities = plan
    return default_plan(diff_projection(sent, desired), capabilities)


def test_the_plans_make_every_kind_of_operation() -> None:
    """The cases below reach every branch of `default_plan` that builds an operation."""
    assert {op.kind for plan in PLANS for op in _planned(plan)} == set(OpKind)


@pytest.mark.parametrize("plan", PLANS)
def test_planned_operations_are_validated_ones(
    plan: tuple[Projection | None, Projection, frozenset[Capability]],
) -> None:
    """Every operation `default_plan` builds is what validation builds."""
    ops = _planned(plan)
    assert ops
    for op in ops:
        assert_as_validated(op)


CAPABILITY_SETS = [EVERYTHING - {left_out} for left_out in Capability] + [
    frozenset({Capability.CREATE, Capability.UPDATE}),
    frozenset({Capability.MEDIA, Capability.SHOWINGS, Capability.PUBLISH}),
    frozenset(),
]


@pytest.mark.parametrize("capabilities", CAPABILITY_SETS)
@pytest.mark.parametrize("plan", PLANS)
def test_operations_without_a_capability_are_left_out(
    plan: tuple[Projection | None, Projection, frozenset[Capability]],
    capabilities: frozenset[Capability],
) -> None:
    """Without a capability the plan is the plan with every capability minus the operations
    needing it; only PUBLISH (a create publishes) and DELETE (else unpublish) change what is
    planned."""
    sent, desired, _ = plan
    diff = diff_projection(sent, desired)
    chosen = EVERYTHING - ({Capability.PUBLISH, Capability.DELETE} - capabilities)
    expected = [op for op in default_plan(diff, chosen) if OP_CAPABILITY[op.kind] in capabilities]
    assert default_plan(diff, capabilities) == expected


def test_refs_travel_in_operations_not_fields() -> None:
    """A create carries every ref, a changed ref is an update naming it, a dropped ref is an
    update setting it to None; none of them is among the portal fields."""
    first = _projection(TargetState.PUBLISHED, media=0, price=1, agency="a-1")
    moved = _projection(TargetState.PUBLISHED, media=0, price=1, agency="a-2")
    dropped = _projection(TargetState.PUBLISHED, media=0, price=1)
    create = default_plan(diff_projection(None, first), EVERYTHING)[0]
    assert (create.kind, create.refs) == (OpKind.CREATE, {"agency": {"ref": "a-1"}})
    assert "agency" not in create.payload
    [update] = default_plan(diff_projection(first, moved), EVERYTHING)
    assert (update.kind, update.changes, update.refs) == (
        OpKind.UPDATE,
        {},
        {"agency": {"ref": "a-2"}},
    )
    [unset] = default_plan(diff_projection(first, dropped), EVERYTHING)
    assert unset.refs == {"agency": None}
    assert default_plan(diff_projection(first, first), EVERYTHING) == []


@pytest.mark.parametrize("sent_absent", [False, True])
def test_diff_of_a_new_listing_is_the_dataclass_s_diff(sent_absent: bool) -> None:
    """`diff_projection` against nothing (or an absent record) builds the `ProjectionDiff` the
    dataclass builds, attribute for attribute and in the same order, frozen like it."""
    desired = new_projection(
        "r",
        {"a": 1},
        refs={"agency": "x"},
        media=(new_item("m-1", 0, {"url": "u", "index": 0}),),
        showings=(new_item("s-1", 1, {"startAt": "2026-05-01T10:00:00+02:00"}),),
    )
    sent = new_projection("r", {}, target=TargetState.ABSENT) if sent_absent else None
    built = diff_projection(sent, desired)
    expected = ProjectionDiff(
        sent=sent,
        desired=desired,
        field_changes={"a": 1},
        ref_changes={"agency": "x"},
        media_added=desired.media,
        showings_added=desired.showings,
    )
    assert built == expected
    assert repr(built) == repr(expected)
    assert list(vars(built).items()) == list(vars(expected).items())
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.sent = None  # type: ignore[misc]


def test_journalled_operations_keep_their_json() -> None:
    """An intent's operation and item are written as the pydantic models wrote them, and the
    text a store written before holds reads back."""
    from listsync.sync._sqlrows import ITEM_JSON, OPERATION_JSON

    op = new_operation(OpKind.MEDIA_ADD, "k-1", payload={"url": "u", "index": 0})
    text = (
        b'{"kind":"media_add","key":"k-1","changes":{},"payload":{"url":"u","index":0},"refs":{}}'
    )
    assert OPERATION_JSON.dump_json(op) == text
    assert OPERATION_JSON.validate_json(text) == op
    assert OPERATION_JSON.validate_json(text).kind is OpKind.MEDIA_ADD
    item = new_item("k-1", 2, {"url": "u"})
    assert ITEM_JSON.dump_json(item) == b'{"key":"k-1","canonical_index":2,"payload":{"url":"u"}}'
    assert ITEM_JSON.validate_json(ITEM_JSON.dump_json(item)) == item
