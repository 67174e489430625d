"""OAuth2 client credentials for the Immowelt import API: token manager + `httpx.Auth`.

The only module that imports authlib. authlib's `AsyncOAuth2Client` is used purely as the
token manager: it fetches, caches and re-fetches the token under its own lock, so many requests
finding the token expired together cause one token request. API calls go through listsync's
`PortalHttp`, which signs them with `ImmoweltAuth`.

Immowelt's listing import API document says: the token request is a JSON body
`{client_id, client_secret, grant_type, audience, scope}`, done here by a custom token-endpoint
auth method (authlib applies it on every re-fetch too, so `audience` is never dropped);
`grant_type` is given to the constructor (without it authlib cannot re-fetch); tokens last 24 h
and must be reused, so they can be persisted (the account's `token_cache_path`, or a file named
after the account in the `token_cache_dir` setting: `token_cache_file`) and loaded on the next
run. Token files are 0600 in folders created 0700.
Tokens and secrets are never logged.

Many workers (a shared credential store: `SharedTokens`, e.g. listsync's Redis store, which
can also `load` what was stored and `lock` an account): the token is stored there too, and a
worker whose token has expired takes the account's lock, takes the token another worker
stored (for the same client id and scopes) if it is still valid, and fetches one only if not,
so the workers of a deployment share one token per account and fetch it one at a time.

Retries: the token client has no retry loop of its own (httpx sends once). A token fetch made
inside a request's auth flow is one attempt of that request: a 5xx, a 429 or a connection
failure at the token endpoint is a retryable error saying nothing reached the listings API
(`RequestNotSentError` / `RateLimitedError`), and `PortalHttp`'s one retry policy decides
whether the request (and so the token fetch) is tried again. An answer that is not a token
(HTML, an empty body, JSON without `access_token`) is a `PortalBugError`, never a token.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import tempfile
import time
import warnings
from collections.abc import AsyncGenerator, Callable, Mapping, MutableMapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl

import authlib.deprecate

# authlib >= 1.8 warns on every import when it runs on httpx instead of httpx2; listsync stays on
# httpx on purpose (its transports are httpx's). Its own "always" filter must be overridden
# after importing it.
warnings.filterwarnings("ignore", category=authlib.deprecate.AuthlibDeprecationWarning)

import httpx  # noqa: E402  (after the warning filter above)
from authlib.integrations.base_client import OAuthError  # noqa: E402
from authlib.integrations.httpx_client import AsyncOAuth2Client  # noqa: E402
from authlib.oauth2.rfc6749.wrappers import OAuth2Token  # noqa: E402

from listsync.errors import (  # noqa: E402
    AuthenticationError,
    ListsyncError,
    PermissionDeniedError,
    PortalBugError,
    RateLimitedError,
    RequestNotSentError,
)
from listsync.http import HeaderAuth, parse_retry_after  # noqa: E402
from listsync.log import get_logger  # noqa: E402
from listsync.redact import redact_text  # noqa: E402
from listsync_immowelt.settings import PORTAL  # noqa: E402

__all__ = [
    "ImmoweltAuth",
    "SharedTokens",
    "TokenManager",
    "token_cache_file",
    "token_client_class",
]

log = get_logger(__name__)

_AUTH_METHOD = "client_secret_json_audience"


@runtime_checkable
class SharedTokens(Protocol):
    """A credential store many workers share (`await store(portal, account, secrets)`), which
    can read back what was stored and lock one account across workers."""

    async def __call__(self, portal: str, account: str, secrets: Mapping[str, str]) -> None: ...

    async def load(self, portal: str, account: str) -> Mapping[str, str] | None: ...

    def lock(self, portal: str, account: str) -> AbstractAsyncContextManager[Any]: ...


def token_cache_file(folder: Path, account: str) -> Path:
    """The token file of `account` inside `folder`: `immowelt-<name>-<hash>.json`, where
    <name> keeps only letters, digits, `_` and `-` of the account name (at most 40) and <hash>
    tells apart names that read the same after that, so no account name (`../../x`, `a/b`)
    can reach outside `folder`."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", account).strip("_")[:40] or "account"
    digest = hashlib.sha256(account.encode()).hexdigest()[:12]
    path = folder / f"{PORTAL}-{safe}-{digest}.json"
    if path.resolve().parent != folder.resolve():  # pragma: no cover - ruled out by the name
        raise ValueError("token cache file outside its folder")
    return path


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, mode 0600, creating a missing folder 0700."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)  # whatever the umask
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def token_client_class() -> type[Any]:
    """authlib's async client class (a test asserts it is built on `httpx.AsyncClient`)."""
    return AsyncOAuth2Client  # type: ignore[no-any-return]  # authlib is untyped


class _ClockedToken(OAuth2Token):  # type: ignore[misc]  # authlib is untyped
    """A token whose expiry is judged by the adapter's clock (the sandbox clock in tests)."""

    def __init__(self, params: dict[str, Any], clock: Callable[[], float]) -> None:
        if params.get("expires_at") is None and params.get("expires_in") is not None:
            params["expires_at"] = int(clock()) + int(params["expires_in"])
        super().__init__(params)
        self._clock = clock

    def is_expired(self, leeway: int = 60) -> bool | None:
        expires_at = self.get("expires_at")
        if not isinstance(expires_at, int):
            return None
        return expires_at - leeway < self._clock()


class _TokenEndpointUnavailableError(Exception):
    """The token endpoint answered 5xx or 429: no token now, maybe on the next attempt."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.retry_after = parse_retry_after(response.headers.get("Retry-After"))
        super().__init__(f"token endpoint answered {response.status_code} without a token")


class _NotATokenError(Exception):
    """The token endpoint answered something that is not a token nor an OAuth error."""

    def __init__(self, response: httpx.Response, what: str) -> None:
        self.status_code = response.status_code
        super().__init__(f"token endpoint answered {response.status_code} with {what}")


_EXCERPT = 120


def _excerpt(response: httpx.Response) -> str:
    text = " ".join(response.content.decode("utf-8", errors="replace").split())
    text = text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"
    return repr(redact_text(text)) if text else "an empty body"


class _TokenClient(AsyncOAuth2Client):  # type: ignore[misc]  # authlib is untyped
    """`AsyncOAuth2Client` whose tokens expire by an injected clock and which takes nothing
    but a real token (or an OAuth error) for an answer."""

    def __init__(self, *args: Any, clock: Callable[[], float], **kwargs: Any) -> None:
        self._clock = clock
        super().__init__(*args, **kwargs)

    def parse_response_token(self, resp: httpx.Response) -> _ClockedToken:
        # authlib takes any JSON object without an OAuth `error` member as a token, so a 5xx or
        # 429 from the token endpoint would become a "token" with no access_token. Refuse it:
        # the current token stays expired and the next attempt fetches again.
        if resp.status_code == 429 or resp.status_code >= 500:
            raise _TokenEndpointUnavailableError(resp)
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise _NotATokenError(resp, f"an answer that is not a JSON object: {_excerpt(resp)}")
        if "error" in body:
            super().parse_response_token(resp)  # raises authlib's OAuthError
        access_token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(access_token, str) or not access_token:
            # No excerpt: whatever the body holds may be a credential under another name.
            raise _NotATokenError(resp, f"JSON without an access_token (members {sorted(body)})")
        if expires_in is not None and (
            isinstance(expires_in, bool) or not isinstance(expires_in, int | float)
        ):
            raise _NotATokenError(resp, "an expires_in that is not a number")
        raw = {k: v for k, v in body.items() if k != "expires_at"}  # use our clock, not time()
        self.token = _ClockedToken(raw, self._clock)
        return self.token


def _json_auth_method(audience: str) -> Callable[..., tuple[str, Any, str]]:
    """Token-endpoint auth: the form body authlib built, as JSON with credentials + audience."""

    def sign(client: Any, method: str, uri: str, headers: Any, body: Any) -> tuple[str, Any, str]:
        text = body.decode() if isinstance(body, bytes) else (body or "")
        data = dict(parse_qsl(text))
        data.update(
            client_id=client.client_id, client_secret=client.client_secret, audience=audience
        )
        headers["Content-Type"] = "application/json"
        return uri, headers, json.dumps(data)

    return sign


class TokenManager:
    """One account's access token: fetched once, cached, persisted, refreshed once.

    Args:
        client_id / client_secret: the account's OAuth2 client credentials.
        token_url / audience / scopes: the token request.
        cache_path: where the token is persisted between runs (None: memory only).
        leeway: seconds before expiry at which the token is renewed.
        clock: the time source for expiry.
        transport / headers / timeout: passed to the token client.
        shared: a credential store shared with other workers (see the module docstring).
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        token_url: str,
        audience: str,
        scopes: list[str],
        account: str,
        cache_path: Path | None = None,
        leeway: int = 60,
        clock: Callable[[], float],
        transport: httpx.AsyncBaseTransport | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        shared: SharedTokens | None = None,
    ) -> None:
        self.account = account
        self._shared = shared
        self.scope = " ".join(scopes)
        self._client_id = client_id
        self._refused_until = 0.0  # a 429's Retry-After: no token request before then
        self._lock = asyncio.Lock()
        self._cache_path = cache_path
        self._clock = clock
        self._client = _TokenClient(
            client_id,
            client_secret,
            scope=self.scope,
            token_endpoint=token_url,
            grant_type="client_credentials",
            token_endpoint_auth_method=_AUTH_METHOD,
            leeway=leeway,
            update_token=self._store,
            token=self._load(),
            clock=clock,
            transport=transport,
            headers=headers or {},
            timeout=timeout,
        )
        self._client.register_client_auth_method((_AUTH_METHOD, _json_auth_method(audience)))

    def _load(self) -> _ClockedToken:
        placeholder = _ClockedToken(
            {"access_token": "", "token_type": "Bearer", "expires_at": 0}, self._clock
        )
        path = self._cache_path
        if path is None or not path.is_file():
            return placeholder
        try:
            cached = json.loads(path.read_text())
        except (OSError, ValueError):
            return placeholder
        if (
            not isinstance(cached, dict)
            or not isinstance(cached.get("token"), dict)
            or cached.get("client_id") != self._client_id
            or cached.get("requested") != self.scope
        ):
            return placeholder
        log.debug("token_loaded_from_cache", portal=PORTAL, account=self.account)
        return _ClockedToken(dict(cached["token"]), self._clock)

    async def _store(self, token: dict[str, Any], **_: Any) -> None:
        log.info(
            "token_fetched",
            portal=PORTAL,
            account=self.account,
            scope=token.get("scope", self.scope),
            expires_in=token.get("expires_in"),
        )
        path = self._cache_path
        if path is None:
            return
        keep = {
            k: token[k] for k in ("access_token", "token_type", "expires_at", "scope") if k in token
        }
        doc = {"client_id": self._client_id, "requested": self.scope, "token": keep}
        _write_private(path, json.dumps(doc))

    async def _share(self, token: dict[str, Any]) -> None:
        """Store a token just fetched where the other workers read it."""
        if self._shared is None or not isinstance(token.get("expires_at"), int):
            return
        kept = ("access_token", "token_type", "expires_at", "scope")
        secrets: dict[str, str] = {k: str(token[k]) for k in kept if k in token}
        secrets.update(client_id=self._client_id, requested=self.scope)
        await self._shared(PORTAL, self.account, secrets)

    def _adopt(self, stored: Mapping[str, str] | None) -> None:
        """Take the token another worker stored, when it is for this client id and scopes and
        still valid."""
        if (
            not stored
            or stored.get("client_id") != self._client_id
            or stored.get("requested") != self.scope
            or not stored.get("access_token")
            or not str(stored.get("expires_at", "")).isdigit()
        ):
            return
        params: dict[str, Any] = {
            k: stored[k] for k in ("access_token", "token_type", "scope") if k in stored
        }
        params["expires_at"] = int(stored["expires_at"])
        token = _ClockedToken(params, self._clock)
        if not token.is_expired(leeway=self._client.leeway):
            self._client.token = token
            log.debug("token_taken_from_shared_store", portal=PORTAL, account=self.account)

    def _expired(self) -> bool:
        return bool(self._client.token.is_expired(leeway=self._client.leeway))

    async def _ensure_shared(self, shared: SharedTokens) -> None:
        """`_ensure_token` one worker at a time per account (see the module docstring); the
        shared store unreachable: nothing was sent (`RequestNotSentError`)."""
        self._check_refused()
        try:
            async with shared.lock(PORTAL, self.account):
                self._adopt(await shared.load(PORTAL, self.account))
                if self._expired():
                    await self._ensure_token()
                    await self._share(dict(self._client.token))
        except ListsyncError:
            raise
        except Exception as exc:
            raise RequestNotSentError(
                f"shared credential store unreachable: {type(exc).__name__}",
                portal=PORTAL,
                account=self.account,
            ) from None

    async def access_token(self) -> str:
        """A valid access token, fetching one (once, under authlib's lock) when needed.

        After the token endpoint answered 429, no token request is made before its
        `Retry-After` has passed: every request that needs a token meanwhile fails at once
        with `RateLimitedError` (and the account's pause holds them back).
        """
        token = self._client.token
        if not self._lock.locked() and not token.is_expired(leeway=self._client.leeway):
            # held and valid, no renewal under way: nothing to wait for (per request)
            return str(token["access_token"])
        async with self._lock:  # requests waiting for a token see a refusal at once
            if self._shared is not None and self._expired():
                await self._ensure_shared(self._shared)
            else:
                await self._ensure_token()
        return str(self._client.token["access_token"])

    def _check_refused(self) -> None:
        """Refuse at once while a 429 from the token endpoint holds and no valid token is
        held."""
        wait = self._refused_until - time.monotonic()
        if wait > 0 and self._client.token.is_expired():
            raise RateLimitedError(
                "token endpoint rate limited",
                portal=PORTAL,
                account=self.account,
                retry_after=wait,
                status_code=429,
            )

    async def _ensure_token(self) -> None:
        """Fetch a token when the one held has expired; errors as the one retry policy wants
        them (see the module docstring)."""
        self._check_refused()
        try:
            await self._client.ensure_active_token(self._client.token)
        except OAuthError as exc:
            raise self._refused(exc) from None
        except _NotATokenError as exc:
            raise PortalBugError(
                str(exc), portal=PORTAL, account=self.account, status_code=exc.status_code
            ) from None
        except _TokenEndpointUnavailableError as exc:
            # Nothing reached the listings API yet, so even a create may be retried.
            if exc.status_code == 429:
                if exc.retry_after:
                    self._refused_until = time.monotonic() + exc.retry_after
                raise RateLimitedError(
                    "token endpoint rate limited",
                    portal=PORTAL,
                    account=self.account,
                    retry_after=exc.retry_after,
                    status_code=429,
                ) from None
            raise RequestNotSentError(
                f"token endpoint unavailable ({exc.status_code})",
                portal=PORTAL,
                account=self.account,
                status_code=exc.status_code,
            ) from None
        except httpx.TransportError as exc:
            # Whether or not the token request got through, the listings API saw nothing.
            raise RequestNotSentError(
                f"token endpoint unreachable: {type(exc).__name__}",
                portal=PORTAL,
                account=self.account,
            ) from None

    def _refused(self, exc: OAuthError) -> AuthenticationError:
        error = str(getattr(exc, "error", "") or "refused")
        if error == "invalid_scope":
            return PermissionDeniedError(
                "token request refused: invalid_scope",
                portal=PORTAL,
                account=self.account,
                scope=self.scope,
            )
        return AuthenticationError(
            f"token request refused: {error}", portal=PORTAL, account=self.account
        )

    async def renew_after_rejection(self, rejected: str) -> None:
        """The portal refused `rejected` (401): renew it unless another request already did."""
        if self._client.token.get("access_token") == rejected:
            self._client.token["expires_at"] = 0
        await self.access_token()

    async def aclose(self) -> None:
        await self._client.aclose()


class ImmoweltAuth(HeaderAuth):
    """Bearer auth from the token manager; a 401 renews the token once and retries.

    A `HeaderAuth`: it only sets a header, so `PortalHttp` sends without httpx's objects.
    """

    requires_request_body = True

    def __init__(self, tokens: TokenManager) -> None:
        self._tokens = tokens

    async def header_flow(self, headers: MutableMapping[str, str]) -> AsyncGenerator[None, int]:
        token = await self._tokens.access_token()
        headers["Authorization"] = f"Bearer {token}"
        status = yield
        if status == 401:
            log.info("token_rejected", portal=PORTAL, account=self._tokens.account)
            await self._tokens.renew_after_rejection(token)
            headers["Authorization"] = f"Bearer {await self._tokens.access_token()}"
            yield
