"""Immowelt's error answers -> the listsync error tree (`map_error`, the adapter's mapper).

Immowelt's listing import API document says errors follow RFC 7807 (`application/problem+json`:
`type, title, detail, instance, status`), with the extensions `errors[{name, reason}]` (name: a
JSON pointer into the request body) and `errorSource`, on a 400 at least. `instance` is the
request id. A 403 names the missing scope in `WWW-Authenticate: Bearer
error="insufficient_scope", scope="..."` (RFC 6750 §3.1) or, failing that, in the detail text.

An answer whose body is not a problem document (HTML from a proxy, an empty or truncated body,
the storage host's XML) is mapped by its status alone, with a short excerpt of the body: a 400
or 422 without a problem document is a `PortalBugError` (nothing says which field was wrong),
never a `JSONDecodeError`.
"""

from __future__ import annotations

import http
import re
from typing import Any

from listsync.adapter import Response
from listsync.errors import (
    FieldIssue,
    PermissionDeniedError,
    PortalBugError,
    PortalError,
    PortalValidationError,
)
from listsync.http import error_from_status
from listsync.model import Listing
from listsync_immowelt.mapping import canonical_path
from listsync_immowelt.settings import PORTAL

__all__ = ["map_error", "with_listing_paths"]

_SCOPE = re.compile(r"clim:[a-z]+:(?:[a-z]+|\*)")
_HEADER_SCOPE = re.compile(r'scope="([^"]+)"')


def _problem(response: Response) -> dict[str, Any] | None:
    """The problem document of an answer, None when the body is not a JSON object."""
    try:
        body = response.json()
    except PortalBugError:
        return None
    return body if isinstance(body, dict) else None


def _issues(body: dict[str, Any], listing: Listing | None) -> list[FieldIssue]:
    issues = []
    errors = body.get("errors")
    for item in errors if isinstance(errors, list) else []:
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


def _missing_scope(response: Response, body: dict[str, Any]) -> str | None:
    header = response.headers.get("WWW-Authenticate", "")
    if (m := _HEADER_SCOPE.search(header)) is not None:
        return m.group(1)
    found = _SCOPE.search(str(body.get("detail") or ""))
    return found.group(0) if found else None


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "error"


def map_error(response: Response, listing: Listing | None = None) -> PortalError:
    """Translate one non-success answer; `listing` resolves paths into its extensions."""
    status = response.status
    body = _problem(response)
    if body is None:
        message = f"HTTP {status} {_phrase(status)} without a problem document: "
        message += repr(response.excerpt()) if response.content.strip() else "empty body"
        if status in (400, 422):
            return PortalBugError(
                message, portal=PORTAL, request_id=response.request_id, status_code=status
            )
        return error_from_status(response, portal=PORTAL, message=message)
    instance = body.get("instance")
    request_id = str(instance) if isinstance(instance, str) and instance else response.request_id
    title = str(body.get("title") or _phrase(status))
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
