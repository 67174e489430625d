"""The mapped import payload as the rules read it: a member by JSON pointer, and its leaves.

`check_all` walks a payload once and hands the leaves to the rules that read them. Rules 4, 5
and 16 judge a leaf by the end of its pointer only, so their walk keeps just the leaves whose
last key could match (`marked_leaves_under`) and never builds the others' pointers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from listsync_immowelt.mapping import parse_pointer

__all__ = [
    "DATE_SUFFIXES",
    "PERCENT_SUFFIXES",
    "URL_SUFFIXES",
    "Leaf",
    "Payload",
    "is_marked",
    "leaves_under",
    "marked_leaves_under",
    "value_at",
]

Payload = Mapping[str, Any]
Leaf = tuple[str, Any]
"""A scalar of the payload and its JSON pointer (keys unescaped)."""
_SCALARS = (str, int, float, Decimal)

DATE_SUFFIXES = ("Date", "/availableFrom", "/validUntil")
"""Rule 4 checks the leaves whose pointer ends so."""
URL_SUFFIXES = ("URL", "Url", "/userHomepage")
"""Rule 5 checks the leaves whose pointer ends so."""
PERCENT_SUFFIXES = ("percent", "percentage")
"""Rule 16 checks the leaves whose pointer ends so, in any case."""


@functools.lru_cache(maxsize=256)
def _tokens(pointer: str) -> tuple[str, ...]:
    return tuple(parse_pointer(pointer))


def value_at(payload: Payload, pointer: str) -> Any:
    """The member at `pointer` (unescaped as `parse_pointer` does), None when there is none."""
    node: Any = payload
    for part in _tokens(pointer):
        if type(node) is dict:  # the common case, without the `Mapping` ABC check
            node = node.get(part)  # a missing member is None, as is anything below it
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return None
    return node


_PLAIN_LEAVES = frozenset({str, int, float, bool, Decimal, type(None)})
"""Exact types `_collect` takes as scalars without the `isinstance` chain (same verdict)."""


def leaves_under(node: Any, pointer: str = "") -> list[Leaf]:
    """Every scalar under `node` with its (unescaped) pointer, in document order."""
    out: list[Leaf] = []
    _collect(node, pointer, out, None)
    return out


def marked_leaves_under(node: Any, pointer: str = "") -> list[Leaf]:
    """The scalars under `node` that rules 4, 5 and 16 may concern, in document order.

    Those rules look at pointer suffixes only, and a pointer's suffix is that of its last
    segment (see `_marked`), so every other leaf is left out: its pointer is never built.
    """
    out: list[Leaf] = []
    _collect_marked(node, pointer, out)
    return out


def _collect(node: Any, pointer: str, out: list[Leaf], keep: Callable[[Any], bool] | None) -> None:
    """Append the scalars under `node` that `keep(last segment)` selects (all for None), and
    `node` itself when it is a scalar."""
    if type(node) is dict:
        items: Iterable[tuple[Any, Any]] = node.items()
    elif type(node) is list:
        items = enumerate(node)
    elif isinstance(node, _SCALARS) or node is None:
        out.append((pointer, node))
        return
    elif isinstance(node, Mapping):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        out.append((pointer, node))
        return
    for key, value in items:
        if type(value) not in _PLAIN_LEAVES:
            _collect(value, f"{pointer}/{key}", out, keep)
        elif keep is None or keep(key):
            out.append((f"{pointer}/{key}", value))


def _collect_marked(node: Any, pointer: str, out: list[Leaf]) -> None:
    """`_collect(node, pointer, out, _marked)`, with the verdict on a `str` key kept in
    `_MARKED_KEYS` (a payload repeats the same few dozen keys), and the scalars of a list
    skipped without asking (an index is never marked)."""
    if type(node) is dict:
        items: Iterable[tuple[Any, Any]] = node.items()
    elif type(node) is list or (isinstance(node, list) and not isinstance(node, _SCALARS)):
        for index, value in enumerate(node):
            if type(value) not in _PLAIN_LEAVES:
                _collect_marked(value, f"{pointer}/{index}", out)
        return
    elif isinstance(node, _SCALARS) or node is None or not isinstance(node, Mapping):
        out.append((pointer, node))
        return
    else:
        items = node.items()
    known = _MARKED_KEYS
    for key, value in items:
        if type(value) not in _PLAIN_LEAVES:
            _collect_marked(value, f"{pointer}/{key}", out)
            continue
        marked = known.get(key) if type(key) is str else None
        if marked is None:
            marked = _marked(key)
            if type(key) is str and len(known) < _MARKED_KEYS_MAX:
                known[key] = marked
        if marked:
            out.append((f"{pointer}/{key}", value))


_MARKED_KEYS: dict[str, bool] = {}
"""`_marked(key)` per `str` key seen (at most `_MARKED_KEYS_MAX`)."""
_MARKED_KEYS_MAX = 4096


def is_marked(key: str) -> bool:
    """Whether a leaf under `key` may concern rule 4, 5 or 16 (`_marked`, its verdict kept per
    key as `marked_leaves_under` keeps it)."""
    marked = _MARKED_KEYS.get(key)
    if marked is None:
        marked = _marked(key)
        if len(_MARKED_KEYS) < _MARKED_KEYS_MAX:
            _MARKED_KEYS[key] = marked
    return marked


@functools.lru_cache(maxsize=1024, typed=True)
def _marked(segment: Any) -> bool:
    """Whether a leaf whose pointer ends in `/segment` may break rule 4, 5 or 16.

    The suffixes those rules test hold no "/" but as their first character, so a pointer ends
    with one exactly when "/" + its last segment does; lower-casing (rule 16) maps character by
    character, so the same holds after it. A list item's segment, its index, never matches.
    """
    tail = f"/{segment}"
    return tail.endswith(DATE_SUFFIXES + URL_SUFFIXES) or tail.lower().endswith(PERCENT_SUFFIXES)
