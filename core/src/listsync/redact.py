"""Redaction: the one place that decides what a secret looks like.

Used by the logging processors, error messages, reports and the cassette scrubber, so that no
header, query parameter or body field holding a secret reaches anything a person can read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MASK", "SECRET_KEY_PATTERN", "is_secret_key", "redact", "redact_text"]

MASK = "***"

SECRET_KEY_PATTERN = re.compile(
    r"(authorization|auth_?token|access_?token|refresh_?token|token|secret|password|"
    r"api_?key|apikey|private_?key|hash|caller_?id|unique|client_?secret|cookie)",
    re.IGNORECASE,
)

_TEXT_PATTERNS = (
    # Authorization header values
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}"),
    # query strings / form bodies / JSON-ish key=value or "key": "value"
    re.compile(
        r"(?i)((?:callerId|hash|unique|access_token|refresh_token|client_secret|authToken|"
        r"api_?key|password|token)\"?\s*[=:]\s*\"?)([^&\s\"',}]+)"
    ),
)


def is_secret_key(key: str) -> bool:
    """True when a mapping key or header name usually holds a secret."""
    return bool(SECRET_KEY_PATTERN.search(key))


def redact_text(text: str) -> str:
    """Mask bearer tokens and secret-looking `key=value` pairs inside free text."""
    text = _TEXT_PATTERNS[0].sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _TEXT_PATTERNS[1].sub(lambda m: f"{m.group(1)}{MASK}", text)


def redact(value: Any) -> Any:
    """Recursively mask secret-keyed values and secret-looking text in a structure."""
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
