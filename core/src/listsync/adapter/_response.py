"""`Response`: a portal's answer as adapters see it.

The HTTP layer (`listsync.http.PortalHttp`) hands adapters this small value instead of an HTTP
library's response object, so the transport underneath is free to change (and to build no
objects of its own on the hot path). It holds the status, the headers, the raw body and the
portal's request id; the body is parsed as JSON once, on first use, and an answer that is not
the JSON an adapter expects becomes a `PortalBugError` naming the portal, the request id, the
status and a short excerpt, never a `JSONDecodeError` or `KeyError` escaping the adapter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from listsync.errors import PortalBugError

__all__ = ["Response"]

_UNPARSED = object()
_EXCERPT = 120


class Response:
    """One HTTP answer from a portal.

    Attributes:
        status: the HTTP status code.
        headers: the answer's headers; look-ups ignore case.
        content: the raw body.
        portal: the portal that answered (for error messages).
        request_id: the portal's id for the request, when its answers carry one.
        method / path: what was asked (the path without the query string), for messages.
    """

    __slots__ = (
        "_parsed",
        "content",
        "headers",
        "method",
        "path",
        "portal",
        "request_id",
        "status",
    )

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        content: bytes,
        *,
        portal: str,
        request_id: str | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        self.status = status
        self.headers = headers
        self.content = content
        self.portal = portal
        self.request_id = request_id
        self.method = method
        self.path = path
        self._parsed: Any = _UNPARSED

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.method} {self.path}>"

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        """The body as text (undecodable bytes replaced)."""
        return self.content.decode("utf-8", errors="replace")

    def excerpt(self) -> str:
        """The start of the body on one line, for messages."""
        text = " ".join(self.text.split())
        return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"

    def json(self) -> Any:
        """The body parsed as JSON (None for an empty body).

        Raises:
            PortalBugError: the body is not JSON.
        """
        if self._parsed is _UNPARSED:
            if not self.content.strip():
                self._parsed = None
            else:
                try:
                    self._parsed = json.loads(self.content)
                except ValueError:
                    raise self.malformed("an answer that is not JSON") from None
        return self._parsed

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object (`{}` for an empty body).

        Raises:
            PortalBugError: the body is not JSON, or not an object.
        """
        body = self.json()
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise self.malformed(f"a JSON {type(body).__name__} where an object was expected")
        return body

    def field(self, body: Mapping[str, Any], name: str) -> Any:
        """`body[name]`, or a `PortalBugError` when the portal left it out."""
        try:
            return body[name]
        except KeyError:
            raise self.malformed(f"an answer without {name!r}") from None

    def malformed(self, what: str) -> PortalBugError:
        """The error for an answer of the wrong shape: `what` says what was wrong."""
        where = f"{self.method} {self.path}: " if self.method else ""
        return PortalBugError(
            f"{where}{self.status} with {what}: {self.excerpt()!r}",
            portal=self.portal,
            request_id=self.request_id,
            status_code=self.status,
        )
