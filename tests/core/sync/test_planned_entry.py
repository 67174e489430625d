"""`_planned_entry` (slots set directly) builds the entry the frozen dataclass builds."""

from __future__ import annotations

import dataclasses

import pytest

from listsync.adapter import OpKind, new_operation, new_projection
from listsync.errors import FieldIssue, Severity
from listsync.sync._plan import Action, PlannedEntry, _planned_entry


def test_planned_entry_is_the_dataclass_s_entry() -> None:
    values = (
        "ref-1",
        "hemnet",
        "acct",
        Action.UPDATE,
        (new_operation(OpKind.PUBLISH),),
        new_projection("ref-1", {"a": 1}),
        new_projection("ref-1", {"a": 0}),
        "hash-0",
        None,
        (FieldIssue(path="x", message="m", severity=Severity.WARNING),),
        7,
    )
    built = _planned_entry(*values)
    expected = PlannedEntry(*values)
    assert built == expected
    assert repr(built) == repr(expected)
    # every field set, each to its own value (a setter bound to the wrong slot would swap two)
    for field, value in zip(dataclasses.fields(PlannedEntry), values, strict=True):
        assert getattr(built, field.name) is value
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.line = 8  # type: ignore[misc]
