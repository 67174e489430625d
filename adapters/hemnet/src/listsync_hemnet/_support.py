"""Helpers of `HemnetAdapter`: credentials wiring, results, item error paths."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
from pydantic import SecretStr
from typing_extensions import override

from listsync.adapter import (
    CredentialStore,
    OperationContext,
    OperationResult,
    PortalStatus,
)
from listsync.errors import NotFoundError, PortalValidationError
from listsync_hemnet.client import Reply
from listsync_hemnet.errors import PORTAL
from listsync_hemnet.keys import (
    default_credential_path,
    file_credential_store,
    load_credentials,
    token_origin,
)
from listsync_hemnet.settings import HemnetAccount

__all__ = [
    "SharedTransport",
    "Store",
    "at_item",
    "canonical_index",
    "credentials",
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


Store = Callable[[Mapping[str, str]], Awaitable[None]]


def credentials(
    account: HemnetAccount,
    account_name: str,
    credential_store: CredentialStore | None,
    *,
    base_url: str = "",
) -> tuple[SecretStr, str | None, Store]:
    """The key to start from and where a rotated key goes.

    With the embedding application's `credential_store`, the configured token is used and
    new keys go to the callback. Without one, keys go to a 0600 JSON file, and a key found in
    that file wins over the configured token only when it was rotated from that same
    configured token for the same base URL (the file records their fingerprint as `origin`).
    """
    if credential_store is not None:
        callback = credential_store

        async def to_callback(secrets: Mapping[str, str]) -> None:
            await callback(PORTAL, account_name, secrets)

        return account.token, account.key_id, to_callback
    path = account.credential_file or default_credential_path(account_name)
    origin = token_origin(account.token, base_url)
    token, key_id = load_credentials(path, origin) or (account.token, account.key_id)

    async def to_file(secrets: Mapping[str, str]) -> None:
        await file_credential_store(path, {**secrets, "origin": origin})

    return token, key_id, to_file


def portal_status(body: JSON) -> PortalStatus:
    """Where a Hemnet listing body stands: sold, live, awaiting approval, withdrawn, draft."""
    if body.get("sale"):
        return PortalStatus.SOLD
    if body.get("isPublished"):
        return PortalStatus.LIVE if body.get("isVisible") else PortalStatus.AWAITING_APPROVAL
    return PortalStatus.WITHDRAWN if body.get("unpublishedAt") else PortalStatus.DRAFT


def listing_result(reply: Reply, *, remote_id: str | None = None, **extra: Any) -> OperationResult:
    body = reply.body
    return OperationResult(
        remote_id=remote_id,
        status=portal_status(body),
        request_id=reply.request_id,
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
