"""Signing: the hash Booli expects, fresh nonces on every request and retry."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from listsync.http import PortalHttp
from listsync_booli.auth import BooliSigningAuth, new_unique, sign
from listsync_booli.errors import map_error


def sha1_hex(data: bytes) -> str:
    """The reference digest, computed here without the code under test."""
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def test_sign_matches_an_independent_sha1() -> None:
    """The hash is sha1(callerId + time + key + unique) as 40 lowercase hex."""
    expected = sha1_hex(b"acme1323793365s3cretf4508htyuk98fe4f")
    assert sign("acme", "1323793365", "s3cret", "f4508htyuk98fe4f") == expected
    assert re.fullmatch(r"[0-9a-f]{40}", expected)


@given(
    caller=st.text(min_size=1, max_size=20),
    key=st.text(min_size=1, max_size=40),
    stamp=st.integers(min_value=0, max_value=2**33),
)
def test_sign_is_the_concatenation_hash_for_any_input(caller: str, key: str, stamp: int) -> None:
    """For any caller, key and time the signature equals an independently built digest."""
    unique = "abcdefghijklmnop"
    raw = (caller + str(stamp) + key + unique).encode()
    assert sign(caller, str(stamp), key, unique) == sha1_hex(raw)


def test_new_unique_is_16_random_characters() -> None:
    """Nonces are 16 characters and do not repeat."""
    values = {new_unique() for _ in range(200)}
    assert len(values) == 200
    assert all(len(v) == 16 and v.isalnum() for v in values)


def test_auth_adds_the_four_parameters_with_injected_clock_and_nonce() -> None:
    """The request carries callerId, time (seconds), unique and the matching hash."""
    auth = BooliSigningAuth(
        SecretStr("acme"), SecretStr("k3y"), clock=lambda: 1700000000.9, nonce=lambda: "u" * 16
    )
    request = httpx.Request("GET", "https://api.booli.se/listings?q=nacka")
    signed = next(auth.auth_flow(request))
    params = signed.url.params
    assert params["q"] == "nacka"
    assert params["callerId"] == "acme"
    assert params["time"] == "1700000000"
    assert params["unique"] == "u" * 16
    assert params["hash"] == sha1_hex(b"acme1700000000k3y" + b"u" * 16)
    assert "k3y" not in str(signed.url)


def test_repr_hides_the_credentials() -> None:
    """The auth object's repr shows no caller id or key."""
    text = repr(BooliSigningAuth(SecretStr("acme-caller"), SecretStr("the-key")))
    assert "acme-caller" not in text
    assert "the-key" not in text


async def test_every_retry_is_signed_with_a_new_unique_and_time(no_backoff: None) -> None:
    """A request retried after a 503 gets a fresh nonce and the current time."""
    seen: list[httpx.QueryParams] = []
    ticks = iter([1000.0, 1001.0, 1002.0])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params)
        if len(seen) == 1:
            return httpx.Response(503, text="FAILURE_SERVICE_UNAVAILABLE")
        return httpx.Response(200, json={"ok": True})

    auth = BooliSigningAuth(SecretStr("acme"), SecretStr("k"), clock=lambda: next(ticks))
    http = PortalHttp(
        portal="booli",
        account="default",
        base_url="https://api.booli.se",
        error_mapper=map_error,
        auth=auth,
        transport=httpx.MockTransport(handler),
    )
    async with http:
        response = await http.request("GET", "/listings", params={"q": "nacka"})
    assert response.status == 200
    assert len(seen) == 2
    assert seen[0]["unique"] != seen[1]["unique"]
    assert [p["time"] for p in seen] == ["1000", "1001"]
    for params in seen:
        raw = f"acme{params['time']}k{params['unique']}".encode()
        assert params["hash"] == sha1_hex(raw)


@pytest.mark.parametrize("stamp", [0.0, 1.5e9])
def test_time_is_whole_unix_seconds(stamp: float) -> None:
    """`time` is an integer number of seconds, never milliseconds."""
    auth = BooliSigningAuth(SecretStr("a"), SecretStr("b"), clock=lambda: stamp)
    assert auth.signature_params()["time"] == str(int(stamp))
