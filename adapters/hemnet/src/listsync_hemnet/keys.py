"""Hemnet API keys: expiry tracking, rotation, the credential store, and the bearer `httpx.Auth`.

Hemnet keys expire (portal-docs/hemnet-broker-api-first-steps.txt, "Automatically dealing with
expiry"): read the current key's `expiresAt` (`GET /keys/{id}`), create a new key before it
expires (`POST /keys` -> `authToken` + `key`), store it, switch to it and optionally revoke the
old one (`DELETE /keys/{id}`). The token is opaque (never parsed).

- `KeyManager` holds the current key. Rotation happens once per due key even with many
  concurrent requests (an `asyncio.Lock`, re-checked inside), through its own `HemnetClient`
  without auth, so a rotation never waits for a concurrency slot held by the requests it serves.
- `HemnetKeyAuth.async_auth_flow` asks the manager for a fresh token before each request; on a
  401 it retries once: with the newer token when the key was switched while the request was in
  flight, or after a forced rotation when the current key itself was refused.
- The new token goes to the credential store (default: `file_credential_store`, a JSON file with
  mode 0600) and into no log line.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from pathlib import Path
from typing import Any

import httpx
import structlog
from pydantic import SecretStr
from typing_extensions import override

from listsync.errors import AuthenticationError, PortalError
from listsync_hemnet.client import HemnetClient

__all__ = [
    "HemnetKeyAuth",
    "KeyManager",
    "default_credential_path",
    "file_credential_store",
    "load_credentials",
    "token_origin",
]

log = structlog.stdlib.get_logger(__name__)

Store = Callable[[Mapping[str, str]], Awaitable[None]]


def default_credential_path(account: str) -> Path:
    return Path(".listsync-credentials") / f"hemnet-{account}.json"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def file_credential_store(path: Path, secrets: Mapping[str, str]) -> None:
    """Write `secrets` as JSON to `path` with mode 0600 (atomically, via a temp file)."""
    await asyncio.to_thread(_write_private, path, json.dumps(dict(secrets)))


def token_origin(token: SecretStr, base_url: str = "") -> str:
    """A one-way fingerprint of the configured token (and the portal base URL) a chain of
    rotated keys started from."""
    seed = f"{base_url.rstrip('/')}\n{token.get_secret_value()}"
    return hashlib.sha256(seed.encode()).hexdigest()


def load_credentials(path: Path, origin: str | None = None) -> tuple[SecretStr, str | None] | None:
    """(token, key id) from a file `file_credential_store` wrote, None when there is none.

    With `origin`, the file counts only when its rotation chain started from that configured
    token: a file left over from another (older or replaced) configured key is ignored, so a
    stale file can never override the key the operator configured.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if origin is not None and isinstance(data, dict) and data.get("origin") != origin:
        return None
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        return None
    key_id = data.get("key_id")
    return SecretStr(token), key_id if isinstance(key_id, str) else None


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class KeyManager:
    """The current key of one Hemnet account, rotated inside `window` seconds of expiry."""

    def __init__(
        self,
        *,
        client: HemnetClient,
        token: SecretStr,
        key_id: str | None,
        window: float,
        revoke_old: bool,
        store: Store,
        clock: Callable[[], float],
        account: str,
    ) -> None:
        self._client = client
        self._token = token
        self._key_id = key_id
        self._window = window
        self._revoke_old = revoke_old
        self._store = store
        self._clock = clock
        self._account = account
        self._expires_at: float | None = None
        self._refused: str | None = None
        self._lock = asyncio.Lock()
        self.rotations = 0

    @property
    def token(self) -> SecretStr:
        return self._token

    @property
    def key_id(self) -> str | None:
        return self._key_id

    def _due(self) -> bool:
        return self._expires_at is not None and self._clock() >= self._expires_at - self._window

    async def fresh_token(self) -> SecretStr:
        """The token to send now, rotating first when the key expires within the window."""
        if self._expires_at is None or self._due():
            async with self._lock:
                if self._expires_at is None:
                    await self._load_expiry()
                if self._due():
                    await self._rotate()
        return self._token

    async def after_unauthorized(self, used: SecretStr) -> SecretStr | None:
        """A request with `used` got 401: the token to retry with once, or None to give up."""
        async with self._lock:
            if used.get_secret_value() != self._token.get_secret_value():
                return self._token  # switched while the request was in flight
            if self._refused == used.get_secret_value():
                return None  # another request already tried to replace this key
            try:
                await self._rotate()
            except AuthenticationError:
                self._refused = used.get_secret_value()
                log.warning("hemnet_key_refused", account=self._account, key_id=self._key_id)
                return None
            return self._token

    async def _load_expiry(self) -> None:
        if self._key_id is None:
            self._key_id = await self._find_own_key_id()
        key = await self._client.get_key(self._key_id, token=self._token)
        self._expires_at = _timestamp(key.get("expiresAt")) or float("inf")

    async def _find_own_key_id(self) -> str:
        """Without a configured key id: the active key used most recently is this request's."""
        keys = [k for k in await self._client.list_keys(token=self._token) if k.get("id")]
        active = [k for k in keys if k.get("state", "active") == "active"] or keys
        if not active:
            raise AuthenticationError(
                "GET /keys listed no key; set key_id", portal="hemnet", account=self._account
            )
        newest = max(active, key=lambda k: _timestamp(k.get("lastUsedAt")) or 0.0)
        return str(newest["id"])

    async def _rotate(self) -> None:
        old_id, old_token = self._key_id, self._token
        stamp = dt.datetime.fromtimestamp(self._clock(), dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
        created = await self._client.create_key(
            f"listsync {self._account} {stamp}", token=old_token
        )
        key = created.get("key") or {}
        new_token = SecretStr(str(created["authToken"]))
        new_id = str(key.get("id")) if key.get("id") else None
        stored = await self._hand_over(new_token, new_id)
        self._token, self._key_id = new_token, new_id
        self._expires_at = _timestamp(key.get("expiresAt")) or float("inf")
        self.rotations += 1
        log.info("hemnet_key_rotated", account=self._account, old_key=old_id, new_key=new_id)
        if self._revoke_old and stored and old_id:
            try:
                await self._client.delete_key(old_id, token=new_token)
            except PortalError as exc:
                log.warning("hemnet_key_revoke_failed", account=self._account, error=str(exc))

    async def _hand_over(self, token: SecretStr, key_id: str | None) -> bool:
        """Give the new key to the credential store; False (and keep the old key) on failure."""
        secrets = {"token": token.get_secret_value(), "key_id": key_id or ""}
        try:
            await self._store(secrets)
        except Exception as exc:  # any store failure: keep running on the new key, keep the old
            log.warning(
                "hemnet_credential_store_failed", account=self._account, error=type(exc).__name__
            )
            return False
        return True


class HemnetKeyAuth(httpx.Auth):
    """`Authorization: Bearer <token>` from the key manager, with one retry after a 401.

    Requests that already carry `Authorization` (none do on the adapter's client) pass as they
    are.
    """

    def __init__(self, manager: KeyManager) -> None:
        self._manager = manager

    @override
    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if "Authorization" in request.headers:
            yield request
            return
        token = await self._manager.fresh_token()
        request.headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        response = yield request
        if response.status_code != 401:
            return
        retry_with = await self._manager.after_unauthorized(token)
        if retry_with is not None:
            request.headers["Authorization"] = f"Bearer {retry_with.get_secret_value()}"
            yield request

    @override
    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:  # pragma: no cover - async only
        raise RuntimeError("HemnetKeyAuth works with httpx.AsyncClient only")
