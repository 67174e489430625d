"""Booli request signing (Booli API v2; Booli's API guide, section "Autentisering").

Every request carries four query parameters: `callerId`, `time` (unix seconds), `unique` (16
random characters, new for every request and every retry) and
`hash = sha1(callerId + time + key + unique)` as 40 lowercase hex characters. The private key
itself is never sent.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import time
from collections.abc import Callable, Generator

import httpx
from pydantic import SecretStr

__all__ = ["SIGNATURE_PARAMS", "BooliSigningAuth", "new_unique", "sign"]

SIGNATURE_PARAMS = frozenset({"callerId", "time", "unique", "hash"})
"""The query parameters the signature adds; caches and logs leave them out."""

_UNIQUE_ALPHABET = string.ascii_lowercase + string.digits
UNIQUE_LENGTH = 16


def new_unique() -> str:
    """A fresh 16-character nonce from a cryptographic source."""
    return "".join(secrets.choice(_UNIQUE_ALPHABET) for _ in range(UNIQUE_LENGTH))


def sign(caller_id: str, timestamp: str, key: str, unique: str) -> str:
    """`sha1(callerId + time + key + unique)` as 40 lowercase hex characters."""
    digest = hashlib.sha1(  # Booli's documented scheme, not our choice of hash
        f"{caller_id}{timestamp}{key}{unique}".encode(), usedforsecurity=False
    )
    return digest.hexdigest()


class BooliSigningAuth(httpx.Auth):
    """Adds `callerId`, `time`, `unique` and `hash` to every request it sends.

    httpx runs the flow once per sent request, so each retry of `PortalHttp` is signed afresh
    with a new `time` and `unique`.

    Args:
        caller_id: the caller id Booli registered.
        api_key: the private key.
        clock: unix time in seconds (injectable for tests).
        nonce: produces the `unique` value (injectable for tests).
    """

    def __init__(
        self,
        caller_id: SecretStr,
        api_key: SecretStr,
        *,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = new_unique,
    ) -> None:
        self._caller_id = caller_id
        self._api_key = api_key
        self._clock = clock
        self._nonce = nonce

    def signature_params(self) -> dict[str, str]:
        """A fresh set of the four signature parameters."""
        caller_id = self._caller_id.get_secret_value()
        timestamp = str(int(self._clock()))
        unique = self._nonce()
        digest = sign(caller_id, timestamp, self._api_key.get_secret_value(), unique)
        return {"callerId": caller_id, "time": timestamp, "unique": unique, "hash": digest}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign `request` in its query string."""
        request.url = request.url.copy_merge_params(self.signature_params())
        yield request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(caller_id=SecretStr('**********'))"
