"""The settings every adapter shares: the portal's (`AdapterSettings`) and an account's.

Checked when they are built, whatever their source (TOML, environment, a dict from an
embedding application): URLs are http(s) with a host, carry no user name or password, and use
plain `http://` only towards this machine (loopback) or a special-use test name that never
resolves on the internet (`.test`, `.localhost`, `.invalid`, `.example`, as RFC 6761 and RFC 2606
reserve them: in-process sandboxes use them) unless `allow_insecure_http` says otherwise,
because requests carry credentials; strings that end up in HTTP headers (the user
agent, every credential) hold no control characters (CR/LF would split a header) and only
characters a header can carry.
"""

from __future__ import annotations

import ipaddress
import math
import urllib.parse
from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = ["AccountSettings", "AdapterSettings", "check_header_value", "check_portal_url"]

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
_SPECIAL_USE = (".test", ".localhost", ".invalid", ".example")


def _is_loopback(host: str) -> bool:
    """True for this machine, or a name that never resolves on the internet."""
    name = host.lower().rstrip(".")
    if name in _LOOPBACK_NAMES or name.endswith(_SPECIAL_USE):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_portal_url(value: str, *, allow_insecure_http: bool = False) -> str:
    """`value` if it is a URL listsync may send credentials to, else a ValueError saying why.

    Args:
        allow_insecure_http: accept `http://` to hosts other than loopback.
    """
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL with a host, e.g. https://api.example.com")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "must not contain a user name or password: put credentials in their settings"
        )
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
        raise ValueError(
            "uses plain http:// to a host other than this machine, which would send "
            "credentials unencrypted: use https://, or set allow_insecure_http = true"
        )
    return value


def check_header_value(value: str) -> str:
    """`value` if it can be sent in an HTTP header, else a ValueError (its text not echoed)."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("contains a control character (such as a line break)")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("contains characters an HTTP header cannot carry") from None
    return value


class AdapterSettings(BaseModel):
    """Portal-level settings; adapters subclass it with their own options.

    Every setting can come from the TOML file (`[portals.<name>]`) or the environment
    (`LISTSYNC_<PORTAL>_<SETTING>`). Every setting whose name is `base_url` or ends in `_url`
    is checked as a URL credentials may be sent to (see the module docstring).

    Attributes:
        timeout: seconds one request attempt may take in all: connecting, sending and reading
            the whole answer.
        max_response_bytes: the largest answer read; a larger one is a portal error.
        max_attempts: sends of one request, the first included.
        max_retry_wait: the longest `Retry-After` waited for; a longer one fails the request
            as rate-limited at once.
        retry_backoff: the first wait between two attempts, doubled for each further one.
        max_retry_time: no retry of a request starts later than this many seconds after its
            first send.
        breaker_threshold: failures in a row (no connection, timeouts, 5xx) after which the
            account's requests fail at once as "portal unavailable".
        breaker_cooldown: seconds before one probe request is let through again.
        allow_insecure_http: accept plain `http://` URLs to hosts other than loopback.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    # First, so the URL checks below (which run field by field) know it.
    allow_insecure_http: bool = False
    base_url: str
    timeout: float = Field(default=30.0, gt=0)
    max_response_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    max_concurrency: int = Field(default=16, ge=1)
    requests_per_second: float | None = Field(default=None, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    max_retry_wait: float = Field(default=60.0, ge=0)
    retry_backoff: float = Field(default=0.1, ge=0)
    max_retry_time: float = Field(default=120.0, gt=0)
    breaker_threshold: int = Field(default=10, ge=1)
    breaker_cooldown: float = Field(default=10.0, ge=0)
    user_agent: str | None = None

    @field_validator(
        "timeout",
        "max_retry_wait",
        "retry_backoff",
        "max_retry_time",
        "breaker_cooldown",
        "requests_per_second",
    )
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("user_agent")
    @classmethod
    def _header_safe(cls, value: str | None) -> str | None:
        return None if value is None else check_header_value(value)

    @field_validator("*", mode="after")
    @classmethod
    def _urls(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name or ""
        if value is not None and (name == "base_url" or name.endswith("_url")):
            allow = bool(info.data.get("allow_insecure_http", False))
            check_portal_url(str(value), allow_insecure_http=allow)
        return value


class AccountSettings(BaseModel):
    """One portal account (one agency's credentials); adapters subclass it.

    `agencies` lists the agency `external_ref`s this account serves; the account named
    `default` serves agencies that no other account lists. Every `SecretStr` field is checked
    to be sendable in an HTTP header (no control characters).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    agencies: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _secrets_header_safe(self) -> Self:
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                try:
                    check_header_value(value.get_secret_value())
                except ValueError as exc:
                    raise ValueError(f"{name} {exc}") from None
        return self
