"""The sent projection as it is recorded: a whole projection, then one small step per operation.

After every operation the engine records what the portal now holds, so a killed run re-plans
only what is left. Rewriting the whole projection (several KB of JSON) each time was the
largest part of the state store's CPU per operation, so the SQLite store writes it whole only
when a listing converges or recovers, and in between one *step* per operation: what changed
from the previous projection (fields set or unset, items dropped or appended, target, sale)
and in the item ids. Reading a record part-way (after a killed run) folds its steps into the
whole projection.

`SentRecord` is the bookkeeping that keeps this exact: it names the stored position
(`base`, `depth`: the whole projection `base` followed by `depth` steps) that a
`ListingState`'s projection and item ids correspond to. A store writes a step only when the
database is exactly at the step's parent position, and the whole projection otherwise (see
`SQLiteStateStore.save`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from typing import Any

import pydantic_core

from listsync.adapter import ProjectedItem, Projection

__all__ = ["STEPPED", "SentRecord", "fold_steps", "new_base"]

_ABSENT = object()
_ITEMS = ("media", "showings")
STEPPED = frozenset({"external_ref", "fields", "refs", *_ITEMS, "target", "sale"})
"""The `Projection` fields a step carries (a test checks this is all of them)."""


def new_base() -> int:
    """A fresh id for a whole projection (63 bits: an SQLite INTEGER)."""
    return secrets.randbits(63)


class SentRecord:
    """Where a state's sent projection stands among the records of the state store.

    Attributes:
        base: the id of the whole projection the record starts from.
        depth: the steps recorded after it.
        json: the complete projection as JSON (the very `ListingState.sent_json` string),
            dumped from the projection when first read: a step recorded in place never needs
            it, so a listing part-way through its plan is not serialised after every operation.
        item_ids: the item ids it goes with (the very `ListingState.item_ids` dict).
        step: the JSON of the last step, when this record is its parent plus that step and
            the step is not known to be stored yet.
        new: a whole projection not written yet (`depth` is 0).
    """

    __slots__ = ("_json", "_projection", "base", "depth", "item_ids", "new", "step")

    def __init__(
        self,
        base: int,
        depth: int,
        json: str | None,
        item_ids: dict[str, str],
        *,
        step: str | None = None,
        new: bool = False,
        projection: Projection | None = None,
    ) -> None:
        if json is None and projection is None:
            raise ValueError("a SentRecord needs its JSON or its projection")
        self.base, self.depth, self._json, self.item_ids = base, depth, json, item_ids
        self.step, self.new = step, new
        self._projection = projection

    @classmethod
    def whole(
        cls, projection: Projection, text: str | None, item_ids: dict[str, str]
    ) -> SentRecord:
        """A whole projection, to be written as such under a new id (`text`: its JSON, or
        None to dump it when first read)."""
        return cls(new_base(), 0, text, item_ids, new=True, projection=projection)

    @property
    def json(self) -> str:
        """The projection's JSON, dumped once when it was not given (`model_dump_json`)."""
        text = self._json
        if text is None:
            text = self._json = self.projection.model_dump_json()
        return text

    @property
    def projection(self) -> Projection:
        """The projection, parsed from `json` once when it was not given."""
        if self._projection is None:
            self._projection = Projection.model_validate_json(self.json)
        return self._projection

    def then(
        self, projection: Projection, text: str | None, item_ids: dict[str, str]
    ) -> SentRecord:
        """The record one step further: this one's projection and item ids changed to these
        (`text`: the new projection's JSON, or None to dump it when first read)."""
        step = _step(self.projection, projection, self.item_ids, item_ids)
        return SentRecord(
            self.base,
            self.depth + 1,
            text,
            item_ids,
            step=pydantic_core.to_json(step).decode(),
            projection=projection,
        )


def _step(
    before: Projection, after: Projection, ids_before: dict[str, str], ids_after: dict[str, str]
) -> dict[str, Any]:
    """What changed from `before` to `after`, as `fold_steps` applies it.

    Parts the engine did not touch are the same objects in both (pydantic copies share them),
    so they are skipped by identity; items are matched by identity too, and an item that is
    equal but not identical is simply dropped and appended again (still exact).
    """
    step: dict[str, Any] = {}
    for part in ("fields", "refs"):
        if getattr(after, part) is not getattr(before, part):
            _dict_step(step, part, getattr(before, part), getattr(after, part))
    for name in _ITEMS:
        old, new = getattr(before, name), getattr(after, name)
        if new is not old:
            _items_step(step, name, old, new)
    for name in ("external_ref", "target", "sale"):
        if getattr(after, name) != getattr(before, name):
            step[name] = getattr(after, name)
    if ids_after is not ids_before:
        _dict_step(step, "ids", ids_before, ids_after)
    return step


def _dict_step(step: dict[str, Any], name: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    changed = {}
    for key, value in new.items():
        was = old.get(key, _ABSENT)
        if was is not value and was != value:
            changed[key] = value
    if changed:
        step[name] = changed
    unset = [key for key in old if key not in new]
    if unset:
        step[f"{name}_unset"] = unset


def _items_step(
    step: dict[str, Any],
    name: str,
    old: tuple[ProjectedItem, ...],
    new: tuple[ProjectedItem, ...],
) -> None:
    kept, dropped = 0, []
    for index, item in enumerate(old):
        if kept < len(new) and new[kept] is item:
            kept += 1
        else:
            dropped.append(index)
    if dropped:
        step[f"{name}_drop"] = dropped
    if kept < len(new):
        step[name] = new[kept:]


def fold_steps(
    whole: str, steps: Iterable[str], item_ids: dict[str, str]
) -> tuple[Projection, dict[str, str]]:
    """The projection and item ids after `steps` (JSON, oldest first) on top of `whole`."""
    data = json.loads(whole)
    ids = dict(item_ids)
    for raw in steps:
        step = json.loads(raw)
        data["fields"] = _apply_dict(data["fields"], step, "fields")
        data["refs"] = _apply_dict(data.get("refs", {}), step, "refs")
        ids = _apply_dict(ids, step, "ids")
        for name in _ITEMS:
            dropped = set(step.get(f"{name}_drop", ()))
            kept = [item for index, item in enumerate(data[name]) if index not in dropped]
            data[name] = kept + step.get(name, [])
        data.update({k: step[k] for k in ("external_ref", "target", "sale") if k in step})
    return Projection.model_validate(data), ids


def _apply_dict(current: dict[str, Any], step: dict[str, Any], name: str) -> dict[str, Any]:
    out = {**current, **step.get(name, {})}
    for key in step.get(f"{name}_unset", ()):
        out.pop(key, None)
    return out
