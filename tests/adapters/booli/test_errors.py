"""Booli's plain-text error answers map to the error tree, keeping Booli's text."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from listsync.adapter import Response
from listsync.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    PortalBugError,
    PortalError,
    RateLimitedError,
    TransientError,
)
from listsync_booli import BooliAccount, BooliAdapter, BooliSettings
from listsync_booli.errors import QueryRejectedError, failure_code, map_error
from listsync_booli.sandbox import BooliSandbox

from .conftest import ALL_SWEDEN, AdapterFactory, settings_for


def answer(status: int, text: str = "", headers: dict[str, str] | None = None) -> Response:
    """A Booli answer as `PortalHttp` hands it to the error mapper."""
    return Response(status, httpx.Headers(headers or {}), text.encode(), portal="booli")


CASES = [
    (400, "FAILURE_MISSING_PARAM - Parameter missing.", QueryRejectedError),
    (401, "Unauthorized", AuthenticationError),
    (403, "FAILURE_IDENTITY_NOT_FOUND - Unknown callerId.", AuthenticationError),
    (404, "FAILURE_NOT_FOUND - No such object.", NotFoundError),
    (409, "Conflict", ConflictError),
    (410, "Gone", NotFoundError),
    (405, "FAILURE_METHOD_NOT_ALLOWED - Only GET.", PortalBugError),
    (406, "FAILURE_NOT_ACCEPTABLE - Bad Accept.", PortalBugError),
    (429, "FAILURE_QUOTA_EXCEEDED - Slow down.", RateLimitedError),
    (500, "FAILURE_INTERNAL_ERROR - Oops.", TransientError),
    (503, "FAILURE_SERVICE_UNAVAILABLE - Later.", TransientError),
    (599, "odd", TransientError),
    (418, "teapot", PortalBugError),
]


@pytest.mark.parametrize(("status", "text", "kind"), CASES)
def test_each_documented_status_maps_to_its_class_with_the_text(
    status: int, text: str, kind: type[PortalError]
) -> None:
    """Every status Booli documents (plus 429) becomes the right error, text kept; statuses
    Booli does not document fall back to `error_from_status`."""
    error = map_error(answer(status, text, {"Retry-After": "2"}))
    assert type(error) is kind
    assert error.status_code == status
    assert error.portal == "booli"
    assert text in str(error)


def test_429_carries_retry_after() -> None:
    """A 429's Retry-After is kept in seconds."""
    error = map_error(answer(429, "x", {"retry-after": "7"}))
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 7.0


def test_an_empty_body_still_names_the_status() -> None:
    """With no body the message falls back to the status's reason phrase."""
    assert "Service Unavailable" in str(map_error(answer(503)))


def test_failure_code_is_extracted() -> None:
    """The FAILURE_... code is found inside Booli's text."""
    assert failure_code("FAILURE_MISSING_PARAM - Parameter missing") == "FAILURE_MISSING_PARAM"
    assert failure_code("plain words") is None


def test_secret_looking_text_in_a_body_is_redacted() -> None:
    """A body echoing the query string does not leak the signature into the message."""
    error = map_error(answer(400, "bad request callerId=acme&hash=abcdef0123"))
    assert "acme" not in str(error)
    assert "abcdef0123" not in str(error)


# -- the sandbox enforces the same rules, and the adapter surfaces them -------------------


async def test_wrong_key_is_an_authentication_error(sandbox: BooliSandbox) -> None:
    """A wrong key makes Booli answer 403, raised as AuthenticationError with its text."""
    settings, account = settings_for(sandbox)
    wrong = BooliAccount(caller_id=account.caller_id, api_key=SecretStr("not-the-key"))
    adapter = BooliAdapter(settings, wrong, transport=sandbox.transport())
    try:
        with pytest.raises(AuthenticationError, match="FAILURE_INVALID_HASH") as caught:
            await adapter.check()
    finally:
        await adapter.aclose()
    assert account.caller_id.get_secret_value() not in str(caught.value)


async def test_unknown_caller_is_refused(sandbox: BooliSandbox) -> None:
    """A caller id the sandbox does not know gets 403 FAILURE_IDENTITY_NOT_FOUND."""
    async with httpx.AsyncClient(transport=sandbox.transport(), base_url="http://x") as client:
        params = {**ALL_SWEDEN, "callerId": "nobody", "time": "1", "unique": "a" * 16,
                  "hash": "0" * 40}  # fmt: skip
        response = await client.get("/listings", params=params, headers=_ACCEPT)
    assert response.status_code == 403
    assert response.text.startswith("FAILURE_IDENTITY_NOT_FOUND")
    assert response.headers["content-type"].startswith("text/plain")


_ACCEPT = {"Accept": "application/vnd.booli-v2+json"}


async def test_query_rejected_by_booli_surfaces_as_query_rejected(
    sandbox: BooliSandbox, make_adapter: AdapterFactory
) -> None:
    """A 400 from Booli (an unreadable bbox) is a QueryRejectedError with Booli's text."""
    adapter = make_adapter(sandbox)
    with pytest.raises(QueryRejectedError, match="FAILURE_INVALID_PARAM"):
        await adapter.client.search_page("listings", {"bbox": "1,2,x,4"}, offset=0, limit=10)


def test_invalid_query_is_a_configuration_error() -> None:
    """Query validation errors are configuration errors (CLI exit code 2)."""
    from listsync_booli.errors import InvalidQueryError

    assert issubclass(InvalidQueryError, ConfigurationError)


# -- answers of the wrong shape ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"<html>maintenance</html>", "not JSON"),
        (b"[1, 2]", "JSON list where an object was expected"),
        (b'{"listings": []}', "totalCount"),
        (b'{"listings": {"a": 1}, "totalCount": 1}', "not a list of objects"),
    ],
)
async def test_a_wrong_shape_answer_is_a_portal_bug_error(body: bytes, complaint: str) -> None:
    """A 200 whose body is not what Booli documents raises PortalBugError naming the portal,
    the request and what was wrong; never a JSONDecodeError, KeyError or TypeError."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    settings = BooliSettings(base_url="http://booli.test", max_attempts=1)
    account = BooliAccount(caller_id=SecretStr("caller"), api_key=SecretStr("k3y-k3y"))
    adapter = BooliAdapter(settings, account, transport=httpx.MockTransport(handler))
    try:
        with pytest.raises(PortalBugError, match=complaint) as caught:
            [listing async for listing in adapter.search(ALL_SWEDEN)]
    finally:
        await adapter.aclose()
    assert caught.value.portal == "booli"
    assert "GET /listings" in str(caught.value)
