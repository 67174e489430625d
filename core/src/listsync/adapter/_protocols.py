"""What an adapter implements: small protocols, and `Prepared`, the answer of `prepare`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from listsync.adapter._diff import ProjectionDiff
from listsync.adapter._settings import AccountSettings, AdapterSettings
from listsync.adapter._types import (
    Capability,
    CredentialStore,
    Operation,
    OperationContext,
    OperationResult,
    Projection,
    RemoteRecord,
)
from listsync.errors import FieldIssue, Severity
from listsync.model import Listing

if TYPE_CHECKING:
    import httpx

__all__ = ["Adapter", "CustomPlan", "ListsRecords", "Prepared", "ReadAdapter", "WriteAdapter"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """What `WriteAdapter.prepare` found for one listing.

    Attributes:
        issues: the portal's offline findings, with canonical paths and rule ids; errors block
            the listing, warnings are reported with it.
        projection: what the portal should hold; None exactly when an issue is an error.
    """

    issues: tuple[FieldIssue, ...]
    projection: Projection | None

    @property
    def blocked(self) -> bool:
        return self.projection is None

    @classmethod
    def of(cls, issues: Iterable[FieldIssue], projection: Projection | None) -> Prepared:
        """`issues` with `projection`, unless an issue is an error (then no projection)."""
        found = tuple(issues)
        if any(issue.severity is Severity.ERROR for issue in found):
            return cls(found, None)
        return cls(found, projection)


@runtime_checkable
class Adapter(Protocol):
    """What every adapter declares. Constructed as
    `Adapter(settings, account, account_name=..., transport=..., credential_store=...)`."""

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    settings_model: ClassVar[type[AdapterSettings]]
    account_model: ClassVar[type[AccountSettings]]

    def __init__(
        self,
        settings: Any,
        account: Any,
        *,
        account_name: str = "default",
        transport: httpx.AsyncBaseTransport | None = None,
        credential_store: CredentialStore | None = None,
    ) -> None:
        """`settings` and `account` are instances of `settings_model` and `account_model`."""

    async def check(self) -> None:
        """Test the credentials; raise `AuthenticationError` when they are refused."""
        ...

    async def aclose(self) -> None:
        """Close the adapter's HTTP clients."""
        ...


@runtime_checkable
class WriteAdapter(Adapter, Protocol):
    """An adapter that keeps a portal in step with canonical listings."""

    def prepare(self, listing: Listing) -> Prepared:
        """The portal's offline rules and the projection of `listing`, in one pass, no I/O.

        Returns `Prepared.of(issues, projection)`: an error issue blocks the listing. Raising
        `InvalidListingError` blocks it too; any other exception fails that listing alone.
        """
        ...

    async def apply(self, op: Operation, ctx: OperationContext) -> OperationResult:
        """Send one operation. "Already in that state" counts as success."""
        ...

    async def recover(self, op: Operation, ctx: OperationContext) -> OperationResult | None:
        """Did this non-idempotent operation land already? Its result if so, else None."""
        ...

    async def fetch(
        self, external_ref: str, remote_id: str | None, *, like: Projection | None = None
    ) -> RemoteRecord | None:
        """The listing as the portal holds it, with its `projection` and `item_ids`; None when
        the portal has no such record.

        By `remote_id` when given, else by `external_ref` through the portal's list or lookup
        action (an adapter may answer the latter from an index of the account's records that it
        reads once, in pages, so adopting thousands of new listings costs a few requests).
        `like` is the projection the engine would send: portal values equivalent to its own
        (say, a code the portal renamed within the same series) are read back as `like`'s, so
        they never cause a write on their own.
        """
        ...


@runtime_checkable
class ListsRecords(Protocol):
    """Implemented by a write adapter that can list every record of its account (for the
    orphan report of `listsync refresh` and `--prune`)."""

    def records(self) -> AsyncIterator[tuple[str | None, str]]:
        """`(external_ref, remote_id)` of every listing of this account, each once."""
        ...


@runtime_checkable
class CustomPlan(Protocol):
    """Implemented by a write adapter whose portal needs another plan than `default_plan`."""

    def plan(self, diff: ProjectionDiff) -> list[Operation]:
        """The operations for `diff`, in order (usually `default_plan(...)`, adjusted).

        Raise `InvalidListingError` (with canonical paths and rule ids) when the portal cannot
        make this change at all: the listing is blocked, nothing is sent for it.
        """
        ...


@runtime_checkable
class ReadAdapter(Adapter, Protocol):
    """An adapter that reads listings from a portal."""

    def search(self, query: Mapping[str, str], *, sold: bool = False) -> AsyncIterator[Listing]:
        """Every matching listing exactly once, paging to the end."""
        ...

    async def get(self, remote_id: str, *, sold: bool = False) -> Listing | None:
        """One listing by the portal's id, None when it does not exist."""
        ...
