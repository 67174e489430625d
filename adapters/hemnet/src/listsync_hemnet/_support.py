"""Helpers of `HemnetAdapter`: a shared transport, results, item error paths."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from typing_extensions import override

from listsync.adapter import OperationContext, OperationResult, PortalStatus
from listsync.errors import NotFoundError, PortalValidationError
from listsync_hemnet.client import Reply
from listsync_hemnet.settings import PORTAL

__all__ = [
    "SharedTransport",
    "at_item",
    "canonical_index",
    "listing_result",
    "portal_status",
    "remote_of",
    "same_instant",
]

JSON = dict[str, Any]


class SharedTransport(httpx.AsyncBaseTransport):
    """A transport shared with the main client: closing this view leaves it open."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    @override
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)

    @override
    async def aclose(self) -> None:
        return None


def portal_status(body: JSON) -> PortalStatus:
    """Where a Hemnet listing body stands: sold, live, awaiting approval, withdrawn, draft."""
    if body.get("sale"):
        return PortalStatus.SOLD
    if body.get("isPublished"):
        return PortalStatus.LIVE if body.get("isVisible") else PortalStatus.AWAITING_APPROVAL
    return PortalStatus.WITHDRAWN if body.get("unpublishedAt") else PortalStatus.DRAFT


def listing_result(
    answer: Reply | JSON, *, remote_id: str | None = None, **extra: Any
) -> OperationResult:
    """The result of an operation from the listing Hemnet answered with (or listed)."""
    body = answer.body if isinstance(answer, Reply) else answer
    return OperationResult(
        remote_id=remote_id,
        status=portal_status(body),
        request_id=answer.request_id if isinstance(answer, Reply) else None,
        is_visible=body.get("isVisible"),
        is_approved=body.get("isApproved"),
        approval_url=body.get("approvalUrl"),
        **extra,
    )


def remote_of(ctx: OperationContext) -> str:
    if ctx.remote_id is None:
        raise NotFoundError(f"listing {ctx.external_ref!r} has no Hemnet id yet", portal=PORTAL)
    return ctx.remote_id


def canonical_index(items: tuple[Any, ...], key: str | None) -> int | None:
    return next((item.canonical_index for item in items if item.key == key), None)


def at_item(error: PortalValidationError, index: int | None) -> PortalValidationError:
    """`error` with its `[?]` item paths pointing at canonical entry `index`."""
    where = f"[{index}]" if index is not None else ""
    issues = [i.model_copy(update={"path": i.path.replace("[?]", where)}) for i in error.issues]
    return PortalValidationError(
        error.message,
        issues,
        portal=error.portal,
        account=error.account,
        request_id=error.request_id,
        status_code=error.status_code,
    )


def same_instant(a: Any, b: Any) -> bool:
    try:
        left = dt.datetime.fromisoformat(str(a).replace("Z", "+00:00"))
        right = dt.datetime.fromisoformat(str(b).replace("Z", "+00:00"))
    except ValueError:
        return False
    return left == right
