"""Helpers the conformance checks share: canonical paths, secret detection, log capture."""

from __future__ import annotations

import contextlib
import logging
import re
import types
import typing
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any

import structlog
from pydantic import BaseModel

from listsync.model import Listing

__all__ = [
    "CapturedLogs",
    "capture_all_logs",
    "find_secrets",
    "is_canonical_path",
]

_SEGMENT = re.compile(r"^([a-z_][a-z0-9_]*)((?:\[\d+\])*)$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")
_TEXT = "text"  # marker: the next segment is a language code
_FREE = "free"  # marker: anything below is allowed (extensions)

_BEARER = re.compile(r"(?i)\bbearer\s+(?!\*\*\*)[A-Za-z0-9._~+/=-]{8,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")
_HEX40_PARAM = re.compile(r"[?&][A-Za-z_]+=[0-9a-fA-F]{40}\b")


def _unwrap(annotation: Any, *, indexed: bool) -> Any:  # noqa: PLR0911  (one case per kind)
    """The model (or marker) one path segment leads to, or None for a leaf."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0], indexed=indexed)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                found = _unwrap(arg, indexed=indexed)
                if found is not None:
                    return found
        return None
    if origin in (tuple, list):
        return _unwrap(typing.get_args(annotation)[0], indexed=False) if indexed else None
    if origin is dict:
        value = typing.get_args(annotation)[1]
        return _FREE if typing.get_origin(value) is dict else _TEXT
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def is_canonical_path(path: str, model: type[BaseModel] = Listing) -> bool:
    """True when `path` names a field of the canonical model (`media[2].url`,
    `description.sv`, `address.postal_code`); `<listing>` names the whole listing."""
    if path == "<listing>":
        return True
    current: Any = model
    for segment in path.split("."):
        if current == _FREE:
            return True
        if current == _TEXT:
            if not _LANGUAGE.match(segment):
                return False
            current = None
            continue
        match = _SEGMENT.match(segment)
        if match is None or not (isinstance(current, type) and issubclass(current, BaseModel)):
            return False
        info = current.model_fields.get(match.group(1))
        if info is None:
            return False
        current = _unwrap(info.annotation, indexed=bool(match.group(2)))
    return True


def find_secrets(
    texts: Iterable[str], secrets: Iterable[str], *, patterns: bool = True
) -> list[str]:
    """Descriptions of every secret-looking thing in `texts` (never the secret itself).

    Args:
        secrets: the account's credential values, looked for verbatim.
        patterns: also look for unmasked Bearer tokens, JWTs and 40-hex signatures.
    """
    known = [s for s in secrets if s and len(s) >= 4]
    found: list[str] = []
    for index, text in enumerate(texts):
        for number, secret in enumerate(known):
            if secret in text:
                found.append(f"item {index}: credential #{number + 1} of the account in clear")
        if not patterns:
            continue
        if _BEARER.search(text):
            found.append(f"item {index}: an unmasked Bearer token")
        if _JWT.search(text):
            found.append(f"item {index}: a JWT-looking token")
        if _HEX40_PARAM.search(text):
            found.append(f"item {index}: a 40-hex signature in a query string")
    return found


TRANSPORT_LOGGERS = ("httpx", "httpcore", "hpack", "aiohttp")
"""Third-party loggers that print request URLs verbatim (httpx at INFO). A library cannot
redact them without configuring logging; the application does (listsync's CLI does), so the
kit looks in them only for the account's own credentials, not for per-request signatures."""


class CapturedLogs:
    """Everything logged while capturing: structlog event dicts and stdlib records."""

    def __init__(self) -> None:
        self.events: list[MutableMapping[str, Any]] = []
        self.records: list[str] = []
        self.transport_records: list[str] = []

    def texts(self) -> list[str]:
        """structlog events and stdlib records of every logger but the transport ones."""
        return [repr(event) for event in self.events] + self.records


class _ListHandler(logging.Handler):
    def __init__(self, captured: CapturedLogs) -> None:
        super().__init__(logging.DEBUG)
        self.captured = captured

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.name}: {record.getMessage()} {record.__dict__!r}"
        if record.name.split(".")[0] in TRANSPORT_LOGGERS:
            self.captured.transport_records.append(text)
        else:
            self.captured.records.append(text)


@contextlib.contextmanager
def capture_all_logs() -> Iterator[CapturedLogs]:
    """Capture structlog events (`structlog.testing.capture_logs`) and every stdlib record."""
    captured = CapturedLogs()
    root = logging.getLogger()
    handler = _ListHandler(captured)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with structlog.testing.capture_logs() as events:
            captured.events = events
            yield captured
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
