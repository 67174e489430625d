"""Booli's error answers -> the listsync error tree, in one function (`booli_error`).

Booli (API v2, portal-docs/booli-api-introduction-sv.txt, "Svar och fel") answers errors with a
status code and a short **plain-text** body such as
`FAILURE_MISSING_PARAM - Parameter missing. Request must contain callerId, unique, time and hash.`
The body is kept in the error message (redacted, truncated).

| status | error |
|---|---|
| 400 | `QueryRejectedError` (the query was malformed; fix it) |
| 403 | `AuthenticationError` (the signature or caller id was refused) |
| 401 | `AuthenticationError` (not in Booli's list; a proxy may send it) |
| 404 | `NotFoundError` |
| 405, 406 | `PortalBugError` (every call is a GET with the documented Accept header) |
| 429 | `RateLimitedError` with `Retry-After` (not in Booli's list; honoured when it comes) |
| 500, 502, 503, 504 | `TransientError` (retried) |
| anything else | `PortalBugError` |

Query parameters that fail validation before anything is sent raise `InvalidQueryError`, a
`ConfigurationError` (CLI exit code 2).
"""

from __future__ import annotations

import re

import httpx

from listsync.errors import (
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    PortalBugError,
    PortalError,
    RateLimitedError,
    TransientError,
)
from listsync.http import parse_retry_after

__all__ = ["PORTAL", "InvalidQueryError", "QueryRejectedError", "booli_error", "failure_code"]

PORTAL = "booli"
_MAX_BODY = 500
_FAILURE_CODE = re.compile(r"\bFAILURE_[A-Z_]+\b")

_BY_STATUS: dict[int, type[PortalError]] = {
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    405: PortalBugError,
    406: PortalBugError,
    500: TransientError,
    502: TransientError,
    503: TransientError,
    504: TransientError,
}


class QueryRejectedError(PortalError):
    """Booli refused the query as malformed (400): fix the query parameters."""


class InvalidQueryError(ConfigurationError):
    """The query parameters are invalid; found before anything was sent."""


def failure_code(text: str) -> str | None:
    """Booli's `FAILURE_...` code inside an error body, if there is one."""
    match = _FAILURE_CODE.search(text)
    return match.group(0) if match else None


def _body_text(response: httpx.Response) -> str:
    try:
        text = response.text.strip()
    except (UnicodeDecodeError, LookupError):  # pragma: no cover - undecodable body
        text = ""
    if len(text) > _MAX_BODY:
        text = text[:_MAX_BODY] + "..."
    return text or response.reason_phrase or "no message"


def booli_error(response: httpx.Response) -> PortalError:
    """Map one non-success Booli response to the error tree, keeping Booli's text."""
    status = response.status_code
    message = f"HTTP {status}: {_body_text(response)}"
    if status == 429:
        return RateLimitedError(
            message,
            portal=PORTAL,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            status_code=status,
        )
    if status == 400:
        return QueryRejectedError(message, portal=PORTAL, status_code=status)
    kind = _BY_STATUS.get(status)
    if kind is None:
        kind = TransientError if status >= 500 else PortalBugError
    return kind(message, portal=PORTAL, status_code=status)
