"""Immowelt `application/problem+json` (RFC 7807) responses -> the listsync error tree.

The body carries `type, title, detail, instance, status` plus the portal's extensions
`errors[{name, reason}]` (name = JSON pointer into the request body) and `errorSource`
(../shared/portal-docs/immowelt-listing-import-api.txt, "Errors"). `instance` is the request
id. A 403 names the missing scope in `WWW-Authenticate: Bearer error="insufficient_scope",
scope="..."` (RFC 6750 §3.1) or, failing that, in the detail text.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from listsync.errors import (
    FieldIssue,
    PermissionDeniedError,
    PortalError,
    PortalValidationError,
)
from listsync.http import error_from_status
from listsync.model import Listing
from listsync_immowelt.mapping import PORTAL, canonical_path

__all__ = ["map_error", "problem", "with_listing_paths"]

_SCOPE = re.compile(r"clim:[a-z]+:(?:[a-z]+|\*)")
_HEADER_SCOPE = re.compile(r'scope="([^"]+)"')


def problem(response: httpx.Response) -> dict[str, Any]:
    """The problem document of a response, `{}` when the body is not a JSON object."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _issues(body: dict[str, Any], listing: Listing | None) -> list[FieldIssue]:
    issues = []
    for item in body.get("errors") or []:
        if not isinstance(item, dict):
            continue
        pointer = str(item.get("name") or "")
        issues.append(
            FieldIssue(
                path=canonical_path(pointer, listing),
                message=str(item.get("reason") or "refused by the portal"),
                portal=PORTAL,
                portal_field=pointer or None,
            )
        )
    return issues


def _missing_scope(response: httpx.Response, body: dict[str, Any]) -> str | None:
    header = response.headers.get("WWW-Authenticate", "")
    if (m := _HEADER_SCOPE.search(header)) is not None:
        return m.group(1)
    found = _SCOPE.search(str(body.get("detail") or ""))
    return found.group(0) if found else None


def map_error(response: httpx.Response, listing: Listing | None = None) -> PortalError:
    """Translate one non-success response (the adapter's `error_mapper`)."""
    body = problem(response)
    status = response.status_code
    request_id = body.get("instance") or response.headers.get("x-request-id")
    request_id = str(request_id) if request_id else None
    title = str(body.get("title") or response.reason_phrase or "error")
    detail = body.get("detail")
    message = f"HTTP {status} {title}" + (f": {detail}" if detail else "")
    if status in (400, 422):
        return PortalValidationError(
            message,
            _issues(body, listing),
            portal=PORTAL,
            request_id=request_id,
            status_code=status,
        )
    if status == 403:
        return PermissionDeniedError(
            message,
            portal=PORTAL,
            scope=_missing_scope(response, body),
            request_id=request_id,
            status_code=status,
        )
    return error_from_status(response, portal=PORTAL, message=message, request_id=request_id)


def with_listing_paths(error: PortalValidationError, listing: Listing | None) -> PortalError:
    """The same validation error with paths resolved against the listing (extensions)."""
    if listing is None:
        return error
    issues = [
        issue.model_copy(update={"path": canonical_path(issue.portal_field, listing)})
        if issue.portal_field
        else issue
        for issue in error.issues
    ]
    return PortalValidationError(
        f"HTTP {error.status_code}: the portal refused the listing",
        issues,
        portal=PORTAL,
        account=error.account,
        request_id=error.request_id,
        status_code=error.status_code,
    )
