"""problem+json -> error tree, the payload mapping and the pointer -> canonical path map."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from listsync.adapter import Response
from listsync.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PortalBugError,
    PortalValidationError,
    RateLimitedError,
    TransientError,
)
from listsync.registry import ADAPTER_GROUP, SANDBOX_GROUP, Registry
from listsync.sandbox import FaultConfig
from listsync.testing import Driver
from listsync_immowelt import ImmoweltAdapter
from listsync_immowelt.errors import map_error
from listsync_immowelt.mapping import canonical_path, from_immowelt_payload
from listsync_immowelt.sandbox import ImmoweltSandbox

from .conftest import AdapterFactory, build_adapter, make_listing, payload_of, sync, with_media

PROBLEM = "application/problem+json"


def _response(
    status: int,
    body: dict[str, Any] | bytes,
    headers: dict[str, str] | None = None,
    *,
    request_id: str | None = None,
) -> Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(
        status,
        httpx.Headers({"Content-Type": PROBLEM, **(headers or {})}),
        content,
        portal="immowelt",
        request_id=request_id,
        method="POST",
        path="/v1/listings",
    )


def test_validation_problem_maps_pointers_to_canonical_paths() -> None:
    """A 400 problem document becomes PortalValidationError with canonical paths, the
    portal's pointers and `instance` as request id."""
    body = {
        "type": "x#section/Errors/Validation-Error",
        "title": "Bad request",
        "detail": "Your request has not been validated",
        "instance": "00-abc-def-00",
        "errors": [
            {"name": "/data/location/postalcode", "reason": "must match pattern"},
            {"name": "/data/estateSubTypes/trading", "reason": "must be equal to one of"},
            {"name": "/media/2/externalMediaId", "reason": "unknown"},
        ],
        "errorSource": "body",
        "status": 400,
        "extraMember": True,
    }
    error = map_error(_response(400, body))
    assert isinstance(error, PortalValidationError)
    assert error.request_id == "00-abc-def-00"
    assert "00-abc-def-00" in str(error)
    assert [(i.path, i.portal_field) for i in error.issues] == [
        ("address.postal_code", "/data/location/postalcode"),
        ("subcategory", "/data/estateSubTypes/trading"),
        ("media[2]", "/media/2/externalMediaId"),
    ]


@pytest.mark.parametrize(
    ("status", "headers", "detail", "kind"),
    [
        (
            403,
            {"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="clim:medias:create"'},
            "",
            PermissionDeniedError,
        ),
        (403, {}, "the token lacks the scope clim:listings:delete", PermissionDeniedError),
        (404, {}, "not found", NotFoundError),
        (409, {}, "exists", ConflictError),
        (429, {"Retry-After": "7"}, "slow down", RateLimitedError),
        (503, {}, "down", TransientError),
    ],
)
def test_status_codes_map_to_the_error_tree(
    status: int, headers: dict[str, str], detail: str, kind: type[Exception]
) -> None:
    """Each documented status lands on its error class; 403 names the scope, 429 its wait."""
    error = map_error(
        _response(status, {"title": "t", "detail": detail, "instance": "i-1"}, headers)
    )
    assert type(error) is kind
    assert error.request_id == "i-1"
    if isinstance(error, PermissionDeniedError):
        assert error.scope in {"clim:medias:create", "clim:listings:delete"}
    if isinstance(error, RateLimitedError):
        assert error.retry_after == 7


async def test_injected_faults_are_problem_json_and_retried(
    make_adapter: AdapterFactory, sandbox: ImmoweltSandbox
) -> None:
    """Sandbox 429s come as problem+json with Retry-After; once retries run out the caller
    gets RateLimitedError."""
    adapter = make_adapter(max_attempts=2)
    await adapter.check()
    sandbox.set_faults(FaultConfig(rate_limit_rate=1.0, retry_after=0, exclude_paths=("/oauth",)))
    with pytest.raises(RateLimitedError) as limited:
        await adapter.fetch("DE-1001", None)
    assert limited.value.request_id
    faults = [r for r in sandbox.requests if r.fault == "rate_limit"]
    assert len(faults) == 2


def test_payload_mapping(adapter: ImmoweltAdapter) -> None:
    """Coordinates are GeoJSON [lon, lat], the country alpha-3, numbers JSON numbers, source
    fields from listing, settings and account; Hemnet codes in subcategory are ignored."""
    payload = payload_of(adapter, make_listing(subcategory="602"))
    data = payload["data"]
    assert data["location"]["geometry"] == {"type": "Point", "coordinates": [13.3849, 52.5311]}
    assert data["location"]["country"] == "DEU"
    assert data["estateType"] == "APARTMENT"
    assert "estateSubTypes" not in data
    assert (data["distributionType"], data["distributionSubType"]) == ("BUY", "RESALE")
    assert data["spaces"]["residential"]["livingSpace"] == 82.5
    assert data["structure"]["rooms"]["numberOfRooms"] == 3
    assert payload["metadata"]["source"] == {
        "externalId": "DE-1001",
        "offererEstateId": "DE-1001",
        "offererMarketingKey": "OBJ-1001",
        "softwareName": "listsync",
        "externalCustomerId": "customer-default",
    }
    assert payload["contact"]["emailAddress"] == "erika.mustermann@makler-berlin.de"


def _empty_members(node: Any, pointer: str = "") -> list[str]:
    if isinstance(node, dict):
        here = [pointer] if not node else []
        return here + [p for k, v in node.items() for p in _empty_members(v, f"{pointer}/{k}")]
    if isinstance(node, list):
        here = [pointer] if not node else []
        return here + [p for i, v in enumerate(node) for p in _empty_members(v, f"{pointer}/{i}")]
    return [pointer] if node is None else []


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"agent": None, "agency": {"email": None, "phone": None}},
        {
            "asking_price": None,
            "brokerage_fee": {"has_fee": False, "percent": None, "note": ""},
            "living_area": None,
            "rooms": None,
            "bedrooms": None,
            "bathrooms": None,
            "available_from": None,
            "construction_year": None,
            "headline": None,
            "description": None,
            "address": {"house_number": None},
            "coordinates": None,
            "floor": None,
        },
    ],
)
def test_payload_leaves_out_what_is_missing(
    adapter: ImmoweltAdapter, overrides: dict[str, Any]
) -> None:
    """No member of the payload is null or an empty object, at any depth (an object whose
    members are all missing goes too); empty strings and false stay; `media` comes last and
    is there even when empty."""
    listing = make_listing(**overrides, media=[])
    payload = payload_of(adapter, listing)
    assert _empty_members(payload) == ["/media"]
    assert list(payload)[-1] == "media"
    assert payload["data"]["location"]["houseNumber"] == (listing.address.house_number or "")
    fee = listing.brokerage_fee
    assert fee is not None
    sent_fee = payload["data"]["prices"]["brokerageFee"]
    assert (sent_fee["hasFee"], sent_fee["priceNote"]) == (fee.has_fee, fee.note)


def test_extensions_merge_and_point_back(adapter: ImmoweltAdapter) -> None:
    """`extensions.immowelt` is deep-merged into the payload, and pointers into it map to the
    extension path while other pointers keep their canonical field."""
    listing = make_listing(extensions={"immowelt": {"data": {"features": {"furnished": True}}}})
    payload = payload_of(adapter, listing)
    assert payload["data"]["features"] == {"furnished": True}
    assert payload["data"]["estateType"] == "APARTMENT"
    assert canonical_path("/data/features/furnished", listing) == (
        "extensions.immowelt.data.features.furnished"
    )
    assert canonical_path("/data/prices/buy/amount", listing) == "asking_price.amount"
    assert canonical_path("/data/texts/headline/de", listing) == "headline.de"
    assert canonical_path("/nonsense") == "<listing>"


def test_non_euro_amounts_are_flagged(adapter: ImmoweltAdapter) -> None:
    """Immowelt takes EUR: a SEK price is an error of `prepare` on its currency."""
    ready = adapter.prepare(make_listing(asking_price={"currency": "SEK"}))
    assert [(i.path, i.rule) for i in ready.issues] == [("asking_price.currency", "currency")]
    assert ready.blocked


def test_reverse_mapping_round_trips_the_main_fields(adapter: ImmoweltAdapter) -> None:
    """Reading a payload back restores the listing's identity, category, address and figures."""
    listing = make_listing(subcategory="PENTHOUSE")
    back = from_immowelt_payload(payload_of(adapter, listing))
    assert back["external_ref"] == "DE-1001"
    assert back["category"] == listing.category
    assert back["subcategory"] == "PENTHOUSE"
    assert back["address"]["country"] == "DE"
    assert back["asking_price"]["amount"] == 450000
    assert back["description"] == {"de": listing.description["de"]}


def test_entry_points_match_names() -> None:
    """The `immowelt` entry points load the adapter and the sandbox, whose names match."""
    assert Registry(ADAPTER_GROUP).get("immowelt") is ImmoweltAdapter
    assert ImmoweltAdapter.name == "immowelt"
    assert Registry(SANDBOX_GROUP).get("immowelt") is ImmoweltSandbox
    assert ImmoweltSandbox.name == "immowelt"


async def test_sandbox_serves_over_loopback() -> None:
    """`ImmoweltSandbox().serve()` answers a real round trip on 127.0.0.1: token, create, read."""
    sandbox = ImmoweltSandbox()
    with sandbox.serve() as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        adapter = build_adapter(sandbox, sandbox.clock, base_url=base_url, in_process=False)
        try:
            results = await sync(Driver(adapter), make_listing())
            record = await adapter.fetch("DE-1001", None)
        finally:
            await adapter.aclose()
    assert [r.remote_id for r in results] == ["DE-1001"]
    assert record is not None
    assert sandbox.token_requests == 1


def test_prepare_builds_each_listing_s_own_projection(adapter: ImmoweltAdapter) -> None:
    """`prepare` keeps nothing between calls: each answer is its own listing's, two answers
    for one listing are equal without sharing a payload, and a blocked listing has issues and
    no projection."""
    first = make_listing()
    second = make_listing(external_ref="DE-2002", media=[{"url": "https://img.example.de/9.jpg"}])
    adapter.prepare(first)
    projected = adapter.prepare(second).projection
    assert projected is not None
    assert projected.fields["metadata"]["source"]["externalId"] == "DE-2002"
    assert [m.payload["fileName"] for m in projected.media] == ["9.jpg"]
    once, again = adapter.prepare(first).projection, adapter.prepare(first).projection
    assert once is not None
    assert again is not None
    assert once == again
    assert once.fields["data"] is not again.fields["data"]
    blocked = adapter.prepare(make_listing(agent={"phone": "(030) 1"}))
    assert blocked.projection is None
    assert [(i.path, i.rule) for i in blocked.issues] == [("agent.phone", "rule-03")]


@pytest.mark.parametrize(
    ("status", "body", "kind", "said"),
    [
        (400, b"<html><body>Bad Request</body></html>", PortalBugError, "Bad Request</body>"),
        (422, b"", PortalBugError, "empty body"),
        (400, b"[1, 2]", PortalBugError, "[1, 2]"),
        (400, b'{"errors": [{"na', PortalBugError, '{"errors"'),
        (502, b"<html>Bad Gateway</html>", TransientError, "Bad Gateway"),
        (404, b"<html>nope</html>", NotFoundError, "nope"),
        (429, b"slow down", RateLimitedError, "slow down"),
    ],
)
def test_answers_without_a_problem_document_are_mapped_by_status(
    status: int, body: bytes, kind: type[Exception], said: str
) -> None:
    """HTML, an empty, truncated or non-object body is mapped by its status with an excerpt
    and the header's request id: a 400/422 without a problem document is a PortalBugError
    (it names no field), never a JSONDecodeError nor a validation error without issues."""
    error = map_error(_response(status, body, request_id="req-9"))
    assert type(error) is kind
    assert said in str(error)
    assert error.request_id == "req-9"
    assert error.status_code == status


def test_problem_members_of_the_wrong_type_do_not_break_the_mapping() -> None:
    """`errors` that is not a list, entries that are not objects and an `instance` that is
    not a string are ignored; the header's request id stands in."""
    body = {"title": "Bad request", "instance": 7, "errors": {"name": "/data"}}
    error = map_error(_response(400, body, request_id="req-1"))
    assert isinstance(error, PortalValidationError)
    assert error.issues == ()
    assert error.request_id == "req-1"
    listed = map_error(_response(400, {"errors": ["x", {"name": "/data/estateType"}]}))
    assert isinstance(listed, PortalValidationError)
    assert [i.path for i in listed.issues] == ["category"]


class _Hostile(httpx.AsyncBaseTransport):
    """The sandbox, except that answers to `method path` are replaced by `answer`."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, method: str, path: str, answer: httpx.Response
    ) -> None:
        self.inner, self.method, self.path, self.answer = inner, method, path, answer

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if (request.method, request.url.path) == (self.method, self.path):
            await response.aread()
            return httpx.Response(
                self.answer.status_code,
                headers={**self.answer.headers, "x-request-id": "hostile-1"},
                content=self.answer.content,
            )
        return response


_HTML = httpx.Response(200, text="<html><body>Wartung</body></html>")


async def _exercise(adapter: ImmoweltAdapter, method: str, path: str) -> None:
    """Make the adapter send `method path`."""
    if (method, path) == ("GET", "/v1/listings"):
        async for _ in adapter.records():
            pass
    elif method == "GET":
        await Driver(adapter).sync(make_listing())
        await adapter.fetch("DE-1001", None)
    else:
        await Driver(adapter).sync(with_media(make_listing(), "a.jpg"))


@pytest.mark.parametrize(
    ("request_line", "answer", "said"),
    [
        ("POST /v1/listings", _HTML, "not JSON"),
        ("POST /v1/listings", httpx.Response(202, json=["ok"]), "JSON list"),
        ("POST /v1/medias", httpx.Response(201, json={"url": "x"}), "'presignedURL'"),
        ("POST /v1/medias", httpx.Response(201, json={"presignedURL": 5}), "'presignedURL'"),
        ("GET /v1/listings/DE-1001", _HTML, "not JSON"),
        ("GET /v1/listings/DE-1001", httpx.Response(200, json={"listing": 3}), "no listing"),
        ("GET /v1/listings", httpx.Response(200, json={"externalListingIds": 3}), "list"),
        ("GET /v1/listings", httpx.Response(200, content=b'{"external'), "not JSON"),
    ],
)
async def test_hostile_answers_are_portal_bugs_with_the_request_id(
    make_adapter: AdapterFactory,
    sandbox: ImmoweltSandbox,
    request_line: str,
    answer: httpx.Response,
    said: str,
) -> None:
    """A success answer of the wrong shape (HTML, a truncated body, JSON of another type, a
    member missing or of the wrong type) fails with a one-line PortalBugError naming the
    portal, the request, the status, the request id (the `x-request-id` header) and what was
    wrong: no JSONDecodeError, KeyError or ValueError escapes the adapter."""
    method, path = request_line.split()
    adapter = make_adapter(transport=_Hostile(sandbox.transport(), method, path, answer))
    with pytest.raises(PortalBugError) as bad:
        await _exercise(adapter, method, path)
    message = str(bad.value)
    assert said in message
    assert f"{method} {path.removeprefix('/v1')}: {answer.status_code}" in message
    assert bad.value.request_id == "hostile-1"
    assert bad.value.portal == "immowelt"
    assert "\n" not in message
