"""BooliSandbox: a stateful fake of Booli API v2, as Booli's API guide (in Swedish) describes it.

It serves a deterministic dataset (`listings` for-sale objects and `sold` sold objects, drawn
from `seed`) on `/listings`, `/sold`, `/areas`, `/listings/{id}` and `/sold/{id}`, and enforces
the documented rules, answering errors in plain text as Booli does:

- 405 for any method but GET; 406 unless `Accept` asks for `application/json` or
  `application/vnd.booli-v2+json`;
- 403 when a signature parameter is missing, the caller is unknown, `time` is more than
  `max_skew` seconds off the sandbox clock, the hash does not match, or a `unique` is reused;
- 400 without a location parameter, or with `limit` outside 1-500;
- 404 for an unknown object.

The `FAILURE_...` codes for time, hash and reuse are the sandbox's own (Booli documents only
the status code). `resize_after()` changes the result set between pages for pagination tests;
`overstate_total` makes `totalCount` claim more objects than exist (the last page comes back
empty).
"""

from __future__ import annotations

import hmac
import random
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from typing_extensions import override

from listsync.sandbox import FaultConfig, Sandbox, plain_text
from listsync_booli._dataset import MUNICIPALITIES, area_record, make_object
from listsync_booli._filters import FilterError, matches
from listsync_booli.auth import sign
from listsync_booli.settings import MAX_LIMIT

__all__ = ["BooliSandbox"]

_ACCEPTED = ("application/vnd.booli-v2+json", "application/json")
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_MISSING_PARAM = (
    "FAILURE_MISSING_PARAM - Parameter missing. Request must contain callerId, unique, time "
    "and hash."
)
_FAULT_TEXT = {
    429: "FAILURE_QUOTA_EXCEEDED - Too many requests, slow down.",
    500: "FAILURE_INTERNAL_ERROR - Something went wrong at Booli.",
    502: "FAILURE_BAD_GATEWAY - Upstream error.",
    503: "FAILURE_SERVICE_UNAVAILABLE - The API is temporarily unavailable.",
}


@dataclass
class _Caller:
    caller_id: str
    key: str
    seen: set[str]


@dataclass
class _Resize:
    after: int
    delta: int
    where: Literal["start", "end"]
    kind: Literal["listings", "sold"]


class BooliSandbox(Sandbox):
    """A fake Booli.

    Args:
        faults: shared fault injection (answers in Booli's plain-text error format).
        clock: unix seconds; `time` parameters are checked against it.
        listings: number of for-sale objects.
        sold: number of sold objects.
        seed: dataset seed.
        callers: account names to register (each gets a caller id and a random key).
        max_skew: the largest accepted difference between `time` and the clock, in seconds.
        overstate_total: added to every search's `totalCount`.
    """

    name: ClassVar[str] = "booli"

    def __init__(
        self,
        faults: FaultConfig | None = None,
        clock: Callable[[], float] = time.time,
        *,
        listings: int = 2000,
        sold: int = 1000,
        seed: int = 7,
        callers: Iterable[str] = ("default",),
        max_skew: float = 300.0,
        overstate_total: int = 0,
    ) -> None:
        self.max_skew = max_skew
        self.overstate_total = overstate_total
        self._callers: dict[str, _Caller] = {}
        self._accounts: dict[str, str] = {}  # account name -> caller id
        for account in callers:
            self.add_account(account)
        self._data_rng = random.Random(seed)
        self._next_id = 5_000_000
        self.data: dict[str, list[dict[str, Any]]] = {
            "listings": [self._new_object(i, sold=False) for i in range(listings)],
            "sold": [self._new_object(i, sold=True) for i in range(sold)],
        }
        self.added_ids: list[int] = []
        self.removed_ids: list[int] = []
        self.pages_served = 0
        self._resizes: list[_Resize] = []
        super().__init__(faults=faults, clock=clock)

    def _new_object(self, index: int, *, sold: bool) -> dict[str, Any]:
        self._next_id += 1 + self._data_rng.randrange(40)
        return make_object(self._data_rng, self._next_id, index, sold=sold)

    # -- accounts ------------------------------------------------------------------------
    def add_account(self, name: str) -> dict[str, str]:
        """Register a caller for account `name`; returns its `caller_id` and `api_key`."""
        caller = _Caller(f"listsync-{name}", secrets.token_hex(20), set())
        self._register(name, caller)
        return {"caller_id": caller.caller_id, "api_key": caller.key}

    def _register(self, account: str, caller: _Caller) -> None:
        old = self._accounts.get(account)
        if old is not None:
            self._callers.pop(old, None)
        self._callers[caller.caller_id] = caller
        self._accounts[account] = caller.caller_id

    def _caller_for(self, account: str) -> _Caller:
        try:
            return self._callers[self._accounts[account]]
        except KeyError:
            raise KeyError(f"no sandbox account {account!r}; call add_account() first") from None

    @override
    def dump_credentials(self, account: str) -> dict[str, str]:
        """`{"caller_id", "api_key"}` of the account (registered with a random key if new)."""
        if account not in self._accounts:
            return self.add_account(account)
        caller = self._caller_for(account)
        return {"caller_id": caller.caller_id, "api_key": caller.key}

    @override
    def load_credentials(self, account: str, values: dict[str, str]) -> None:
        """Make `values` (`caller_id`, `api_key`) the account's only caller from now on."""
        caller_id, key = values.get("caller_id"), values.get("api_key")
        if not isinstance(caller_id, str) or not caller_id.strip():
            raise ValueError("caller_id must be a non-empty string")
        if not isinstance(key, str) or not key.strip():
            raise ValueError("api_key must be a non-empty string")
        owner = next((a for a, c in self._accounts.items() if c == caller_id), account)
        if owner != account:
            raise ValueError("the caller_id belongs to another account")
        self._register(account, _Caller(caller_id, key, set()))

    @override
    def client_settings(self, base_url: str, account: str = "default") -> dict[str, Any]:
        caller = self._caller_for(account)
        return {
            "base_url": base_url,
            "caller_id": caller.caller_id,
            "api_key": caller.key,
            "referer": "https://listsync.example/sandbox",
        }

    @override
    def principal(self, request: Request) -> str | None:
        return request.query_params.get("callerId")

    # -- dataset helpers for tests ---------------------------------------------------------
    def resize_after(
        self,
        pages: int,
        delta: int,
        *,
        where: Literal["start", "end"] = "start",
        sold: bool = False,
    ) -> None:
        """After `pages` search pages were served, add (`delta` > 0) or remove objects."""
        self._resizes.append(_Resize(pages, delta, where, "sold" if sold else "listings"))

    def _apply_resizes(self) -> None:
        due = [r for r in self._resizes if r.after <= self.pages_served]
        self._resizes = [r for r in self._resizes if r.after > self.pages_served]
        for resize in due:
            if resize.delta > 0:
                self.add_objects(resize.delta, where=resize.where, sold=resize.kind == "sold")
            else:
                self.remove_objects(-resize.delta, where=resize.where, sold=resize.kind == "sold")

    def add_objects(
        self, count: int, *, where: Literal["start", "end"] = "start", sold: bool = False
    ) -> list[int]:
        """Add `count` new objects at the start (newest first) or end; returns their ids."""
        new = [self._new_object(0, sold=sold) for _ in range(count)]
        objects = self.data["sold" if sold else "listings"]
        if where == "start":
            objects[:0] = new
        else:
            objects.extend(new)
        ids = [o["booliId"] for o in new]
        self.added_ids += ids
        return ids

    def remove_objects(
        self, count: int, *, where: Literal["start", "end"] = "start", sold: bool = False
    ) -> list[int]:
        """Remove up to `count` objects from the start or end; returns their ids."""
        objects = self.data["sold" if sold else "listings"]
        count = min(count, len(objects))
        start = 0 if where == "start" else len(objects) - count
        ids = [o["booliId"] for o in objects[start : start + count]]
        del objects[start : start + count]
        self.removed_ids += ids
        return ids

    def matching(self, params: Mapping[str, str], *, sold: bool = False) -> list[dict[str, Any]]:
        """The objects a search with `params` returns, in order (raises on bad filters)."""
        return [o for o in self.data["sold" if sold else "listings"] if matches(o, params)]

    def ids(self, *, sold: bool = False) -> set[int]:
        """The booliIds currently in the dataset."""
        return {o["booliId"] for o in self.data["sold" if sold else "listings"]}

    # -- HTTP ----------------------------------------------------------------------------
    @override
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/listings", self._search_listings, methods=_ALL_METHODS),
            Route("/sold", self._search_sold, methods=_ALL_METHODS),
            Route("/areas", self._areas, methods=_ALL_METHODS),
            Route("/listings/{booli_id}", self._one_listing, methods=_ALL_METHODS),
            Route("/sold/{booli_id}", self._one_sold, methods=_ALL_METHODS),
        ]

    @override
    def fault_response(self, status: int, headers: Mapping[str, str]) -> Response:
        text = _FAULT_TEXT.get(status, f"FAILURE_HTTP_{status} - Injected fault.")
        return plain_text(status, text, headers)

    def _guard(self, request: Request) -> Response | None:
        """Method, Accept and signature checks shared by every endpoint."""
        if request.method != "GET":
            return plain_text(405, "FAILURE_METHOD_NOT_ALLOWED - Only GET.", {"Allow": "GET"})
        accept = request.headers.get("accept", "")
        if not any(kind in accept for kind in _ACCEPTED):
            return plain_text(
                406, "FAILURE_NOT_ACCEPTABLE - Accept must be application/vnd.booli-v2+json."
            )
        return self._check_signature(request.query_params)

    def _check_signature(self, query: Mapping[str, str]) -> Response | None:
        problem = self._signature_problem(query)
        return None if problem is None else plain_text(403, problem)

    def _signature_problem(self, query: Mapping[str, str]) -> str | None:
        caller_id, stamp, unique, digest = (
            query.get(name, "") for name in ("callerId", "time", "unique", "hash")
        )
        if not (caller_id and stamp and unique and digest):
            return _MISSING_PARAM
        caller = self._callers.get(caller_id)
        if caller is None:
            return "FAILURE_IDENTITY_NOT_FOUND - Unknown callerId."
        fresh = stamp.isdigit() and abs(self.clock() - int(stamp)) <= self.max_skew
        expected = sign(caller_id, stamp, caller.key, unique)
        checks = (
            (fresh, "FAILURE_TIME_OUT_OF_RANGE - time is too far from now."),
            (len(unique) == 16, "FAILURE_INVALID_UNIQUE - unique must be 16 characters."),
            (hmac.compare_digest(expected, digest.lower()), "FAILURE_INVALID_HASH - Bad hash."),
            (unique not in caller.seen, "FAILURE_UNIQUE_REUSED - unique was already used."),
        )
        for passed, message in checks:
            if not passed:
                return message
        caller.seen.add(unique)
        return None

    async def _search_listings(self, request: Request) -> Response:
        return self._search(request, "listings")

    async def _search_sold(self, request: Request) -> Response:
        return self._search(request, "sold")

    def _search(self, request: Request, kind: Literal["listings", "sold"]) -> Response:
        refused = self._guard(request)
        if refused is not None:
            return refused
        params = _public(request.query_params)
        try:
            limit = int(params.get("limit", "25"))
            offset = int(params.get("offset", "0"))
        except ValueError:
            return plain_text(400, "FAILURE_INVALID_PARAM - limit and offset must be integers.")
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            return plain_text(400, f"FAILURE_INVALID_PARAM - limit must be 1-{MAX_LIMIT}.")
        self._apply_resizes()
        try:
            found = self.matching(params, sold=kind == "sold")
        except FilterError as exc:
            return plain_text(400, str(exc))
        page = found[offset : offset + limit]
        self.pages_served += 1
        body = {
            "totalCount": len(found) + self.overstate_total,
            "count": len(page),
            "limit": limit,
            "offset": offset,
            "searchParams": params,
            kind: page,
        }
        return JSONResponse(body)

    async def _one_listing(self, request: Request) -> Response:
        return self._one(request, "listings")

    async def _one_sold(self, request: Request) -> Response:
        return self._one(request, "sold")

    def _one(self, request: Request, kind: Literal["listings", "sold"]) -> Response:
        refused = self._guard(request)
        if refused is not None:
            return refused
        wanted = request.path_params["booli_id"]
        for obj in self.data[kind]:
            if str(obj["booliId"]) == wanted:
                one = {**obj, "pageviews": 100 + obj["booliId"] % 900}
                return JSONResponse({"totalCount": 1, "count": 1, kind: [one]})
        return plain_text(404, "FAILURE_NOT_FOUND - No object with that booliId.")

    async def _areas(self, request: Request) -> Response:
        refused = self._guard(request)
        if refused is not None:
            return refused
        q = request.query_params.get("q", "").strip().lower()
        if not q:
            return plain_text(400, "FAILURE_MISSING_PARAM - Parameter missing: q.")
        found = [area_record(m) for m in MUNICIPALITIES if q in f"{m[0]} {m[1]} {m[2]}".lower()]
        return JSONResponse({"totalCount": len(found), "count": len(found), "areas": found})


def _public(query: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in query.items() if k not in {"callerId", "time", "unique", "hash"}}
