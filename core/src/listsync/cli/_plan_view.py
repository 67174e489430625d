"""How `listsync plan` shows a plan: one line per entry, Terraform style.

A symbol and colour per action (`+` create, `~` update, `-` delete, `=` nothing, `!` blocked,
`x` failed, `?` invalid), then, for an update, one line per changed field with its old and new
value (`asking_price: 4500000 -> 4725000`). Old values come from the projection the state store
says the portal holds (`PlannedEntry.sent`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from rich.text import Text

from listsync.adapter import OpKind
from listsync.sync import Action, PlanEntry, PlannedEntry

__all__ = ["SYMBOLS", "entry_text", "field_changes", "where"]

SYMBOLS: dict[Action, tuple[str, str]] = {
    Action.CREATE: ("+", "green"),
    Action.UPDATE: ("~", "yellow"),
    Action.DELETE: ("-", "red"),
    Action.NOTHING: ("=", "dim"),
    Action.BLOCKED: ("!", "red"),
    Action.FAILED: ("x", "red"),
    Action.INVALID: ("?", "red"),
}

_VALUE_WIDTH = 60


def where(entry: PlanEntry) -> str:
    """`portal/account` (`portal` alone without an account); `line N` for an invalid line."""
    if entry.portal is None:
        return f"line {entry.line}" if entry.line is not None else "input"
    return f"{entry.portal}/{entry.account}" if entry.account else entry.portal


def entry_text(entry: PlanEntry) -> Text:
    """The entry as shown by `listsync plan`: a head line, then one line per changed field."""
    symbol, style = SYMBOLS[entry.action]
    text = Text()
    text.append(f"{symbol} {entry.action.value:<8}", style=style)
    text.append(f" {entry.external_ref} {where(entry)}")
    changes = list(field_changes(entry)) if isinstance(entry, PlannedEntry) else []
    summary = entry.describe() or "no changes"
    if isinstance(entry, PlannedEntry) and entry.action is Action.UPDATE and changes:
        summary = ", ".join(op for op in _other_ops(entry)) or ""
    if summary:
        text.append(f": {summary}")
    for name, old, new in changes:
        text.append("\n      ")
        text.append(f"{name}: ")
        text.append(_shown(old), style="red" if old is not None else "dim")
        text.append(" -> ")
        text.append(_shown(new), style="green" if new is not None else "dim")
    return text


def field_changes(entry: PlannedEntry) -> Iterator[tuple[str, Any, Any]]:
    """`(field, old, new)` for every field and ref an UPDATE changes (None: unset / new)."""
    sent_fields = entry.sent.fields if entry.sent is not None else {}
    sent_refs = entry.sent.refs if entry.sent is not None else {}
    for op in entry.operations:
        if op.kind is not OpKind.UPDATE:
            continue
        for name in sorted(op.changes):
            yield name, sent_fields.get(name), op.changes[name]
        for name in sorted(op.refs):
            yield name, sent_refs.get(name), op.refs[name]


def _other_ops(entry: PlannedEntry) -> Iterator[str]:
    """The operations besides the field update (media, showings, publishing)."""
    for op in entry.operations:
        if op.kind is not OpKind.UPDATE:
            yield op.describe()


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 1] + "…"
