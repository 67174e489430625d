"""The adapter contract: what a portal adapter declares and implements.

An adapter is a class registered in the entry-point group `listsync.adapters` under the same name
as its `name` attribute. One instance serves one (portal, account) pair, so rate limits, token
caches and key rotation are per account. The engine never branches on a portal's name: it calls
`preflight`, `project`, `plan`, `apply` and `recover` and reads `capabilities`.

Write flow, per listing and portal:

1. `preflight(listing)`: offline rules (no I/O); errors block the listing.
2. `project(listing)`: the portal payload as a `Projection` (fields, media, showings, target
   lifecycle state). Its hash decides whether anything is sent at all.
3. `plan(diff)`: the operations to move the portal from what was last sent to the projection
   (most adapters return `default_plan(diff, self.capabilities)`).
4. `apply(op, ctx)` for each operation, in order. Non-idempotent operations (`CREATE`,
   `MEDIA_ADD`, `SHOWING_CREATE`) are journalled first; after a crash or an unknown outcome the
   engine calls `recover(op, ctx)`, which looks the record up on the portal, before sending again.

See docs/adapters.md for the author's guide.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from listsync.errors import FieldIssue, Severity
from listsync.model import Listing

if TYPE_CHECKING:
    from listsync.sync._diff import ProjectionDiff

__all__ = [
    "NON_IDEMPOTENT",
    "OP_CAPABILITY",
    "AccountSettings",
    "Adapter",
    "AdapterSettings",
    "Capability",
    "CredentialStore",
    "FieldIssue",
    "OpKind",
    "Operation",
    "OperationContext",
    "OperationResult",
    "PortalStatus",
    "ProjectedItem",
    "Projection",
    "ReadAdapter",
    "RemoteRecord",
    "SecretStr",
    "Severity",
    "TargetState",
    "WriteAdapter",
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


class AdapterSettings(BaseModel):
    """Portal-level settings; adapters subclass it with their own options.

    Every setting can come from the TOML file (`[portals.<name>]`) or the environment
    (`LISTSYNC_<PORTAL>_<SETTING>`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str
    timeout: float = Field(default=30.0, gt=0)
    max_concurrency: int = Field(default=16, ge=1)
    requests_per_second: float | None = Field(default=None, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    max_retry_wait: float = Field(default=60.0, ge=0)
    user_agent: str | None = None


class AccountSettings(BaseModel):
    """One portal account (one agency's credentials); adapters subclass it.

    `agencies` lists the agency `external_ref`s this account serves; the account named
    `default` serves agencies that no other account lists.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    agencies: tuple[str, ...] = ()


CredentialStore = Callable[[str, str, Mapping[str, str]], Awaitable[None]]
"""`await store(portal, account, secrets)`: called when an adapter renews a credential."""


class ProjectedItem(BaseModel):
    """A media item or showing as the portal will receive it.

    `key` is stable across runs for the same canonical item; `canonical_index` points back at
    `Listing.media[i]` / `Listing.showings[i]` so portal errors land on the right entry.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    canonical_index: int
    payload: dict[str, Any]


class Projection(BaseModel):
    """Everything a portal should hold for one listing, in the portal's own terms."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    external_ref: str
    fields: dict[str, Any]
    media: tuple[ProjectedItem, ...] = ()
    showings: tuple[ProjectedItem, ...] = ()
    target: TargetState = TargetState.PUBLISHED
    sale: dict[str, Any] | None = None

    def digest(self) -> str:
        """A stable hash of the whole projection: equal hashes mean nothing to send."""
        try:
            # The same text as below without copying the projection first; anything that
            # `json` cannot write as-is (Decimal, dates, NaN, ...) takes the pydantic route.
            raw = json.dumps(
                _as_tree(self),
                sort_keys=True,
                separators=(",", ":"),
                allow_nan=False,
                default=_as_tree,
            )
        except (TypeError, ValueError):
            raw = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()


def _as_tree(value: Any) -> dict[str, Any]:
    """A `Projection` or `ProjectedItem` as a dict of its fields, for `Projection.digest`.

    Raises:
        TypeError: for any other value (`json.dumps` calls this for what it cannot write).
    """
    if type(value) not in (Projection, ProjectedItem):
        raise TypeError(f"{type(value).__name__} is not plain JSON")
    return {name: getattr(value, name) for name in type(value).model_fields}


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


class Operation(BaseModel):
    """One step on one portal for one listing.

    Attributes:
        kind: what to do.
        key: the media/showing key for item operations.
        changes: for `UPDATE` / `SHOWING_UPDATE`, exactly the changed top-level fields, with
            `None` for a field to unset (absent = unchanged).
        payload: for `CREATE` the full fields, for item creations the item payload, for
            `MARK_SOLD` the sale.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: OpKind
    key: str | None = None
    changes: dict[str, Any] = Field(default_factory=dict)
    payload: dict[str, Any] = Field(default_factory=dict)

    @property
    def idempotent(self) -> bool:
        return self.kind not in NON_IDEMPOTENT

    def describe(self) -> str:
        if self.kind is OpKind.UPDATE:
            return f"update {', '.join(sorted(self.changes))}"
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
    """A listing as read back from a write portal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    remote_id: str
    external_ref: str | None
    status: PortalStatus
    is_visible: bool | None = None
    is_approved: bool | None = None
    approval_url: str | None = None
    listing: Listing | None = None


def _item(key: str, canonical_index: int, payload: dict[str, Any]) -> ProjectedItem:
    """`ProjectedItem(key=..., canonical_index=..., payload=...)` for values that are valid as
    they are (`payload` a fresh dict with `str` keys), without validating them again.

    Validation would make the same instance (it only copies `payload`) at twice the cost, and
    adapters build an item for every media item and showing of every listing they project.
    """
    fields = {"key": key, "canonical_index": canonical_index, "payload": payload}
    return _construct(ProjectedItem, fields, {"key", "canonical_index", "payload"})


def _operation(
    kind: OpKind,
    key: str | None = None,
    *,
    changes: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
) -> Operation:
    """`Operation(kind=kind, ...)` given the arguments that are not None, for values that are
    valid as they are (a `str` key, fresh dicts with `str` keys), without validating them again.

    Validation would make the same instance (it only copies the dicts) at twice the cost, and
    the planner builds an operation for every media item of every listing it plans.
    """
    given = {"kind"}
    if key is not None:
        given.add("key")
    if changes is None:
        changes = {}
    else:
        given.add("changes")
    if payload is None:
        payload = {}
    else:
        given.add("payload")
    fields = {"kind": kind, "key": key, "changes": changes, "payload": payload}
    return _construct(Operation, fields, given)


_Model = TypeVar("_Model", bound=BaseModel)
_SET_DICT = BaseModel.__dict__["__dict__"].__set__
_SET_FIELDS_SET = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_SET_EXTRA = BaseModel.__dict__["__pydantic_extra__"].__set__
_SET_PRIVATE = BaseModel.__dict__["__pydantic_private__"].__set__


def _construct(model: type[_Model], fields: dict[str, Any], given: set[str]) -> _Model:
    """What `model.model_construct(**given values)` makes: `fields` holds every field in the
    model's order (defaults filled in), `given` names those set explicitly. For the models
    here, which have no extra or private attributes.

    Pydantic's own looks every default up on each call, which costs more than validating.
    """
    instance = object.__new__(model)
    _SET_DICT(instance, fields)
    _SET_FIELDS_SET(instance, given)
    _SET_EXTRA(instance, None)
    _SET_PRIVATE(instance, None)
    return instance


@runtime_checkable
class Adapter(Protocol):
    """What every adapter declares. Constructed as
    `Adapter(settings, account, account_name=..., transport=..., credential_store=...)`."""

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    settings_model: ClassVar[type[AdapterSettings]]
    account_model: ClassVar[type[AccountSettings]]

    def preflight(self, listing: Listing) -> list[FieldIssue]:
        """Offline checks (no I/O): issues with canonical paths; errors block sending."""
        ...

    async def check(self) -> None:
        """Test the credentials; raise `AuthenticationError` when they are refused."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class WriteAdapter(Adapter, Protocol):
    def project(self, listing: Listing) -> Projection: ...

    def plan(self, diff: ProjectionDiff) -> list[Operation]: ...

    async def apply(self, op: Operation, ctx: OperationContext) -> OperationResult: ...

    async def recover(self, op: Operation, ctx: OperationContext) -> OperationResult | None:
        """Did this non-idempotent operation land already? Its result if so, else None."""
        ...

    async def fetch(self, external_ref: str, remote_id: str | None) -> RemoteRecord | None: ...


@runtime_checkable
class ReadAdapter(Adapter, Protocol):
    def search(self, query: Mapping[str, str], *, sold: bool = False) -> AsyncIterator[Listing]:
        """Every matching listing exactly once, paging to the end."""
        ...

    async def get(self, remote_id: str, *, sold: bool = False) -> Listing | None: ...
