"""Redaction: the one place that decides what a secret looks like.

Used by the logging processors, error messages, reports and the cassette scrubber, so that no
header, query parameter or body field holding a secret reaches anything a person can read.

Two rules:

- by key: a mapping value (header, query parameter, JSON field, log key) whose key looks like a
  credential (`SECRET_KEY_PATTERN`: authorization, token, secret, password, api key, Booli's
  `hash`/`callerId`/`unique`, ...) is replaced by `MASK`;
- by shape: inside free text, `Bearer <x>` / `Basic <x>`, JWTs and `key=value` or
  `"key": "value"` pairs with such keys are masked (URLs in httpx's own log lines, error
  messages that quote a request).

`pydantic.SecretStr`/`SecretBytes` values are always masked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import SecretBytes, SecretStr

__all__ = ["MASK", "SECRET_KEY_PATTERN", "is_secret_key", "redact", "redact_text"]

MASK = "***"

SECRET_KEY_PATTERN = re.compile(
    r"(authorization|auth_?token|access_?token|refresh_?token|token|secret|password|passwd|"
    r"api_?key|apikey|private_?key|hash|caller_?id|unique|client_?secret|cookie|signature)",
    re.IGNORECASE,
)

_AUTH_HEADER_VALUE = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# query strings / form bodies / JSON-ish key=value, key: value or "key": "value"
_KEY_VALUE = re.compile(
    r"(?i)(\b(?:caller_?id|hash|unique|(?:access|refresh|id|auth)_?token|token|client_?secret|"
    r"secret|api_?key|private_?key|password|passwd|signature)[\"']?\s*[=:]\s*[\"']?)"
    r"([^&\s\"',;}\]]+)"
)


def is_secret_key(key: str) -> bool:
    """True when a mapping key or header name usually holds a secret."""
    return bool(SECRET_KEY_PATTERN.search(key))


def redact_text(text: str) -> str:
    """Mask bearer tokens, JWTs and secret-looking `key=value` pairs inside free text."""
    text = _AUTH_HEADER_VALUE.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _JWT.sub(MASK, text)
    return _KEY_VALUE.sub(lambda m: f"{m.group(1)}{MASK}", text)


def redact(value: Any) -> Any:
    """Recursively mask secret-keyed values and secret-looking text in a structure.

    Mappings come back as plain dicts, lists and tuples keep their type, other values are
    returned unchanged.
    """
    if isinstance(value, SecretStr | SecretBytes):
        return MASK
    if isinstance(value, Mapping):
        return {
            k: (MASK if isinstance(k, str) and is_secret_key(k) and v else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    if isinstance(value, str):
        return redact_text(value)
    return value
