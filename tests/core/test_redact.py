"""Redaction of secrets by key and by shape, and secret-free error messages."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from listsync.errors import AuthenticationError, ConfigurationError
from listsync.redact import MASK, is_secret_key, redact, redact_text


@pytest.mark.parametrize(
    "key",
    ["Authorization", "token", "authToken", "access_token", "client_secret", "clientSecret",
     "api_key", "apiKey", "password", "hash", "callerId", "caller_id", "unique", "Cookie"],
)  # fmt: skip
def test_secret_keys_are_recognised(key: str) -> None:
    """Header names and fields that hold credentials are secret keys."""
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["title", "external_ref", "url", "time", "status", "q"])
def test_ordinary_keys_are_not_secret(key: str) -> None:
    """Listing fields and harmless query parameters are left alone."""
    assert not is_secret_key(key)


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("GET /listings?callerId=acme&time=1&unique=ab12cd34&hash=deadbeef01", "deadbeef01"),
        ("GET /listings?callerId=acme&time=1&unique=ab12cd34&hash=deadbeef01", "acme"),
        ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ('{"client_secret": "s3cr3t!", "scope": "x"}', "s3cr3t!"),
        ("grant_type=client_credentials&client_secret=s3cr3t", "s3cr3t"),
        ('{"authToken": "tok123", "key": {"id": 1}}', "tok123"),
        ("got eyJhbGciOi.eyJzdWIiOiJ4.c2ln back", "eyJhbGciOi.eyJzdWIiOiJ4.c2ln"),
        ("password: hunter22", "hunter22"),
    ],
)
def test_redact_text_masks_secret_shapes(text: str, leaked: str) -> None:
    """Bearer/Basic values, JWTs and secret key=value pairs are masked inside free text."""
    masked = redact_text(text)
    assert leaked not in masked
    assert MASK in masked


def test_redact_text_keeps_ordinary_text() -> None:
    """Text without secrets comes back unchanged (token_type is not a token)."""
    text = 'listing SE-1 refused: "token_type": "Bearer" time=17 status=400'
    assert redact_text(text) == text


def test_redact_walks_structures() -> None:
    """Nested mappings, lists and tuples are masked by key and by shape; SecretStr always."""
    data = {
        "headers": {"Authorization": "Bearer t0k3n", "Accept": "application/json"},
        "params": [("q", "nacka"), ("hash", "abc")],
        "body": {"client_secret": "s", "empty_token": "", "nested": [{"apiKey": "k"}]},
        "key": SecretStr("k2"),
        "count": 3,
    }
    assert redact(data) == {
        "headers": {"Authorization": MASK, "Accept": "application/json"},
        "params": [("q", "nacka"), ("hash", "abc")],  # a pair, not a mapping: left alone
        "body": {"client_secret": MASK, "empty_token": "", "nested": [{"apiKey": MASK}]},
        "key": MASK,
        "count": 3,
    }


def test_error_messages_never_contain_secrets() -> None:
    """Errors pass their message through redaction; str() names portal and request id."""
    error = AuthenticationError(
        "refused Authorization: Bearer live-key-123",
        portal="hemnet",
        account="acme",
        request_id="req-9",
    )
    assert "live-key-123" not in str(error)
    assert str(error).startswith("hemnet account 'acme': ")
    assert str(error).endswith("(request id req-9)")
    assert "s3cr3t" not in str(ConfigurationError("bad client_secret=s3cr3t"))
