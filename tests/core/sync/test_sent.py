"""The sent projection recorded as steps: each step folds back to exactly what was sent."""

from __future__ import annotations

import json

import pytest

from listsync.adapter import (
    Capability,
    ProjectedItem,
    Projection,
    TargetState,
    apply_result_to_sent,
    default_plan,
    diff_projection,
)
from listsync.sync._sent import STEPPED, SentRecord, fold_steps

CAPS = frozenset(Capability)


def _item(key: str, position: int, **payload: object) -> ProjectedItem:
    return ProjectedItem(key=key, canonical_index=position, payload={"url": key, **payload})


FIRST = Projection(
    external_ref="L-1",
    fields={"price": 1, "rooms": {"count": [1, 2]}, "city": None},
    media=(_item("m1", 0), _item("m2", 1)),
    showings=(_item("s1", 0),),
)
CHANGED = Projection(
    external_ref="L-1",
    fields={"price": 2, "city": "Solna", "text": "åäö ✓"},
    media=(_item("m2", 0), _item("m3", 1, index=3), _item("m1", 2)),
    showings=(_item("s1", 0, start="2026-05-01T10:00:00Z"),),
    target=TargetState.SOLD,
    sale={"price": 5, "public": True},
)
REMOVED = Projection(external_ref="L-1", fields={}, target=TargetState.ABSENT)


def test_steps_carry_every_projection_field() -> None:
    """A field added to `Projection` must be added to the steps too, or a folded record would
    silently lose its changes."""
    assert set(Projection.model_fields) == STEPPED


@pytest.mark.parametrize(
    "journey",
    [(FIRST,), (FIRST, CHANGED), (FIRST, CHANGED, FIRST), (FIRST, REMOVED), (CHANGED, FIRST)],
    ids=["create", "update-all", "and-back", "delete", "sold-then-for-sale"],
)
def test_folded_steps_equal_the_projection_sent(journey: tuple[Projection, ...]) -> None:
    """Recording every operation of a listing's plans as steps after its first whole record
    and folding them back gives the projection and item ids the engine held, whatever the
    operations were (create, update with unset fields, media removed, re-added and reordered,
    showings changed, lifecycle and sale, delete)."""
    sent: Projection | None = None
    record: SentRecord | None = None
    whole, steps, ids = "", [], {}
    for number, desired in enumerate(journey):
        for op in default_plan(diff_projection(sent, desired), CAPS):
            sent = apply_result_to_sent(sent, desired, op, CAPS)
            if op.key:
                ids = {k: v for k, v in ids.items() if k != op.key}
                ids[op.key] = f"id-{number}-{op.key}"
            text = sent.model_dump_json()
            if record is None:
                record, whole, base_ids = SentRecord.whole(sent, text, ids), text, ids
            else:
                record = record.then(sent, text, ids)
                assert record.step is not None
                steps.append(record.step)
    assert sent is not None
    folded, folded_ids = fold_steps(whole, steps, base_ids)
    assert folded == Projection.model_validate_json(sent.model_dump_json())
    assert folded_ids == ids


def test_a_step_holds_only_what_changed() -> None:
    """Adding one image writes that image and its id, not the rest of the projection."""
    record = SentRecord.whole(FIRST, FIRST.model_dump_json(), {"m1": "a"})
    after = FIRST.model_copy(update={"media": (*FIRST.media, _item("m9", 2))})
    step = record.then(after, after.model_dump_json(), {"m1": "a", "m9": "b"}).step
    assert step is not None
    assert json.loads(step) == {
        "media": [{"key": "m9", "canonical_index": 2, "payload": {"url": "m9"}}],
        "ids": {"m9": "b"},
    }
