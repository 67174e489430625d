"""`HemnetSandbox`: a stateful in-memory fake of Hemnet's BrokerAPI (an ASGI app).

It serves the routes of `client.ROUTES` (the wire contract listsync assumes) and enforces, from
the server side, what Hemnet's guides document: bearer keys that expire and can be revoked (401
in Hemnet's error format), keys managed over `/keys`, validation errors as `{"errors": [{"type":
"ValidationError", "field": "<dot.path>", ...}]}` (422), PATCH where null unsets and absent
leaves alone, images moving from `in_progress` to `completed` (or `failed`, with a
`stateMessage` on the single-image GET) after `image_processing_seconds` of sandbox time,
publishing refused without a completed image, approval automatic or through `approve()`,
`isVisible` only when published and approved, a sale that unpublishes, housing-form codes the
sandbox "removed" read back as their series base, and list endpoints with `limit`/`offset` and
an `externalId` filter. Every account sees only its own records.

Options (`HemnetSandbox(faults=None, clock=time.time, **options)`): `accounts` (names created up
front besides `default`), `auto_approve`, `key_lifetime_days`, `image_processing_seconds`,
`removed_housing_forms`, `republish_window_days`.

Test hooks for what happens behind listsync's back: `seed_listing` (a record made by another
system), `remove_listing`, `edit_listing` (a broker's change in Hemnet's UI), `approve`,
`expire_key`, `revoke_key`. Fixed fake credentials: `HemnetSandbox.with_credentials(path)` (the
base class's file handling; `dump_credentials`/`load_credentials` here).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from typing_extensions import override

from listsync.adapter import TargetState
from listsync.model import Listing
from listsync.sandbox import FaultConfig, Sandbox
from listsync_hemnet import mapping
from listsync_hemnet._housing_forms import HousingForm
from listsync_hemnet._sandbox_state import (
    JSON,
    Account,
    Image,
    Key,
    ListingRecord,
    Problem,
    iso,
    new_id,
    publish_problems,
    validate_listing,
    validate_showing,
)
from listsync_hemnet.client import ROUTES

__all__ = ["HemnetSandbox"]

DAY = 86_400.0
Handler = Callable[[Request, Account, Key], Awaitable[tuple[int, JSON | None]]]


class HemnetSandbox(Sandbox):
    """The fake Hemnet. `principal()` is the key id of the bearer token."""

    name: ClassVar[str] = "hemnet"

    def __init__(
        self,
        *,
        faults: FaultConfig | None = None,
        clock: Callable[[], float] = time.time,
        accounts: Iterable[str] = (),
        auto_approve: bool = False,
        key_lifetime_days: float = 180.0,
        image_processing_seconds: float = 0.05,
        removed_housing_forms: Iterable[int] = (),
        republish_window_days: float = 182.0,
    ) -> None:
        self._state_lock = threading.RLock()
        self._accounts: dict[str, Account] = {}
        self._tokens: dict[str, tuple[Account, Key]] = {}
        self._listing_index: dict[str, Account] = {}
        self.auto_approve = auto_approve
        self.key_lifetime = key_lifetime_days * DAY
        self.image_processing = image_processing_seconds
        self.removed_housing_forms = frozenset(removed_housing_forms)
        self.republish_window = republish_window_days * DAY
        super().__init__(faults=faults, clock=clock)
        for account in ("default", *accounts):
            self.add_account(account)

    # -- test helpers ----------------------------------------------------------------------
    def add_account(self, name: str) -> dict[str, str]:
        """Create an account with one key; returns `{"account", "token", "key_id"}`."""
        with self._state_lock:
            account = self._accounts.setdefault(name, Account(name))
            key = account.current_key() if account.keys else self._new_key(account, "portal", {})
            return {"account": name, "token": key.token, "key_id": key.id}

    @override
    def dump_credentials(self, account: str) -> dict[str, str]:
        """`{"token", "key_id"}` of the account's current key (the account made if needed)."""
        creds = self.add_account(account)
        return {"token": creds["token"], "key_id": creds["key_id"]}

    @override
    def load_credentials(self, account: str, values: dict[str, str]) -> None:
        """Make `values` (`token`, `key_id`) the account's only key, valid for
        `key_lifetime_days` from now; the account's earlier keys stop working."""
        token, key_id = values.get("token"), values.get("key_id")
        if not isinstance(token, str) or not token.strip():
            raise ValueError("token must be a non-empty string")
        if not isinstance(key_id, str) or not key_id.strip():
            raise ValueError("key_id must be a non-empty string")
        with self._state_lock:
            held = self._tokens.get(token)
            if held is not None and held[0].name != account:
                raise ValueError("the token belongs to another account")
            found = self._accounts.setdefault(account, Account(account))
            for old in found.keys.values():
                self._tokens.pop(old.token, None)
            found.keys.clear()
            now = self.clock()
            key = Key(key_id, token, "portal", now, now + self.key_lifetime, {})
            found.keys[key_id] = key
            self._tokens[token] = (found, key)

    def expire_key(self, account: str = "default") -> None:
        """Make the account's current key expire now."""
        with self._state_lock:
            self._accounts[account].current_key().expires_at = self.clock() - 1

    def revoke_key(self, account: str = "default") -> None:
        with self._state_lock:
            self._accounts[account].current_key().revoked = True

    def approve(self, listing_id: str) -> None:
        """What the broker does in Kundportalen."""
        with self._state_lock:
            self._listing_index[listing_id].listings[listing_id].approved = True

    def listings(self, account: str | None = None) -> list[JSON]:
        """Every listing (of one account, or of all) as the API would show it."""
        with self._state_lock:
            accounts = [self._accounts[account]] if account else list(self._accounts.values())
            return [self._listing_view(r) for a in accounts for r in a.listings.values()]

    def inventory(self) -> Counter[str]:
        """Every listing, image and showing of every account, as a count per key: `ref`,
        `ref/images <url>`, `ref/showings <startAt>`. A duplicate counts more than once (tests
        compare runs with it)."""
        items: Counter[str] = Counter()
        with self._state_lock:
            for account in self._accounts.values():
                for record in account.listings.values():
                    ref = str(record.fields.get("externalId"))
                    items[ref] += 1
                    items.update(f"{ref}/images {i.url}" for i in record.images.values())
                    items.update(
                        f"{ref}/showings {s.get('startAt')}" for s in record.showings.values()
                    )
        return items

    def seed_listing(
        self,
        listing: Listing | Mapping[str, Any],
        *,
        account: str = "default",
        images: Iterable[str] = (),
        showings: Iterable[Mapping[str, Any]] = (),
        published: bool = False,
        sale: Mapping[str, Any] | None = None,
    ) -> str:
        """Create a listing behind listsync's back (as another system, e.g. Hemnet's SOAP API,
        would have); returns its id. Its images are processed already.

        `listing` is a canonical `Listing` (its body, agency, images, showings, publication and
        sale as `mapping.project` gives them; the keyword options are then ignored) or a raw
        Hemnet listing body (`externalId` required; without `brokerAgencyId` the account's
        agency `seeded` is used), validated as `POST /listings` validates.
        """
        with self._state_lock:
            found = self._accounts.get(account) or Account(account)
            self._accounts.setdefault(account, found)
            if isinstance(listing, Listing):
                projection = mapping.project(listing)
                body = dict(projection.fields)
                agency_body = projection.refs.get(mapping.AGENCY) or {"externalId": "seeded"}
                images = [str(item.payload["url"]) for item in projection.media]
                showings = [item.payload for item in projection.showings]
                published = projection.target is TargetState.PUBLISHED
                withdrawn = projection.target is TargetState.UNPUBLISHED
                sale = projection.sale if projection.target is TargetState.SOLD else None
            else:
                body = dict(listing)
                agency_body = {"externalId": "seeded"}
                withdrawn = False
            if "brokerAgencyId" not in body:
                body["brokerAgencyId"] = self._seed_agency(found, dict(agency_body))
            fields = validate_listing(body, partial=False, agencies=found.agencies)
            now = self.clock()
            record = ListingRecord(
                new_id("li"), {k: v for k, v in fields.items() if v is not None}, now
            )
            record.approved = self.auto_approve
            for index, url in enumerate(images):
                image = Image(new_id("im"), url, index, now - self.image_processing - 1)
                record.images[image.id] = image
            for given in showings:
                showing: JSON = {"endAt": None, "isAllDay": False, "description": None}
                showing |= validate_showing(dict(given), partial=False)
                showing_id = new_id("sh")
                record.showings[showing_id] = {**showing, "id": showing_id}
            record.published = published
            record.unpublished_at = now if withdrawn else None
            if sale is not None:
                today = dt.datetime.fromtimestamp(now, dt.UTC).date().isoformat()
                record.sale = {"soldAt": today, **dict(sale)}
                record.sold_at, record.published = now, False
            found.listings[record.id] = record
            self._listing_index[record.id] = found
            return record.id

    def remove_listing(self, external_ref: str, *, account: str | None = None) -> int:
        """Delete every listing with this `externalId` (of one account, or of all) behind
        listsync's back, images and showings included; returns how many there were."""
        with self._state_lock:
            removed = 0
            for found in self._scope(account):
                for record in list(found.listings.values()):
                    if record.fields.get("externalId") == external_ref:
                        del found.listings[record.id]
                        self._listing_index.pop(record.id, None)
                        removed += 1
            return removed

    def edit_listing(
        self, external_ref: str, changes: Mapping[str, Any], *, account: str | None = None
    ) -> int:
        """Change listing fields as a broker would in Hemnet's own UI (Hemnet field names, null
        unsets, validated as `PATCH /listings/{id}`); `isPublished` publishes or unpublishes
        without the API's checks. Returns how many listings were changed; `KeyError` when none
        has this `externalId`."""
        with self._state_lock:
            edits = dict(changes)
            publish = edits.pop("isPublished", None)
            records = [
                (found, record)
                for found in self._scope(account)
                for record in found.listings.values()
                if record.fields.get("externalId") == external_ref
            ]
            if not records:
                raise KeyError(external_ref)
            for found, record in records:
                for name, value in validate_listing(
                    edits, partial=True, agencies=found.agencies
                ).items():
                    if value is None:
                        record.fields.pop(name, None)
                    else:
                        record.fields[name] = value
                if publish is not None and bool(publish) != record.published:
                    record.published = bool(publish)
                    record.unpublished_at = None if publish else self.clock()
            return len(records)

    def _scope(self, account: str | None) -> list[Account]:
        if account is None:
            return list(self._accounts.values())
        return [self._accounts[account]] if account in self._accounts else []

    def _seed_agency(self, found: Account, body: JSON) -> str:
        external_id = body.get("externalId")
        for agency in found.agencies.values():
            if agency["externalId"] == external_id:
                return str(agency["id"])
        agency = {"name": str(external_id), **body, "id": new_id("ag")}
        found.agencies[agency["id"]] = agency
        return str(agency["id"])

    def key_views(self, account: str = "default") -> list[JSON]:
        """The account's keys as `GET /keys` shows them."""
        with self._state_lock:
            return [k.view(self.clock()) for k in self._accounts[account].keys.values()]

    # -- Sandbox contract ------------------------------------------------------------------
    @override
    def routes(self) -> list[BaseRoute]:
        handlers: dict[str, Handler] = {
            name: getattr(self, f"_{name}") for name in ROUTES if hasattr(self, f"_{name}")
        }
        missing = set(ROUTES) - set(handlers)
        if missing:  # pragma: no cover - guards the route table and the handlers drifting
            raise RuntimeError(f"no sandbox handler for {sorted(missing)}")
        return [
            Route(path, self._endpoint(handlers[name]), methods=[method])
            for name, (method, path) in ROUTES.items()
        ]

    @override
    def principal(self, request: Request) -> str | None:
        token = _bearer(request)
        found = self._tokens.get(token) if token else None
        return found[1].id if found else None

    @override
    def client_settings(self, base_url: str, account: str = "default") -> dict[str, Any]:
        """Adapter settings and credentials for `account`, polling images quickly."""
        creds = self.add_account(account)
        return {
            "base_url": base_url,
            "token": creds["token"],
            "key_id": creds["key_id"],
            "image_poll_interval": 0.01,
            "image_poll_max_interval": 0.05,
            "image_poll_timeout": 30.0,
        }

    @override
    def fault_response(self, status: int, headers: Mapping[str, str]) -> Response:
        body = {"errors": [{"type": "GenericError", "message": f"Injected fault ({status})"}]}
        return JSONResponse(body, status, {**headers, "X-Request-Id": uuid.uuid4().hex})

    # -- plumbing --------------------------------------------------------------------------
    def _new_key(self, account: Account, name: str, created_by: JSON) -> Key:
        key_id = new_id()
        now = self.clock()
        key = Key(key_id, f"{key_id}.{new_id()}", name, now, now + self.key_lifetime, created_by)
        account.keys[key_id] = key
        self._tokens[key.token] = (account, key)
        return key

    def _authenticate(self, request: Request) -> tuple[Account, Key]:
        token = _bearer(request)
        found = self._tokens.get(token) if token else None
        if found is None:
            raise _auth_problem("Missing or unknown authentication token")
        account, key = found
        if key.revoked:
            raise _auth_problem("The key has been revoked")
        if self.clock() >= key.expires_at:
            raise _auth_problem("The key has expired")
        key.last_used_at = self.clock()
        return account, key

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            headers = {"X-Request-Id": uuid.uuid4().hex}
            try:
                with self._state_lock:
                    account, key = self._authenticate(request)
                status, body = await handler(request, account, key)
            except Problem as problem:
                errors = {"errors": problem.errors}
                return JSONResponse(errors, problem.status, {**headers, **problem.headers})
            if body is None:
                return Response(status_code=status, headers=headers)
            return JSONResponse(body, status, headers)

        return endpoint

    def _record(self, account: Account, request: Request) -> ListingRecord:
        record = account.listings.get(request.path_params["listing_id"])
        if record is None:
            raise Problem.generic(404, "Listing not found")
        return record

    def _listing_view(self, record: ListingRecord) -> JSON:
        view = dict(record.fields)
        form = view.get("housingForm")
        if isinstance(form, int) and form in self.removed_housing_forms:
            view["housingForm"] = HousingForm(form).series
        visible = record.published and record.approved
        return {
            **view,
            "id": record.id,
            "isPublished": record.published,
            "isApproved": record.approved,
            "isVisible": visible,
            "approvalUrl": f"https://kundportalen.hemnet.invalid/listings/{record.id}/approve",
            "sale": record.sale,
            "unpublishedAt": iso(record.unpublished_at),
            "createdAt": iso(record.created_at),
        }

    def _image_view(self, image: Image, *, detail: bool) -> JSON:
        state, message = image.state(self.clock(), self.image_processing)
        view: JSON = {"id": image.id, "url": image.url, "index": image.index, "state": state}
        if detail:
            view["stateMessage"] = message
        return view

    # -- keys ------------------------------------------------------------------------------
    async def _list_keys(self, request: Request, account: Account, key: Key) -> tuple[int, JSON]:
        with self._state_lock:
            views = [k.view(self.clock()) for k in account.keys.values()]
        return 200, _page(request, "keys", views)

    async def _get_key(self, request: Request, account: Account, key: Key) -> tuple[int, JSON]:
        found = account.keys.get(request.path_params["key_id"])
        if found is None:
            raise Problem.generic(404, "Key not found")
        return 200, {"key": found.view(self.clock())}

    async def _create_key(self, request: Request, account: Account, key: Key) -> tuple[int, JSON]:
        body = await _json(request)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise Problem.validation([("name", "must be a non-empty string")])
        creator = {"type": "key", "name": key.name, "identifier": key.id}
        with self._state_lock:
            new = self._new_key(account, name, creator)
        return 201, {"authToken": new.token, "key": new.view(self.clock())}

    async def _delete_key(self, request: Request, account: Account, key: Key) -> tuple[int, None]:
        with self._state_lock:
            found = account.keys.get(request.path_params["key_id"])
            if found is None:
                raise Problem.generic(404, "Key not found")
            found.revoked = True
        return 204, None

    # -- agencies --------------------------------------------------------------------------
    async def _create_agency(
        self, request: Request, account: Account, key: Key
    ) -> tuple[int, JSON]:
        body = await _json(request)
        problems = [(n, "is required") for n in ("externalId", "name") if not body.get(n)]
        known = {"externalId", "name", "emailAddress", "visitingAddress"}
        problems += [(n, "is not a known field") for n in body if n not in known]
        with self._state_lock:
            taken = any(
                a["externalId"] == body.get("externalId") for a in account.agencies.values()
            )
            if taken:
                problems.append(("externalId", "is already taken"))
            if problems:
                raise Problem.validation(problems)
            agency = {**body, "id": new_id("ag")}
            account.agencies[agency["id"]] = agency
        return 201, {"brokerAgency": agency}

    async def _list_agencies(
        self, request: Request, account: Account, key: Key
    ) -> tuple[int, JSON]:
        wanted = request.query_params.get("externalId")
        items = [a for a in account.agencies.values() if wanted in (None, a["externalId"])]
        return 200, _page(request, "brokerAgencies", items)

    # -- listings --------------------------------------------------------------------------
    async def _create_listing(
        self, request: Request, account: Account, key: Key
    ) -> tuple[int, JSON]:
        body = await _json(request)
        with self._state_lock:
            fields = validate_listing(body, partial=False, agencies=account.agencies)
            record = ListingRecord(
                new_id("li"), {k: v for k, v in fields.items() if v is not None}, self.clock()
            )
            record.approved = self.auto_approve
            account.listings[record.id] = record
            self._listing_index[record.id] = account
            return 201, {"listing": self._listing_view(record)}

    async def _list_listings(
        self, request: Request, account: Account, key: Key
    ) -> tuple[int, JSON]:
        wanted = request.query_params.get("externalId")
        with self._state_lock:
            views = [
                self._listing_view(r)
                for r in account.listings.values()
                if wanted in (None, r.fields.get("externalId"))
            ]
        return 200, _page(request, "listings", views)

    async def _get_listing(self, request: Request, account: Account, key: Key) -> tuple[int, JSON]:
        with self._state_lock:
            return 200, {"listing": self._listing_view(self._record(account, request))}

    async def _update_listing(
        self, request: Request, account: Account, key: Key
    ) -> tuple[int, JSON]:
        body = await _json(request)
        with self._state_lock:
            record = self._record(account, request)
            changes = validate_listing(body, partial=True, agencies=account.agencies)
            for name, value in changes.items():
                if value is None:
                    record.fields.pop(name, None)
                else:
                    record.fields[name] = value
            return 200, {"listing": self._listing_view(record)}

    async def _publish(self, request: Request, account: Account, key: Key) -> tuple[int, JSON]:
        with self._state_lock:
            record = self._record(account, request)
            now = self.clock()
            if record.sale is not None:
                if record.sold_at is not None and now - record.sold_at > self.republish_window:
                    raise Problem.transition("A sale reported that long ago cannot be undone")
                record.sale, record.sold_at = None, None  # HCL010: republishing deletes the sale
            elif record.published:
                raise Problem.transition("Listing is already published")
            problems = publish_problems(record, now, self.image_processing)
            if problems:
                raise Problem.validation(problems)
            record.published, record.unpublished_at = True, None
            return 200, {"listing": self._listing_view(record)}

    async def _unpublish(self, request: Request, account: Account, key: Key) -> tuple[int, JSON]:
        with self._state_lock:
            record = self._record(account, request)
            if not record.published:
                raise Problem.transition("Listing is not published")
            record.published, record.unpublished_at = False, self.clock()
            return 200, {"listing": self._listing_view(record)}

    async def _mark_sold(self, request: Request, account: Account, key: Key) -> tuple[int, JSON]:
        body = await _json(request)
        problems = []
        price = body.get("price")
        if isinstance(price, bool) or not isinstance(price, int) or price < 0:
            problems.append(("price", "must be a non-negative integer"))
        if not isinstance(body.get("isPricePublic"), bool):
            problems.append(("isPricePublic", "must be true or false"))
        problems += [
            (n, "is not a known field")
            for n in body
            if n not in {"price", "isPricePublic", "soldAt"}
        ]
        if problems:
            raise Problem.validation(problems)
        with self._state_lock:
            record = self._record(account, request)
            if record.sale is not None:
                raise Problem.transition("Listing is already sold")
            today = dt.datetime.fromtimestamp(self.clock(), dt.UTC).date().isoformat()
            record.sale = {
                "price": price,
                "isPricePublic": body["isPricePublic"],
                "soldAt": body.get("soldAt") or today,
            }
            record.sold_at = self.clock()
            if record.published:  # a sale unpublishes
                record.published, record.unpublished_at = False, self.clock()
            return 200, {"listing": self._listing_view(record)}

    # -- images ----------------------------------------------------------------------------
    async def _create_image(self, request: Request, account: Account, key: Key) -> tuple[int, JSON]:
        body = await _json(request)
        problems = []
        url, index = body.get("url"), body.get("index")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            problems.append(("url", "is not a valid URL"))
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            problems.append(("index", "must be a non-negative integer"))
        if problems:
            raise Problem.validation(problems)
        with self._state_lock:
            record = self._record(account, request)
            image = Image(new_id("im"), str(url), int(str(index)), self.clock())
            record.images[image.id] = image
            return 201, {"image": self._image_view(image, detail=True)}

    async def _list_images(self, request: Request, account: Account, key: Key) -> tuple[int, JSON]:
        with self._state_lock:
            record = self._record(account, request)
            ordered = sorted(record.images.values(), key=lambda i: (i.index, i.created_at))
            views = [self._image_view(i, detail=False) for i in ordered]
        return 200, _page(request, "images", views)

    def _image(self, account: Account, request: Request) -> tuple[ListingRecord, Image]:
        record = self._record(account, request)
        image = record.images.get(request.path_params["image_id"])
        if image is None:
            raise Problem.generic(404, "Image not found")
        return record, image

    async def _get_image(self, request: Request, account: Account, key: Key) -> tuple[int, JSON]:
        with self._state_lock:
            _, image = self._image(account, request)
            return 200, {"image": self._image_view(image, detail=True)}

    async def _delete_image(self, request: Request, account: Account, key: Key) -> tuple[int, None]:
        with self._state_lock:
            record, image = self._image(account, request)
            del record.images[image.id]
        return 204, None

    # -- showings --------------------------------------------------------------------------
    def _showing(self, account: Account, request: Request) -> tuple[ListingRecord, JSON]:
        record = self._record(account, request)
        showing = record.showings.get(request.path_params["showing_id"])
        if showing is None:
            raise Problem.generic(404, "Showing not found")
        return record, showing

    async def _create_showing(
        self, request: Request, account: Account, key: Key
    ) -> tuple[int, JSON]:
        body = validate_showing(await _json(request), partial=False)
        with self._state_lock:
            record = self._record(account, request)
            showing = {"endAt": None, "isAllDay": False, "description": None, **body}
            _check_span(showing)
            showing["id"] = new_id("sh")
            record.showings[showing["id"]] = showing
            return 201, {"showing": dict(showing)}

    async def _list_showings(
        self, request: Request, account: Account, key: Key
    ) -> tuple[int, JSON]:
        with self._state_lock:
            record = self._record(account, request)
            views = [dict(s) for s in record.showings.values()]
        return 200, _page(request, "showings", views)

    async def _update_showing(
        self, request: Request, account: Account, key: Key
    ) -> tuple[int, JSON]:
        changes = validate_showing(await _json(request), partial=True)
        with self._state_lock:
            _, showing = self._showing(account, request)
            merged = {**showing, **changes}
            _check_span(merged)
            showing.update(changes)
            return 200, {"showing": dict(showing)}

    async def _delete_showing(
        self, request: Request, account: Account, key: Key
    ) -> tuple[int, None]:
        with self._state_lock:
            record, showing = self._showing(account, request)
            del record.showings[showing["id"]]
        return 204, None


def _check_span(showing: JSON) -> None:
    if showing.get("endAt") is None:
        return
    start = dt.datetime.fromisoformat(str(showing["startAt"]).replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(str(showing["endAt"]).replace("Z", "+00:00"))
    if end < start:
        raise Problem.validation([("endAt", "must not be before startAt")])


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _auth_problem(message: str) -> Problem:
    return Problem(401, [{"type": "AuthenticationError", "message": message}])


async def _json(request: Request) -> JSON:
    try:
        body = await request.json()
    except ValueError:
        raise Problem.generic(400, "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise Problem.generic(400, "The request body must be a JSON object")
    return body


def _page(request: Request, plural: str, items: list[JSON]) -> JSON:
    """One page of `items`: `limit` (default 20, at most 100) and `offset` query parameters."""
    try:
        limit = int(request.query_params.get("limit", 20))
        offset = int(request.query_params.get("offset", 0))
    except ValueError:
        raise Problem.validation([("limit", "must be an integer")]) from None
    if not 1 <= limit <= 100 or offset < 0:
        raise Problem.validation([("limit", "must be between 1 and 100")])
    return {plural: items[offset : offset + limit], "totalCount": len(items)}
