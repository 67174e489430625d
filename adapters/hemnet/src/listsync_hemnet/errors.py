"""Hemnet's error answers -> listsync errors, in one function: `map_error`.

Hemnet's BrokerAPI guide ("Error handling") says every error is answered as
`{"errors": [{"type", "message", ...}]}`:

- `ValidationError` (+ `field` in dot notation, `fieldMessage`) -> `PortalValidationError` with
  one `FieldIssue` per error, its Hemnet field mapped to the canonical path (mapping.py);
- `TransitionError` (an illegal state change) -> `ConflictError`;
- `GenericError` and unknown types -> by HTTP status (`error_from_status`);
- 401 -> `AuthenticationError`, 403 -> `PermissionDeniedError`, 404 -> `NotFoundError`,
  429 -> `RateLimitedError` (with `Retry-After`), 5xx -> `TransientError`, whatever the type.

An answer that is not JSON, or not in that format, falls back to its status. The request id is
the `X-Request-Id` answer header (inferred: Hemnet's webhooks use that header name), which
`PortalHttp` reads into `Response.request_id`.
"""

from __future__ import annotations

import http
import re
from typing import Any

from listsync.adapter import Response
from listsync.errors import (
    ConflictError,
    FieldIssue,
    PortalBugError,
    PortalError,
    PortalValidationError,
)
from listsync.http import error_from_status
from listsync_hemnet.mapping import canonical_path
from listsync_hemnet.settings import PORTAL

__all__ = ["map_error"]

_ITEM = re.compile(r"^/listings/[^/]+/(images|showings|sale)(/|$)")


def _resource_of(path: str) -> str:
    """Which Hemnet resource a request path addresses (`listing`, `image`, `showing`, ...)."""
    if path.startswith("/broker_agencies"):
        return "agency"
    if path.startswith("/keys"):
        return "key"
    match = _ITEM.match(path)
    if match:
        return {"images": "image", "showings": "showing", "sale": "sale"}[match.group(1)]
    return "listing"


def _errors(response: Response) -> list[dict[str, Any]]:
    """The `errors` entries of Hemnet's error body; none when the body is another shape."""
    try:
        body = response.json()
    except PortalBugError:
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


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def map_error(response: Response, *, account: str | None = None) -> PortalError:
    """Turn one non-success Hemnet answer into the matching listsync error.

    `account` names the portal account in the message (the adapter binds it).
    """
    errors = _errors(response)
    status = response.status
    summary = "; ".join(str(e.get("message", "")) for e in errors)
    if not summary:
        summary = (
            f"{_phrase(status)} {response.excerpt()!r}" if response.content else _phrase(status)
        )
    message = f"{response.method} {response.path} -> {status}: {summary}"
    if status in (401, 403, 404, 429) or status >= 500:
        return _by_status(response, message, account)
    types = {e.get("type") for e in errors}
    common: dict[str, Any] = {
        "portal": PORTAL,
        "account": account,
        "request_id": response.request_id,
        "status_code": status,
    }
    if "ValidationError" in types:
        resource = _resource_of(response.path)
        issues = [_issue(e, resource) for e in errors if e.get("type") == "ValidationError"]
        return PortalValidationError(message, issues, **common)
    if "TransitionError" in types:
        return ConflictError(message, **common)
    return _by_status(response, message, account)


def _by_status(response: Response, message: str, account: str | None) -> PortalError:
    """`error_from_status`, with the account named in the message."""
    where = f"account {account!r}: " if account not in (None, "default") else ""
    error = error_from_status(response, portal=PORTAL, message=f"{where}{message}")
    error.account = account
    return error
