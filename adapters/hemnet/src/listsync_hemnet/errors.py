"""Hemnet's error body -> listsync errors, in one function (`hemnet_error`).

Hemnet answers every error as `{"errors": [{"type", "message", ...}]}` (portal-docs/
hemnet-broker-api-first-steps.txt, "Error handling"):

- `ValidationError` (+ `field` in dot notation, `fieldMessage`) -> `PortalValidationError` with
  one `FieldIssue` per error, its Hemnet field mapped to the canonical path (mapping.py);
- `TransitionError` (an illegal state change) -> `ConflictError`;
- `GenericError` and unknown types -> by HTTP status (`error_from_status`);
- 401 -> `AuthenticationError`, 403 -> `PermissionDeniedError`, 404 -> `NotFoundError`,
  429 -> `RateLimitedError` (with `Retry-After`), 5xx -> `TransientError`, whatever the type.

The request id comes from the `X-Request-Id` response header (inferred; Hemnet's webhooks use
that header name).
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from listsync.errors import (
    ConflictError,
    FieldIssue,
    PortalError,
    PortalValidationError,
)
from listsync.http import error_from_status
from listsync_hemnet.mapping import canonical_path

__all__ = ["PORTAL", "hemnet_error", "resource_of"]

PORTAL = "hemnet"

_ITEM = re.compile(r"^/listings/[^/]+/(images|showings|sale)(/|$)")


def resource_of(path: str) -> str:
    """Which Hemnet resource a request path addresses (`listing`, `image`, `showing`, ...)."""
    if path.startswith("/broker_agencies"):
        return "agency"
    if path.startswith("/keys"):
        return "key"
    match = _ITEM.match(path)
    if match:
        return {"images": "image", "showings": "showing", "sale": "sale"}[match.group(1)]
    return "listing"


def _errors(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    return [e for e in errors if isinstance(e, dict)]


def _issue(error: dict[str, Any], resource: str) -> FieldIssue:
    field = error.get("field")
    field = field if isinstance(field, str) else None
    return FieldIssue(
        path=canonical_path(resource, field),
        message=str(error.get("fieldMessage") or error.get("message") or "is invalid"),
        portal=PORTAL,
        portal_field=field,
        rule="ValidationError",
    )


def hemnet_error(response: httpx.Response, *, account: str | None = None) -> PortalError:
    """Turn one non-success Hemnet response into the matching listsync error.

    `account` names the portal account in the message (the adapter binds it).
    """
    errors = _errors(response)
    request_id = response.headers.get("X-Request-Id")
    status = response.status_code
    method, path = response.request.method, response.request.url.path
    summary = "; ".join(str(e.get("message", "")) for e in errors) or response.reason_phrase
    message = f"{method} {path} -> {status}: {summary}"
    types = {e.get("type") for e in errors}
    common: dict[str, Any] = {
        "portal": PORTAL,
        "account": account,
        "request_id": request_id,
        "status_code": status,
    }
    if status in (401, 403, 404, 429) or status >= 500:
        return _by_status(response, message, account, request_id)
    if "ValidationError" in types:
        resource = resource_of(path)
        issues = [_issue(e, resource) for e in errors if e.get("type") == "ValidationError"]
        return PortalValidationError(message, issues, **common)
    if "TransitionError" in types:
        return ConflictError(message, **common)
    return _by_status(response, message, account, request_id)


def _by_status(
    response: httpx.Response, message: str, account: str | None, request_id: str | None
) -> PortalError:
    """`error_from_status`, with the account named in the message."""
    where = f"account {account!r}: " if account not in (None, "default") else ""
    error = error_from_status(
        response, portal=PORTAL, message=f"{where}{message}", request_id=request_id
    )
    error.account = account
    return error
