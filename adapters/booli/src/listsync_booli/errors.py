"""Booli's error answers -> the listsync error tree, in one function (`map_error`).

Booli (API v2; its API guide, section "Svar och fel") answers errors with a status code and a
short **plain-text** body such as
`FAILURE_MISSING_PARAM - Parameter missing. Request must contain callerId, unique, time and hash.`
The body is kept in the error message (redacted, truncated). `map_error` builds on
`listsync.http.error_from_status` and decides only where Booli means something else:

| status | error |
|---|---|
| 400 | `QueryRejectedError` (the query was malformed; fix it) |
| 403 | `AuthenticationError` (a refused signature or caller id, not a missing permission) |
| other | as `error_from_status`: 401 `AuthenticationError`, 404 `NotFoundError`, 429 |
|       | `RateLimitedError` with `Retry-After`, 5xx `TransientError` (retried), the rest |
|       | (405, 406: every call is a GET with the documented Accept) `PortalBugError` |

Query parameters that fail validation before anything is sent raise `InvalidQueryError`, a
`ConfigurationError` (CLI exit code 2).
"""

from __future__ import annotations

import http
import re

from listsync.adapter import Response
from listsync.errors import AuthenticationError, ConfigurationError, PortalError
from listsync.http import error_from_status
from listsync_booli.settings import PORTAL

__all__ = ["InvalidQueryError", "QueryRejectedError", "failure_code", "map_error"]

_MAX_BODY = 500
_FAILURE_CODE = re.compile(r"\bFAILURE_[A-Z_]+\b")


class QueryRejectedError(PortalError):
    """Booli refused the query as malformed (400): fix the query parameters."""


class InvalidQueryError(ConfigurationError):
    """The query parameters are invalid; found before anything was sent."""


def failure_code(text: str) -> str | None:
    """Booli's `FAILURE_...` code inside an error body, if there is one."""
    match = _FAILURE_CODE.search(text)
    return match.group(0) if match else None


def _body_text(response: Response) -> str:
    text = response.text.strip()
    if len(text) > _MAX_BODY:
        text = text[:_MAX_BODY] + "..."
    if text:
        return text
    try:
        return http.HTTPStatus(response.status).phrase
    except ValueError:
        return "no message"


def map_error(response: Response) -> PortalError:
    """Map one non-success Booli answer to the error tree, keeping Booli's text."""
    status = response.status
    message = f"HTTP {status}: {_body_text(response)}"
    if status == 400:
        return QueryRejectedError(
            message, portal=PORTAL, request_id=response.request_id, status_code=status
        )
    if status == 403:
        return AuthenticationError(
            message, portal=PORTAL, request_id=response.request_id, status_code=status
        )
    return error_from_status(response, portal=PORTAL, message=message)
