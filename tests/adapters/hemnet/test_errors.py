"""Hemnet's `{"errors": [...]}` bodies map into the listsync error tree with canonical paths."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from listsync.adapter import Operation, OpKind, Response
from listsync.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PortalBugError,
    PortalError,
    PortalValidationError,
    RateLimitedError,
    TransientError,
)
from listsync.testing import Driver
from listsync_hemnet.errors import map_error
from listsync_hemnet.sandbox import HemnetSandbox

from .conftest import make_listing


def _answer(status: int, content: bytes, path: str = "/listings", **headers: str) -> Response:
    """What `PortalHttp` hands the error mapper for a POST to `path`."""
    headers.setdefault("X-Request-Id", "req-42")
    return Response(
        status,
        httpx.Headers(headers),
        content,
        portal="hemnet",
        request_id=headers["X-Request-Id"],
        method="POST",
        path=path,
    )


def _response(
    status: int, errors: list[dict[str, Any]], path: str = "/listings", **headers: str
) -> Response:
    return _answer(status, json.dumps({"errors": errors}).encode(), path, **headers)


@pytest.mark.parametrize(
    ("field", "path", "canonical"),
    [
        ("postCode", "/listings", "address.postal_code"),
        ("urls.allImages", "/listings", "links.all_images"),
        ("coordinates.latitude", "/listings", "coordinates.lat"),
        ("broker.emailAddress", "/listings/1", "agent.email"),
        ("somethingNew", "/listings", "extensions.hemnet.somethingNew"),
        ("visitingAddress.postcode", "/broker_agencies", "agency.visiting_address.postal_code"),
        ("url", "/listings/1/images", "media[?].url"),
        ("endAt", "/listings/1/showings/9", "showings[?].end"),
        ("price", "/listings/1/sale", "sale.price"),
    ],
)
def test_validation_error_maps_the_field_to_the_canonical_path(
    field: str, path: str, canonical: str
) -> None:
    """A ValidationError's dot-path field becomes the canonical path of the resource."""
    error = map_error(
        _response(
            422,
            [
                {
                    "type": "ValidationError",
                    "message": f"{field} is bad",
                    "field": field,
                    "fieldMessage": "is bad",
                }
            ],
            path,
        )
    )
    assert isinstance(error, PortalValidationError)
    [issue] = error.issues
    assert (issue.path, issue.portal, issue.portal_field, issue.message, issue.rule) == (
        canonical,
        "hemnet",
        field,
        "is bad",
        "ValidationError",
    )
    assert "hemnet" in str(error)
    assert "req-42" in str(error)


@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [
        (422, "TransitionError", ConflictError),
        (500, "GenericError", TransientError),
        (503, "GenericError", TransientError),
        (409, "GenericError", ConflictError),
        (400, "GenericError", PortalBugError),
        (401, "AuthenticationError", AuthenticationError),
        (403, "GenericError", PermissionDeniedError),
        (404, "GenericError", NotFoundError),
        (429, "GenericError", RateLimitedError),
    ],
)
def test_error_types_and_statuses_land_in_the_right_class(
    status: int, kind: str, expected: type[PortalError]
) -> None:
    """TransitionError, GenericError and the global errors map by type, then by status."""
    headers = {"Retry-After": "7"}
    error = map_error(_response(status, [{"type": kind, "message": "nope"}], **headers))
    assert type(error) is expected
    assert error.request_id == "req-42"
    assert "req-42" in str(error)


def test_rate_limit_carries_retry_after() -> None:
    """429's Retry-After header reaches RateLimitedError.retry_after."""
    headers = {"Retry-After": "7"}
    error = map_error(_response(429, [{"type": "GenericError", "message": "slow down"}], **headers))
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 7.0


def test_a_body_that_is_not_hemnets_format_falls_back_to_the_status() -> None:
    """A non-JSON 502 still becomes a TransientError."""
    error = map_error(_answer(502, b"<html>bad gateway</html>"))
    assert isinstance(error, TransientError)
    assert "bad gateway" in str(error)
    html = map_error(_answer(400, b"<html><body>Bad request</body></html>"))
    assert isinstance(html, PortalBugError)
    assert "\n" not in str(html)
    assert "Bad request" in str(html)


async def test_sandbox_validation_errors_reach_canonical_paths(
    sandbox: HemnetSandbox, driver: Driver
) -> None:
    """A listing the sandbox refuses raises PortalValidationError on canonical paths (a body
    that the offline rules would have stopped, sent anyway)."""
    listing = make_listing()
    desired = driver.desired(listing)
    fields = {**desired.fields, "urls": {"brokerPage": "http://localhost/obj"}}
    create = Operation(kind=OpKind.CREATE, payload=fields, refs=dict(desired.refs))
    with pytest.raises(PortalValidationError) as info:
        await driver.apply(create, desired, listing)
    assert [(i.path, i.portal_field) for i in info.value.issues] == [
        ("links.broker_page", "urls.brokerPage")
    ]
    assert info.value.request_id
    assert sandbox.listings() == []


async def test_transition_error_for_an_illegal_state_change(
    sandbox: HemnetSandbox, driver: Driver
) -> None:
    """Publishing a sold listing long after the sale is a ConflictError from the sandbox."""
    sale = {"price": {"amount": "1", "currency": "SEK"}, "date": "2027-01-20"}
    await driver.sync(make_listing(status="sold", sale=sale))
    listing_id = driver.remote_id
    assert listing_id is not None
    sandbox.republish_window = 0
    with pytest.raises(ConflictError):
        await driver.adapter.client.publish(listing_id)
