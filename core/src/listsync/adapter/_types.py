"""The contract's value types: capabilities, settings, projections, operations, results.

Everything here is plain data that the engine and adapters exchange; see the package docstring
(`listsync.adapter`) for the flow and the error semantics.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from listsync.errors import FieldIssue
from listsync.model import Listing

__all__ = [
    "NON_IDEMPOTENT",
    "OP_CAPABILITY",
    "Capability",
    "CredentialStore",
    "OpKind",
    "Operation",
    "OperationContext",
    "OperationResult",
    "PortalStatus",
    "ProjectedItem",
    "Projection",
    "RemoteRecord",
    "TargetState",
    "new_item",
    "new_operation",
    "new_projection",
]


class Capability(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    PUBLISH = "publish"
    UNPUBLISH = "unpublish"
    MARK_SOLD = "mark_sold"
    DELETE = "delete"
    MEDIA = "media"
    SHOWINGS = "showings"
    READ = "read"
    SEARCH = "search"


class PortalStatus(StrEnum):
    """Where a listing stands on a portal, as far as listsync knows."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    PROCESSING = "processing"
    LIVE = "live"
    AWAITING_APPROVAL = "awaiting_approval"
    REJECTED = "rejected"
    SOLD = "sold"
    WITHDRAWN = "withdrawn"
    DELETED = "deleted"


class TargetState(StrEnum):
    """The lifecycle state a projection asks the portal to be in."""

    DRAFT = "draft"
    PUBLISHED = "published"
    UNPUBLISHED = "unpublished"
    SOLD = "sold"
    ABSENT = "absent"


CredentialStore = Callable[[str, str, Mapping[str, str]], Awaitable[None]]
"""`await store(portal, account, secrets)`: called when an adapter renews a credential."""


@dataclass(frozen=True, slots=True)
class ProjectedItem:
    """A media item or showing as the portal will receive it.

    `key` is stable across runs for the same canonical item; `canonical_index` points back at
    `Listing.media[i]` / `Listing.showings[i]` so portal errors land on the right entry.

    A frozen dataclass with slots, not a pydantic model: a projection holds one per image and
    showing, and a plan one operation per image, so they are the objects planning makes most.
    pydantic validates them inside a `Projection` read from JSON (the JSON is the same as a
    model's: `{"key": ..., "canonical_index": ..., "payload": {...}}`); built directly, they are
    taken as given (`key` a `str`, `canonical_index` an `int`, `payload` a dict with `str` keys).
    """

    key: str
    canonical_index: int
    payload: dict[str, Any]


class Projection(BaseModel):
    """Everything a portal should hold for one listing, in the portal's own terms.

    Attributes:
        fields: the portal's listing fields, exactly as sent (the wire body).
        refs: other records this listing points at, by a name of the adapter's choosing, in
            canonical terms (e.g. `{"agency": {...}}`): the adapter resolves them to the
            portal's ids when it sends (creating them when missing), so they are never part of
            `fields`. They are compared like fields: a changed ref is an `UPDATE` whose
            `Operation.refs` names it.
        media / showings: the items, in order.
        target: the lifecycle state the portal should reach.
        sale: the sale as the portal records it, when `target` is SOLD.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    external_ref: str
    fields: dict[str, Any]
    refs: dict[str, Any] = Field(default_factory=dict)
    media: tuple[ProjectedItem, ...] = ()
    showings: tuple[ProjectedItem, ...] = ()
    target: TargetState = TargetState.PUBLISHED
    sale: dict[str, Any] | None = None

    def digest(self) -> str:
        """A stable hash of the whole projection: equal hashes mean nothing to send.

        SHA-256 of the projection as `json.dumps(tree, sort_keys=True, separators=(",", ":"))`
        writes it (compact, keys sorted, non-ASCII as `\\u` escapes), where `tree` is the
        projection's fields with `refs` left out while it is empty, so projections without refs
        keep the digests of stores written before refs existed. What plain JSON cannot hold
        (Decimal, dates, ...) is written as `model_dump(mode="json")` writes it.

        The text is written by orjson and brought to `json.dumps`'s exact bytes (see
        `_json_text`); the few values where that cannot be done take `json` itself, so the
        digest is the same whichever way it was computed.
        """
        tree = (
            self.__dict__ if self.refs else {k: v for k, v in self.__dict__.items() if k != "refs"}
        )
        try:
            raw = _json_text(orjson.dumps(tree, default=_item_tree, option=_DIGEST_OPTIONS))
        except TypeError:
            raw = None
        if raw is None:
            raw = self._json_dumps_text().encode()
        return hashlib.sha256(raw).hexdigest()

    def _json_dumps_text(self) -> str:
        """The text `digest` hashes, written by `json` (the reference for `_json_text`)."""
        try:
            # Without copying the projection first; anything that `json` cannot write as-is
            # (Decimal, dates, NaN, ...) takes the pydantic route.
            return json.dumps(
                _as_tree(self),
                sort_keys=True,
                separators=(",", ":"),
                allow_nan=False,
                default=_as_tree,
            )
        except (TypeError, ValueError):
            tree = self.model_dump(mode="json", exclude={"refs"} if not self.refs else None)
            return json.dumps(tree, sort_keys=True, separators=(",", ":"))


_DIGEST_OPTIONS = (
    orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
)
"""Dataclasses and dates go to `default`, which writes `ProjectedItem`s and refuses the rest:
`json` cannot write them, so their text is the pydantic route's, not orjson's."""


def _json_text(raw: bytes) -> bytes | None:
    """orjson's compact UTF-8 text as `json.dumps(..., sort_keys=True)` with its default
    `ensure_ascii` writes it, or None where the two may differ.

    The two write the same key order, separators, escapes below U+0080, integers,
    `true`/`false`/`null` and floats from 1e-4 up. They differ on:
    - non-ASCII characters, which `json` writes as `\\u00e5` where orjson writes UTF-8:
      rewritten with the codec's `backslashreplace` (`\\xe5` → `\\u00e5`). A backslash in the
      data (`\\\\` in orjson's text, which would make `\\x` ambiguous) and characters beyond
      U+FFFF (which `json` writes as two escapes) give None;
    - U+007F, which `json` writes `\\u007f`: rewritten;
    - floats under 1e-4 (orjson: `1.5e-7`, `0.000015`; `json`: `1.5e-07`, `1.5e-05`): None.
    """
    if _small_float_written(raw):
        return None
    if b"\x7f" in raw:
        raw = raw.replace(b"\x7f", b"\\u007f")
    if raw.isascii():
        return raw
    if b"\\\\" in raw:
        return None
    escaped = raw.decode().encode("ascii", "backslashreplace")
    if b"\\U" in escaped:
        return None
    return escaped.replace(b"\\x", b"\\u00")


def _small_float_written(raw: bytes) -> bool:
    """True when orjson's text may hold a float under 1e-4: a digit before `e-`, or `0.0000`
    where a value starts (text in a string may match too, which only costs `json`'s route)."""
    at = raw.find(b"e-")
    while at > 0:
        if raw[at - 1] in _DIGITS:
            return True
        at = raw.find(b"e-", at + 2)
    at = raw.find(b"0.0000")
    while at > 0:
        if raw[at - 1] in _VALUE_STARTS:
            return True
        at = raw.find(b"0.0000", at + 6)
    return False


_DIGITS = b"0123456789"
_VALUE_STARTS = b":,[-"


def _item_tree(value: Any) -> dict[str, Any]:
    """A `ProjectedItem`'s fields, for orjson in `Projection.digest` (orjson would write a
    dataclass's fields in their own order, not sorted).

    Raises:
        TypeError: for any other value, which orjson then refuses as a whole.
    """
    if type(value) is not ProjectedItem:
        raise TypeError(f"{type(value).__name__} is not plain JSON")
    return {"canonical_index": value.canonical_index, "key": value.key, "payload": value.payload}


def _as_tree(value: Any) -> dict[str, Any]:
    """A `Projection` or `ProjectedItem` as a dict of its fields, for `Projection.digest`.

    Raises:
        TypeError: for any other value (`json.dumps` calls this for what it cannot write).
    """
    if type(value) is ProjectedItem:
        return _item_tree(value)
    if type(value) is not Projection:
        raise TypeError(f"{type(value).__name__} is not plain JSON")
    tree = {name: getattr(value, name) for name in Projection.model_fields}
    if not tree["refs"]:
        del tree["refs"]
    return tree


class OpKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    MEDIA_ADD = "media_add"
    MEDIA_REMOVE = "media_remove"
    SHOWING_CREATE = "showing_create"
    SHOWING_UPDATE = "showing_update"
    SHOWING_DELETE = "showing_delete"
    PUBLISH = "publish"
    UNPUBLISH = "unpublish"
    MARK_SOLD = "mark_sold"


NON_IDEMPOTENT = frozenset({OpKind.CREATE, OpKind.MEDIA_ADD, OpKind.SHOWING_CREATE})
"""Operations that create a record: journalled first, recovered by lookup before a resend."""

OP_CAPABILITY: Mapping[OpKind, Capability] = {
    OpKind.CREATE: Capability.CREATE,
    OpKind.UPDATE: Capability.UPDATE,
    OpKind.DELETE: Capability.DELETE,
    OpKind.MEDIA_ADD: Capability.MEDIA,
    OpKind.MEDIA_REMOVE: Capability.MEDIA,
    OpKind.SHOWING_CREATE: Capability.SHOWINGS,
    OpKind.SHOWING_UPDATE: Capability.SHOWINGS,
    OpKind.SHOWING_DELETE: Capability.SHOWINGS,
    OpKind.PUBLISH: Capability.PUBLISH,
    OpKind.UNPUBLISH: Capability.UNPUBLISH,
    OpKind.MARK_SOLD: Capability.MARK_SOLD,
}


@dataclass(frozen=True, slots=True)
class Operation:
    """One step on one portal for one listing.

    Attributes:
        kind: what to do (an `OpKind`, or its value).
        key: the media/showing key for item operations.
        changes: for `UPDATE` / `SHOWING_UPDATE`, exactly the changed top-level fields, with
            `None` for a field to unset (absent = unchanged).
        payload: for `CREATE` the full fields, for item creations the item payload, for
            `MARK_SOLD` the sale.
        refs: for `CREATE` every ref of the projection, for `UPDATE` the refs that changed
            (`None`: no longer referenced); see `Projection.refs`.

    A frozen dataclass with slots, like `ProjectedItem` (see there).
    """

    kind: OpKind
    key: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)
    refs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if type(self.kind) is not OpKind:  # "create" -> OpKind.CREATE; ValueError if unknown
            _SET_OP_KIND(self, OpKind(self.kind))

    @property
    def idempotent(self) -> bool:
        """False for operations that create a record (see `NON_IDEMPOTENT`)."""
        return self.kind not in NON_IDEMPOTENT

    def describe(self) -> str:
        if self.kind is OpKind.UPDATE:
            return f"update {', '.join(sorted([*self.changes, *self.refs]))}"
        return f"{self.kind.value} {self.key}" if self.key else self.kind.value


class OperationContext(BaseModel):
    """What an adapter knows when it applies an operation.

    Attributes:
        remote_id: the portal's id of the listing, once created.
        projection: the desired projection (full fields for PUT-style portals).
        item_ids: media/showing key -> the portal's id of that item.
        listing: the canonical listing, for mapping portal issues back to canonical paths.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    external_ref: str
    remote_id: str | None
    projection: Projection
    item_ids: dict[str, str] = Field(default_factory=dict)
    listing: Listing | None = None


class OperationResult(BaseModel):
    """What happened. `remote_id` is the listing's id (after `CREATE`) or the item's id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    remote_id: str | None = None
    status: PortalStatus | None = None
    request_id: str | None = None
    is_visible: bool | None = None
    is_approved: bool | None = None
    approval_url: str | None = None
    issues: tuple[FieldIssue, ...] = ()


class RemoteRecord(BaseModel):
    """A listing as read back from a write portal.

    Attributes:
        projection: what the portal holds, in the same terms as the projection `prepare`
            builds (so the ordinary diff finds what drifted), when the adapter can tell.
        item_ids: media/showing key -> the portal's id of that item, for `projection`'s items.
        listing: the record mapped back to the canonical model, when the adapter can.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    remote_id: str
    external_ref: str | None
    status: PortalStatus
    is_visible: bool | None = None
    is_approved: bool | None = None
    approval_url: str | None = None
    listing: Listing | None = None
    projection: Projection | None = None
    item_ids: dict[str, str] = Field(default_factory=dict)


def new_item(key: str, canonical_index: int, payload: dict[str, Any]) -> ProjectedItem:
    """`ProjectedItem(key, canonical_index, payload)`, its slots set directly.

    For values that are valid as they are: `key` a `str`, `payload` a fresh dict with `str` keys
    that the caller does not change afterwards. An adapter builds an item for every media item
    and showing it projects; the dataclass's frozen `__init__` sets each field through
    `object.__setattr__`, which costs twice as much.
    """
    instance = _NEW(ProjectedItem)
    _SET_ITEM_KEY(instance, key)
    _SET_ITEM_INDEX(instance, canonical_index)
    _SET_ITEM_PAYLOAD(instance, payload)
    return instance


def new_projection(
    external_ref: str,
    fields: dict[str, Any],
    *,
    refs: dict[str, Any] | None = None,
    media: tuple[ProjectedItem, ...] = (),
    showings: tuple[ProjectedItem, ...] = (),
    target: TargetState = TargetState.PUBLISHED,
    sale: dict[str, Any] | None = None,
) -> Projection:
    """`Projection(external_ref=..., fields=..., ...)` given the arguments, without validating
    again: the same instance for values that are valid as they are (see `new_item`): `fields`,
    `refs` and `sale` fresh dicts with `str` keys, `media` and `showings` tuples of items (from
    `new_item`), `target` a `TargetState`. Validation copies `fields` whole, which costs more
    than everything else an adapter's `prepare` does with most listings' fields.
    """
    given = {"external_ref", "fields"}
    if refs is None:
        refs = {}
    else:
        given.add("refs")
    if media:
        given.add("media")
    if showings:
        given.add("showings")
    if target is not TargetState.PUBLISHED:
        given.add("target")
    if sale is not None:
        given.add("sale")
    instance = _NEW(Projection)
    _SET_DICT(
        instance,
        {
            "external_ref": external_ref,
            "fields": fields,
            "refs": refs,
            "media": media,
            "showings": showings,
            "target": target,
            "sale": sale,
        },
    )
    _SET_FIELDS_SET(instance, given)
    _SET_EXTRA(instance, None)
    _SET_PRIVATE(instance, None)
    return instance


def new_operation(
    kind: OpKind,
    key: str | None = None,
    *,
    changes: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    refs: dict[str, Any] | None = None,
) -> Operation:
    """`Operation(kind, key, ...)`, its slots set directly (see `new_item`): for an `OpKind`, a
    `str` key and fresh dicts with `str` keys."""
    instance = _NEW(Operation)
    _SET_OP_KIND(instance, kind)
    _SET_OP_KEY(instance, key)
    _SET_OP_CHANGES(instance, {} if changes is None else changes)
    _SET_OP_PAYLOAD(instance, {} if payload is None else payload)
    _SET_OP_REFS(instance, {} if refs is None else refs)
    return instance


def _item_creations(kind: OpKind, items: tuple[ProjectedItem, ...]) -> list[Operation]:
    """`[new_operation(kind, i.key, payload=dict(i.payload)) for i in items]` in one loop, with
    no call per item (the media of every new listing: most of the operations a plan holds)."""
    new, cls = _NEW, Operation
    set_kind, set_key, set_changes, set_payload, set_refs = (
        _SET_OP_KIND, _SET_OP_KEY, _SET_OP_CHANGES, _SET_OP_PAYLOAD, _SET_OP_REFS
    )  # fmt: skip
    out: list[Operation] = []
    append = out.append
    for item in items:
        instance = new(cls)
        set_kind(instance, kind)
        set_key(instance, item.key)
        set_changes(instance, {})
        set_payload(instance, dict(item.payload))
        set_refs(instance, {})
        append(instance)
    return out


# What `Model.model_construct(**values)` does for `Projection` (no extra or private attributes,
# every field given a value), without looking each default up on every call as pydantic's own
# does, which costs more than validating.
_NEW = object.__new__
_SET_DICT = BaseModel.__dict__["__dict__"].__set__
_SET_FIELDS_SET = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_SET_EXTRA = BaseModel.__dict__["__pydantic_extra__"].__set__
_SET_PRIVATE = BaseModel.__dict__["__pydantic_private__"].__set__
# The slots of the two dataclasses, set past their frozen `__setattr__` (as `__init__` does).
_SET_ITEM_KEY = ProjectedItem.__dict__["key"].__set__
_SET_ITEM_INDEX = ProjectedItem.__dict__["canonical_index"].__set__
_SET_ITEM_PAYLOAD = ProjectedItem.__dict__["payload"].__set__
_SET_OP_KIND = Operation.__dict__["kind"].__set__
_SET_OP_KEY = Operation.__dict__["key"].__set__
_SET_OP_CHANGES = Operation.__dict__["changes"].__set__
_SET_OP_PAYLOAD = Operation.__dict__["payload"].__set__
_SET_OP_REFS = Operation.__dict__["refs"].__set__
