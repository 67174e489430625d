"""A stateful fake of the Immowelt listing import API v1 and its OAuth2 token endpoint.

Follows Immowelt's listing import API document: client credentials with a JSON token body
(`client_id, client_secret, grant_type, audience, scope`), tokens carrying only the requested
scopes and expiring on the sandbox clock (option `token_lifetime`); every endpoint checks its
scope (403 problem+json naming it); the 21 business rules enforced server side
(`_sandbox_rules`, written independently of `rules.py`); 202 answers for listing writes;
idempotent PUT; no `estateType` change on update; `POST /medias` with a presigned upload URL
valid 60 s (unattached media are dropped after 60 s); `GET /listings` paged with
`nextPageToken`; listings deleted 90 days after their last write; all state per client. Every
`/v1` answer carries an `x-request-id` header (inferred: the document names no header; it equals
a problem's `instance` and a 202's `requestId`).

Extra routes: `/oauth/token`, `/_upload/{id}` (the "S3" upload target) and
`/_mirror/{host}/{path}` (a CRM media mirror serving small deterministic JPEGs; 404 when the
path contains "missing").
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import secrets
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from listsync.sandbox import FaultConfig, Sandbox
from listsync_immowelt._sandbox_rules import validate_listing

__all__ = ["SANDBOX_AUDIENCE", "ImmoweltSandbox"]

SANDBOX_AUDIENCE = "https://api.aviv-group.com/sandbox/import-listings/v1"
_ALL_SCOPES = frozenset(
    {
        "clim:listings:*",
        "clim:medias:*",
        "clim:listings:create",
        "clim:listings:read",
        "clim:listings:update",
        "clim:listings:delete",
        "clim:medias:create",
    }
)
_PROBLEM = "application/problem+json"
_REQUEST_ID = "x-request-id"
_RETENTION = 90 * 24 * 3600
_MEDIA_WINDOW = 60.0


def _problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"https://api.aviv-group.com/docs#section/Errors/{title.replace(' ', '-')}",
        "title": title,
        "detail": detail,
        "instance": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00",
        "status": status,
        **extra,
    }
    return JSONResponse(body, status, {_REQUEST_ID: body["instance"]}, media_type=_PROBLEM)


def _answer(body: dict[str, Any], status: int = 200) -> JSONResponse:
    """A JSON answer of the API, with its request id (the body's `requestId` when it has one)."""
    request_id = str(body.get("requestId") or uuid.uuid4())
    return JSONResponse(body, status, {_REQUEST_ID: request_id})


@dataclass
class _Token:
    client_id: str
    scopes: frozenset[str]
    expires_at: float


@dataclass
class _Media:
    created_at: float
    uploaded: bool = False
    attached_to: set[str] = field(default_factory=set)


@dataclass
class _Stored:
    payload: dict[str, Any]
    listing_id: str
    written_at: float


@dataclass
class _Client:
    secret: str
    listings: dict[str, _Stored] = field(default_factory=dict)
    medias: dict[str, _Media] = field(default_factory=dict)
    purged_at: float = float("-inf")


# Expiry is checked at most once per second of sandbox time: scanning every stored listing and
# media on every request made the sandbox O(N) per request (10,000 listings: 1,063 s vs ~200 s).
_PURGE_EVERY = 1.0


class ImmoweltSandbox(Sandbox):
    """The Immowelt import API, in memory.

    Options:
        token_lifetime: seconds a token lives (the real one: 86400).
        page_size: ids per `GET /listings` page.
        clients: extra registered clients, `{client_id: client_secret}`.
    """

    name: ClassVar[str] = "immowelt"
    DEFAULT_CLIENT: ClassVar[str] = "listsync-sandbox"
    DEFAULT_SECRET: ClassVar[str] = "sandbox-client-secret"  # noqa: S105  (a sandbox fixture)

    def __init__(
        self,
        *,
        faults: FaultConfig | None = None,
        clock: Callable[[], float] | None = None,
        token_lifetime: float = 86400.0,
        page_size: int = 20,
        clients: Mapping[str, str] | None = None,
    ) -> None:
        self.token_lifetime = token_lifetime
        self.page_size = page_size
        self.token_requests = 0
        self._tokens: dict[str, _Token] = {}
        self._clients: dict[str, _Client] = {self.DEFAULT_CLIENT: _Client(self.DEFAULT_SECRET)}
        self._accounts: dict[str, str] = {"default": self.DEFAULT_CLIENT}
        self._uploads: dict[str, tuple[str, str, float]] = {}
        self.uploaded: dict[str, bytes] = {}
        for client_id, secret in (clients or {}).items():
            self._clients[client_id] = _Client(secret)
            self._accounts[client_id] = client_id
        kwargs: dict[str, Any] = {"faults": faults}
        if clock is not None:
            kwargs["clock"] = clock
        super().__init__(**kwargs)

    # -- accounts and helpers ------------------------------------------------------------------
    def add_account(self, name: str) -> dict[str, str]:
        """Register a new API client; returns its `client_id` and `client_secret`."""
        client_id = f"{name}-client"
        secret = secrets.token_urlsafe(24)
        self._clients[client_id] = _Client(secret)
        self._accounts[name] = client_id
        return {"client_id": client_id, "client_secret": secret}

    def dump_credentials(self, account: str) -> dict[str, str]:
        """`{"client_id", "client_secret"}` of the account (registered if new)."""
        if account not in self._accounts:
            return self.add_account(account)
        client_id = self._accounts[account]
        return {"client_id": client_id, "client_secret": self._clients[client_id].secret}

    def load_credentials(self, account: str, values: dict[str, str]) -> None:
        """Make `values` (`client_id`, `client_secret`) the account's only API client from now
        on; listings the account's client held stay with the account."""
        client_id, secret = values.get("client_id"), values.get("client_secret")
        if not isinstance(client_id, str) or not client_id.strip():
            raise ValueError("client_id must be a non-empty string")
        if not isinstance(secret, str) or not secret.strip():
            raise ValueError("client_secret must be a non-empty string")
        owner = next((a for a, c in self._accounts.items() if c == client_id), account)
        if owner != account:
            raise ValueError("the client_id belongs to another account")
        old = self._clients.pop(self._accounts.get(account, client_id), None)
        client = old if old is not None else _Client(secret)
        client.secret = secret
        self._clients[client_id] = client
        self._accounts[account] = client_id
        for key in [k for k, t in self._tokens.items() if t.client_id not in self._clients]:
            del self._tokens[key]

    def expire_tokens(self) -> None:
        """Every issued token stops working now (the next call gets 401)."""
        for token in self._tokens.values():
            token.expires_at = min(token.expires_at, self.clock() - 1)

    def listings(self, account: str | None = None) -> dict[str, dict[str, Any]]:
        """The stored payloads of one account (default: the default account)."""
        client = self._clients[self._accounts.get(account or "default", account or "")]
        self._purge(client)
        return {k: v.payload for k, v in client.listings.items()}

    def inventory(self, account: str | None = None) -> Counter[str]:
        """Every stored listing and the media it references (of one account, default: the
        default account), as a count per key: `ref`, `ref/media <externalMediaId>`. A
        duplicate counts more than once (tests compare runs with it)."""
        items: Counter[str] = Counter()
        for ref, payload in self.listings(account).items():
            items[ref] += 1
            items.update(
                f"{ref}/media {m.get('externalMediaId')}" for m in payload.get("media") or []
            )
        return items

    # -- test hooks: what a broker or another system does behind listsync's back ---------------
    def _client_of(self, account: str | None) -> _Client:
        name = account or "default"
        if name not in self._accounts:
            raise KeyError(f"no sandbox account {name!r}")
        return self._clients[self._accounts[name]]

    def seed_listing(self, payload: Mapping[str, Any], *, account: str | None = None) -> str:
        """Store an import payload as if another system had created it; returns its
        `externalListingId` (`metadata.source.offererEstateId`). Media it references count as
        uploaded and attached (with generated bytes). Not validated, as a legacy record may
        not be."""
        body = json.loads(json.dumps(payload))  # a private copy in JSON types
        listing_id = str(_source_id(body) or "")
        if not listing_id:
            raise ValueError("the payload has no metadata.source.offererEstateId")
        client = self._client_of(account)
        for ref in _media_refs(body):
            media_id = str(_obj(ref).get("externalMediaId"))
            client.medias.setdefault(media_id, _Media(self.clock(), uploaded=True))
            self.uploaded.setdefault(media_id, _jpeg(media_id))
        self._store(client, listing_id, body)
        return listing_id

    def remove_listing(self, external_ref: str, *, account: str | None = None) -> bool:
        """Delete a listing as a broker would in Immowelt's own UI; False if there was none."""
        return self._client_of(account).listings.pop(external_ref, None) is not None

    def edit_listing(
        self, external_ref: str, changes: Mapping[str, Any], *, account: str | None = None
    ) -> None:
        """Change a stored listing as a broker would in Immowelt's own UI.

        `changes` maps JSON pointers (`"/data/prices/buy/amount"`) or top-level members to
        new values; None removes the member. Missing objects on the way are created.
        """
        stored = self._client_of(account).listings[external_ref]
        for pointer, value in changes.items():
            parts = [
                p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")
            ]
            node: Any = stored.payload
            for part in parts[:-1]:
                node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
            last = parts[-1]
            if isinstance(node, list):
                node[int(last)] = value
            elif value is None:
                node.pop(last, None)
            else:
                node[last] = copy.deepcopy(value)
        stored.written_at = self.clock()

    def client_settings(self, base_url: str, account: str = "default") -> dict[str, Any]:
        if account not in self._accounts:
            self.add_account(account)
        client_id = self._accounts[account]
        root = base_url.rstrip("/")
        return {
            "base_url": f"{root}/v1",
            "token_url": f"{root}/oauth/token",
            "audience": SANDBOX_AUDIENCE,
            "media_mirror": f"{root}/_mirror",
            "client_id": client_id,
            "client_secret": self._clients[client_id].secret,
            "external_customer_id": f"customer-{account}",
        }

    def principal(self, request: Request) -> str | None:
        token = self._tokens.get(self._bearer(request) or "")
        return token.client_id if token else None

    def fault_response(self, status: int, headers: Mapping[str, str]) -> Response:
        titles = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway"}
        response = _problem(status, titles.get(status, "Service Unavailable"), "injected fault")
        response.headers.update(dict(headers))
        return response

    @staticmethod
    def _bearer(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        return header[7:] if header.lower().startswith("bearer ") else None

    def _purge(self, client: _Client) -> None:
        now = self.clock()
        if now - client.purged_at < _PURGE_EVERY:
            return
        client.purged_at = now
        for key in [k for k, v in client.listings.items() if now - v.written_at >= _RETENTION]:
            del client.listings[key]
        for key, media in list(client.medias.items()):
            if not media.attached_to and now - media.created_at > _MEDIA_WINDOW:
                del client.medias[key]

    def _authorize(self, request: Request, scope: str) -> _Client | Response:
        if not request.headers.get("user-agent"):
            return _problem(
                403, "Forbidden", "a User-Agent header is required", errorSource="headers"
            )
        token = self._tokens.get(self._bearer(request) or "")
        if token is None or token.expires_at <= self.clock():
            response = _problem(401, "Unauthorized", "missing, invalid or expired token")
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response
        family = scope.rsplit(":", 1)[0] + ":*"
        if scope not in token.scopes and family not in token.scopes:
            response = _problem(403, "Forbidden", f"the token lacks the scope {scope}")
            response.headers["WWW-Authenticate"] = (
                f'Bearer error="insufficient_scope", scope="{scope}"'
            )
            return response
        client = self._clients[token.client_id]
        self._purge(client)
        return client

    # -- routes --------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/oauth/token", self._token, methods=["POST"]),
            Route("/v1/health", self._health, methods=["GET"]),
            Route("/v1/listings", self._create, methods=["POST"]),
            Route("/v1/listings", self._list, methods=["GET"]),
            Route("/v1/listings/{listing_id}", self._get, methods=["GET"]),
            Route("/v1/listings/{listing_id}", self._put, methods=["PUT"]),
            Route("/v1/listings/{listing_id}", self._delete, methods=["DELETE"]),
            Route("/v1/medias", self._create_media, methods=["POST"]),
            Route("/_upload/{upload_id}", self._upload, methods=["PUT"]),
            Route("/_mirror/{rest:path}", self._mirror, methods=["GET"]),
        ]

    async def _token(self, request: Request) -> Response:
        self.token_requests += 1
        if "application/json" not in request.headers.get("content-type", ""):
            return _oauth_error(400, "invalid_request", "JSON body required")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _oauth_error(400, "invalid_request", "the body is not JSON")
        refusal = self._token_refusal(body if isinstance(body, dict) else {})
        if refusal is not None:
            return refusal
        scopes = frozenset(str(body.get("scope") or "").split())
        token = secrets.token_urlsafe(32)
        expires_at = self.clock() + self.token_lifetime
        self._tokens[token] = _Token(str(body["client_id"]), scopes, expires_at)
        return JSONResponse(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": int(self.token_lifetime),
                "scope": " ".join(sorted(scopes)),
            }
        )

    def _token_refusal(self, body: dict[str, Any]) -> Response | None:
        client = self._clients.get(str(body.get("client_id")))
        secret = str(body.get("client_secret", ""))
        if client is None or not secrets.compare_digest(client.secret, secret):
            return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
        if body.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "client_credentials only")
        if body.get("audience") != SANDBOX_AUDIENCE:
            return _oauth_error(403, "access_denied", "unknown audience")
        if not frozenset(str(body.get("scope") or "").split()) <= _ALL_SCOPES:
            return _oauth_error(400, "invalid_scope", "unknown scope requested")
        return None

    async def _health(self, request: Request) -> Response:
        return _answer({"status": "PASS", "components": []})

    async def _json(self, request: Request) -> dict[str, Any] | Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _problem(400, "Bad request", "the body is not JSON", errorSource="contentType")
        if not isinstance(body, dict):
            return _problem(400, "Bad request", "the body must be an object", errorSource="body")
        return body

    def _refused(self, errors: list[dict[str, str]]) -> Response:
        return _problem(
            400,
            "Bad request",
            "Your request has not been validated",
            errors=errors,
            errorSource="body",
        )

    def _media_errors(
        self, client: _Client, body: dict[str, Any], listing_id: str
    ) -> list[dict[str, str]]:
        errors = []
        if body.get("media") is not None and not isinstance(body["media"], list):
            errors.append({"name": "/media", "reason": "must be an array"})
        now = self.clock()
        for i, ref in enumerate(_media_refs(body)):
            media = client.medias.get(str(_obj(ref).get("externalMediaId")))
            fresh = media is not None and (
                listing_id in media.attached_to or now - media.created_at <= _MEDIA_WINDOW
            )
            if media is None or not media.uploaded or not fresh:
                errors.append(
                    {
                        "name": f"/media/{i}/externalMediaId",
                        "reason": "unknown, not uploaded or expired media",
                    }
                )
        return errors

    def _store(self, client: _Client, listing_id: str, body: dict[str, Any]) -> _Stored:
        previous = client.listings.get(listing_id)
        stored = _Stored(body, previous.listing_id if previous else str(uuid.uuid4()), self.clock())
        client.listings[listing_id] = stored
        for ref in _media_refs(body):  # checked by `_media_errors` before anything is stored
            client.medias[str(ref["externalMediaId"])].attached_to.add(listing_id)
        return stored

    def _accepted(self, stored: _Stored, listing_id: str) -> Response:
        body = {
            "requestId": str(uuid.uuid4()),
            "listingId": stored.listing_id,
            "externalListingId": listing_id,
            "warnings": [],
        }
        return _answer(body, 202)

    async def _create(self, request: Request) -> Response:
        client = self._authorize(request, "clim:listings:create")
        if isinstance(client, Response):
            return client
        body = await self._json(request)
        if isinstance(body, Response):
            return body
        listing_id = str(_source_id(body) or "")
        errors = validate_listing(body) + self._media_errors(client, body, listing_id)
        if errors:
            return self._refused(errors)
        if listing_id in client.listings:
            return _problem(409, "Conflict", f"listing {listing_id} already exists")
        return self._accepted(self._store(client, listing_id, body), listing_id)

    async def _put(self, request: Request) -> Response:
        client = self._authorize(request, "clim:listings:update")
        if isinstance(client, Response):
            return client
        body = await self._json(request)
        if isinstance(body, Response):
            return body
        listing_id = request.path_params["listing_id"]
        current = client.listings.get(listing_id)
        if current is None:
            return _problem(404, "Not Found", f"listing {listing_id} does not exist")
        errors = validate_listing(body) + self._media_errors(client, body, listing_id)
        source_id = _source_id(body)
        if source_id != listing_id:
            errors.append(
                {
                    "name": "/metadata/source/offererEstateId",
                    "reason": "must equal the path externalListingId",
                }
            )
        before = _obj(current.payload.get("data")).get("estateType")
        if _obj(body.get("data")).get("estateType") != before:
            errors.append(
                {"name": "/data/estateType", "reason": f"cannot be changed on update (is {before})"}
            )
        if errors:
            return self._refused(errors)
        return self._accepted(self._store(client, listing_id, body), listing_id)

    async def _delete(self, request: Request) -> Response:
        client = self._authorize(request, "clim:listings:delete")
        if isinstance(client, Response):
            return client
        listing_id = request.path_params["listing_id"]
        stored = client.listings.pop(listing_id, None)
        if stored is None:
            return _problem(404, "Not Found", f"listing {listing_id} does not exist")
        body = {
            "requestId": str(uuid.uuid4()),
            "listingId": stored.listing_id,
            "externalListingId": listing_id,
        }
        return _answer(body, 202)

    async def _get(self, request: Request) -> Response:
        client = self._authorize(request, "clim:listings:read")
        if isinstance(client, Response):
            return client
        listing_id = request.path_params["listing_id"]
        stored = client.listings.get(listing_id)
        if stored is None:
            return _problem(404, "Not Found", f"listing {listing_id} does not exist")
        return _answer({"listing": {**stored.payload, "listingId": stored.listing_id}})

    async def _list(self, request: Request) -> Response:
        client = self._authorize(request, "clim:listings:read")
        if isinstance(client, Response):
            return client
        ids = sorted(client.listings)
        token = request.query_params.get("nextPageToken")
        if token:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except ValueError:
                return _problem(
                    400, "Bad request", "invalid nextPageToken", errorSource="requestParameter"
                )
            ids = [i for i in ids if i > after]
        page = ids[: self.page_size]
        more = len(ids) > self.page_size
        next_token = base64.urlsafe_b64encode(page[-1].encode()).decode() if more else None
        return _answer({"externalListingIds": page, "nextPageToken": next_token})

    async def _create_media(self, request: Request) -> Response:
        client = self._authorize(request, "clim:medias:create")
        if isinstance(client, Response):
            return client
        body = await self._json(request)
        if isinstance(body, Response):
            return body
        errors = [
            {"name": f"/{k}", "reason": "is required"}
            for k in ("externalMediaId", "fileName")
            if not body.get(k)
        ]
        if errors:
            return self._refused(errors)
        media_ref = str(body["externalMediaId"])
        existing = client.medias.get(media_ref)
        client.medias[media_ref] = _Media(
            self.clock(), attached_to=existing.attached_to if existing else set()
        )
        upload_id = secrets.token_urlsafe(16)
        token = self._tokens[self._bearer(request) or ""]
        self._uploads[upload_id] = (token.client_id, media_ref, self.clock() + _MEDIA_WINDOW)
        url = f"{str(request.base_url).rstrip('/')}/_upload/{upload_id}"
        return _answer({"externalMediaId": media_ref, "presignedURL": url}, 201)

    async def _upload(self, request: Request) -> Response:
        entry = self._uploads.get(request.path_params["upload_id"])
        if request.headers.get("authorization"):
            return _s3_error(400, "InvalidArgument", "Only one auth mechanism allowed")
        if entry is None or entry[2] < self.clock():
            return _s3_error(403, "AccessDenied", "Request has expired")
        client_id, media_ref, _ = entry
        content = await request.body()
        if len(content) > 40 * 1024 * 1024:
            return _s3_error(400, "EntityTooLarge", "Your proposed upload exceeds 40 MB")
        media = self._clients[client_id].medias.get(media_ref)
        if media is None:
            return _s3_error(403, "AccessDenied", "Request has expired")
        media.uploaded = True
        self.uploaded[media_ref] = content
        return Response(status_code=200)

    async def _mirror(self, request: Request) -> Response:
        rest = request.path_params["rest"]
        if "missing" in rest:
            return Response("not found", 404, media_type="text/plain")
        return Response(_jpeg(rest), 200, media_type="image/jpeg")


def _oauth_error(status: int, error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status)


def _s3_error(status: int, code: str, message: str) -> Response:
    xml = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return Response(xml, status, media_type="application/xml")


def _jpeg(seed: str) -> bytes:
    """A small deterministic byte string framed as JPEG (SOI ... EOI)."""
    body = hashlib.sha256(seed.encode()).digest() * 8
    return b"\xff\xd8\xff\xe0" + body + b"\xff\xd9"


def _obj(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else {}: a body of the wrong shape gets a 400 from the
    validation (`validate_listing`, `_media_errors`), never a 500 from reading it."""
    return value if isinstance(value, dict) else {}


def _source_id(body: dict[str, Any]) -> Any:
    return _obj(_obj(body.get("metadata")).get("source")).get("offererEstateId")


def _media_refs(body: dict[str, Any]) -> list[Any]:
    """The body's media references; anything but a list of them is an empty list here (and a
    list of non-objects fails `_media_errors`)."""
    media = body.get("media")
    return media if isinstance(media, list) else []
