"""The settings every adapter shares are checked when built, whatever their source."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from listsync.adapter import AccountSettings, AdapterSettings


class TokenAccount(AccountSettings):
    token: SecretStr


class TokenSettings(AdapterSettings):
    token_url: str | None = None


@pytest.mark.parametrize(
    "url",
    [
        "https://api.portal.example.com/v1",
        "http://127.0.0.1:8000",
        "http://[::1]:9000/",
        "http://localhost:1234",
        "http://hemnet.test",
        "http://sandbox.localhost",
    ],
)
def test_accepted_urls(url: str) -> None:
    """https anywhere; plain http only to this machine or special-use test names."""
    assert AdapterSettings(base_url=url).base_url == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://api.hemnet.se", "plain http://"),
        ("http://10.0.0.1/", "plain http://"),
        ("http://169.254.169.254", "plain http://"),
        ("ftp://files.example.com", "http(s) URL with a host"),
        ("", "http(s) URL with a host"),
        ("api.hemnet.se", "http(s) URL with a host"),
        ("https://user:hunter2@api.example.com", "user name or password"),
    ],
)
def test_refused_urls_name_the_setting_and_never_echo_it(url: str, says: str) -> None:
    """A URL credentials must not go to is refused with the reason; the value is not echoed."""
    with pytest.raises(ValidationError) as caught:
        AdapterSettings(base_url=url)
    text = str(caught.value)
    assert says in text
    assert "base_url" in text
    assert "hunter2" not in text


def test_every_url_setting_is_checked_and_insecure_http_can_be_allowed() -> None:
    """`token_url` (any `*_url`) is checked like `base_url`; `allow_insecure_http` opts out."""
    with pytest.raises(ValidationError, match=r"token_url\n  Value error, uses plain http"):
        TokenSettings(base_url="https://a.example.com", token_url="http://auth.example.com/t")
    settings = TokenSettings(
        base_url="http://a.example.com",
        token_url="http://auth.example.com/t",
        allow_insecure_http=True,
    )
    assert settings.token_url == "http://auth.example.com/t"


@pytest.mark.parametrize("bad", ["tok\r\nX-Evil: 1", "tok\nen", "tok\x00", "tök☃"])
def test_credentials_and_user_agent_must_fit_in_a_header(bad: str) -> None:
    """CR/LF, control characters and characters a header cannot carry are refused at load
    time, without echoing the secret."""
    with pytest.raises(ValidationError) as caught:
        TokenAccount(token=SecretStr(bad))
    assert "token" in str(caught.value)
    assert bad not in str(caught.value)
    with pytest.raises(ValidationError, match="user_agent"):
        AdapterSettings(base_url="https://a.example.com", user_agent=bad)


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_numbers_must_be_finite(value: float) -> None:
    """An infinite or NaN timeout is refused instead of failing every request later."""
    with pytest.raises(ValidationError, match="timeout"):
        AdapterSettings(base_url="https://a.example.com", timeout=value)
