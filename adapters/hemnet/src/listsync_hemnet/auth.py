"""Hemnet API keys: the bearer `httpx.Auth`, expiry checks, rotation, the credential store.

Hemnet's BrokerAPI guide ("Automatically dealing with expiry") says keys expire: read the
current key's `expiresAt` (`GET /keys/{id}`), create a new key before it expires (`POST /keys`
-> `authToken` + `key`), store it, switch to it and optionally revoke the old one
(`DELETE /keys/{id}`). The token is opaque (never parsed).

- `KeyManager` holds the current key and caches its check: a key whose expiry is further away
  than the rotation window is used without asking Hemnet again; the key is checked again
  (`GET /keys/{id}`) when its expiry comes within the window (and then rotated), and after a 401.
  Checks and rotations happen once per account however many requests wait for them (an
  `asyncio.Lock`, the state re-read inside it).
- Its calls go through a `HemnetClient` of their own, without auth and with `retry=False`: they
  run inside another request's auth flow, so a failure is one failed attempt of that request,
  retried (or not) by the one retry policy in `PortalHttp`; no retry loop nests inside another.
  A key check that fails transiently is raised as `RequestNotSentError` (the request it guards
  was not sent, so even a create may be resent); a rate-limited one as the `RateLimitedError`.
  Their own `PortalHttp` also means a check never waits for a concurrency slot held by the
  requests it serves.
- `HemnetKeyAuth.async_auth_flow` asks the manager for the token before each request; on a 401
  it resends once: with the newer token when the key was switched while the request was in
  flight, or after the check found the key due and rotated it.
- A new token goes to the credential store (default: `file_credential_store`, a JSON file with
  mode 0600) and into no log line.
- A credential store shared by many workers (`SharedCredentials`: it can also `load` what was
  stored and `lock` an account, e.g. listsync's Redis store) makes the check and rotation one
  worker at a time per account: under its lock a worker first takes the key another worker
  stored (rotated from the same configured token), then checks it and rotates only if it is
  still due, so an expiring key is rotated once however many workers see it expiring.

The most requests one HTTP request can cause, per attempt: the request and its one resend after
a 401 (2); before it, a key check and a rotation (`GET /keys/{id}`, `POST /keys`, with
`revoke_old` `DELETE /keys/{old}`: 3, plus the pages of `GET /keys` when no `key_id` is
configured); after a 401, the same check and rotation again (3): 8 at most, times
`max_attempts` (5 by default: 40). The checks and rotations are shared by every request of the
account, so in steady state (the key far from expiry) each attempt is exactly one request. An
operation of the adapter sends at most a few such requests (a create: the agency look-up and,
once per agency, its creation, then the listing; a publish: the image polls, bounded by
`image_poll_timeout`, then the publish).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import re
import stat
import tempfile
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import AbstractAsyncContextManager, nullcontext
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import SecretStr
from typing_extensions import override

from listsync.adapter import CredentialStore
from listsync.errors import (
    AuthenticationError,
    PortalError,
    RequestNotSentError,
    TransientError,
    UnknownOutcomeError,
)
from listsync.http import HeaderAuth
from listsync.log import get_logger
from listsync_hemnet.client import HemnetClient
from listsync_hemnet.settings import PORTAL, HemnetAccount

__all__ = [
    "HemnetKeyAuth",
    "KeyManager",
    "SharedCredentials",
    "Store",
    "credentials",
    "default_credential_path",
    "file_credential_store",
    "load_credentials",
    "token_origin",
]

log = get_logger(__name__)

Store = Callable[[Mapping[str, str]], Awaitable[None]]


@runtime_checkable
class SharedCredentials(Protocol):
    """A credential store many workers share: what was stored can be read back, and one
    worker at a time may hold an account's lock."""

    async def load(self, portal: str, account: str) -> Mapping[str, str] | None: ...

    def lock(self, portal: str, account: str) -> AbstractAsyncContextManager[Any]: ...


CREDENTIAL_FOLDER = Path(".listsync-credentials")
"""Where rotated keys go by default (relative to the working directory)."""

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def default_credential_path(account: str, folder: Path = CREDENTIAL_FOLDER) -> Path:
    """`<folder>/hemnet-<account>.json`, always directly inside `folder`.

    An account name of letters, digits, `_` and `-` (up to 64, not starting with `_`/`-`) is
    used as it is (the file names of earlier versions); any other name (`../x`, `a/b`, dots,
    spaces, a very long one) becomes its letters and digits plus a hash of the whole name, so
    no account name can reach a file outside `folder` and two names never share a file.
    """
    if _SAFE_NAME.fullmatch(account):
        stem = account
    else:
        kept = re.sub(r"[^A-Za-z0-9_-]+", "_", account).strip("_-")[:32]
        digest = hashlib.sha256(account.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        stem = f"{kept}-{digest}" if kept else digest
    path = folder / f"hemnet-{stem}.json"
    if path.parent != folder or path.name in {".", ".."}:  # pragma: no cover - by construction
        raise ValueError("credential file name escapes its folder")
    return path


def _make_private_folder(folder: Path) -> None:
    """Create `folder` and its missing parents with mode 0700; an existing folder is left as it
    is, except the default `.listsync-credentials`, which is made 0700."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for parent in reversed(missing):
        parent.mkdir(mode=0o700, exist_ok=True)
        os.chmod(parent, 0o700)  # mkdir's mode is filtered by the umask
    if folder.name == CREDENTIAL_FOLDER.name and stat.S_IMODE(folder.stat().st_mode) != 0o700:
        os.chmod(folder, 0o700)


def _write_private(path: Path, text: str) -> None:
    _make_private_folder(path.parent)
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


def credentials(
    account: HemnetAccount,
    account_name: str,
    credential_store: CredentialStore | None,
    *,
    base_url: str = "",
) -> tuple[SecretStr, str | None, Store]:
    """The key to start from and where a rotated key goes.

    With the embedding application's `credential_store`, the configured token is used and
    new keys go to the callback. Without one, keys go to a 0600 JSON file, and a key found in
    that file wins over the configured token only when it was rotated from that same
    configured token for the same base URL (the file records their fingerprint as `origin`).
    """
    if credential_store is not None:
        callback = credential_store
        # a shared store keeps the chain's origin, so a stale key is never adopted
        extra: dict[str, str] = (
            {"origin": token_origin(account.token, base_url)}
            if isinstance(callback, SharedCredentials)
            else {}
        )

        async def to_callback(secrets: Mapping[str, str]) -> None:
            await callback(PORTAL, account_name, {**secrets, **extra})

        return account.token, account.key_id, to_callback
    path = account.credential_file or default_credential_path(account_name)
    origin = token_origin(account.token, base_url)
    token, key_id = load_credentials(path, origin) or (account.token, account.key_id)

    async def to_file(secrets: Mapping[str, str]) -> None:
        await file_credential_store(path, {**secrets, "origin": origin})

    return token, key_id, to_file


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class KeyManager:
    """The current key of one Hemnet account, checked and rotated inside `window` seconds of
    its expiry (see the module docstring).

    Attributes:
        rotations: keys created so far.
    """

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
        shared: SharedCredentials | None = None,
        origin: str | None = None,
    ) -> None:
        self._shared = shared
        self._origin = origin
        self._client = client
        self._token = token
        self._key_id = key_id
        self._window = window
        self._revoke_old = revoke_old
        self._store = store
        self._clock = clock
        self._account = account
        self._expires_at: float | None = None  # None: not checked (yet, or since a 401)
        self._refused: str | None = None
        self._lock = asyncio.Lock()
        self.rotations = 0

    @property
    def token(self) -> SecretStr:
        return self._token

    @property
    def key_id(self) -> str | None:
        return self._key_id

    def _far(self) -> bool:
        """The checked key expires after the window: use it without asking Hemnet."""
        return self._expires_at is not None and self._clock() < self._expires_at - self._window

    async def fresh_token(self) -> SecretStr:
        """The token to send now: the key is checked when its check is not cached, and rotated
        when it expires within the window."""
        if not self._far():
            async with self._lock:
                if not self._far():
                    async with self._shared_lock():
                        await self._adopt_shared()
                        await self._check()
                        if not self._far():
                            await self._rotate()
        return self._token

    def _shared_lock(self) -> AbstractAsyncContextManager[Any]:
        """The account's lock across workers (a shared credential store), else nothing."""
        if self._shared is None:
            return nullcontext()
        return self._shared.lock(PORTAL, self._account)

    async def _adopt_shared(self) -> None:
        """Switch to the key another worker stored, when it comes from the same configured
        token (the rotation chain's `origin`)."""
        if self._shared is None:
            return
        stored = await self._shared.load(PORTAL, self._account)
        if not stored or stored.get("origin") != self._origin or not stored.get("token"):
            return
        if stored["token"] != self._token.get_secret_value():
            self._token = SecretStr(stored["token"])
            self._key_id = stored.get("key_id") or None
            self._expires_at = None

    async def after_unauthorized(self, used: SecretStr) -> SecretStr | None:
        """A request with `used` got 401: the token to resend it with once, or None to give up.

        The key is checked again: refused, it is given up (and not checked again for the other
        requests that got a 401 with it); due, it is rotated; valid and far from expiry, the
        401 was not about the key and stands.
        """
        async with self._lock:
            if used.get_secret_value() != self._token.get_secret_value():
                return self._token  # switched while the request was in flight
            if self._refused == used.get_secret_value():
                return None  # another request has checked this key already
            async with self._shared_lock():
                await self._adopt_shared()
                if used.get_secret_value() != self._token.get_secret_value():
                    return self._token  # another worker rotated it
                self._expires_at = None
                try:
                    await self._check()
                    if self._far():
                        return None
                    await self._rotate()
                except AuthenticationError:
                    self._refused = used.get_secret_value()
                    log.warning("hemnet_key_refused", account=self._account, key_id=self._key_id)
                    return None
            return self._token

    async def _check(self) -> None:
        """Read the key's expiry (`GET /keys/{id}`, the id found first when not configured)."""
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
                "GET /keys listed no key; set key_id", portal=PORTAL, account=self._account
            )
        newest = max(active, key=lambda k: _timestamp(k.get("lastUsedAt")) or 0.0)
        return str(newest["id"])

    async def _rotate(self) -> None:
        old_id, old_token = self._key_id, self._token
        stamp = dt.datetime.fromtimestamp(self._clock(), dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
        created = await self._client.create_key(
            f"listsync {self._account} {stamp}", token=old_token
        )
        new_token = SecretStr(str(created.field("authToken")))
        key = created.body.get("key")
        key = key if isinstance(key, dict) else {}
        new_id = str(key["id"]) if key.get("id") else None
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


def _not_sent(error: TransientError | UnknownOutcomeError) -> RequestNotSentError:
    """A key check or rotation that failed before the request it guards was sent."""
    return RequestNotSentError(
        f"{error.detail} (checking the API key; the request itself was not sent)",
        portal=PORTAL,
        account=error.account,
        request_id=error.request_id,
        status_code=error.status_code,
    )


class HemnetKeyAuth(HeaderAuth):
    """`Authorization: Bearer <token>` from the key manager, with one resend after a 401.

    Requests that already carry `Authorization` (none do on the adapter's client) pass as they
    are. A `HeaderAuth`: it only sets a header, so `PortalHttp` sends without httpx's objects.
    """

    def __init__(self, manager: KeyManager) -> None:
        self._manager = manager

    @override
    async def header_flow(self, headers: MutableMapping[str, str]) -> AsyncGenerator[None, int]:
        if "Authorization" in headers:
            yield
            return
        try:
            token = await self._manager.fresh_token()
        except (TransientError, UnknownOutcomeError) as exc:
            raise _not_sent(exc) from exc
        headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        status = yield
        if status != 401:
            return
        try:
            retry_with = await self._manager.after_unauthorized(token)
        except (TransientError, UnknownOutcomeError) as exc:
            raise _not_sent(exc) from exc  # the 401 applied nothing
        if retry_with is not None:
            headers["Authorization"] = f"Bearer {retry_with.get_secret_value()}"
            yield
