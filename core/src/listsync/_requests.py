"""Building the `httpx.Request`s of one portal client: what `httpx.AsyncClient.build_request`
builds, for a fraction of its CPU.

For every request httpx's client parses the path, re-parses the joined URL, copies and merges
its headers twice, looks headers up one by one to add Host and the content headers, and checks
every header's encoding. A batch run sends a million small requests, so here the joined URL is
cached per path and joined by text (one parse), the client's headers are copied only when a
request adds its own, and a JSON or bytes body gets its Host and content headers in one list,
in the order httpx puts them. Requests with query parameters or other kinds of body go through
`httpx.Request` unchanged. tests/core/test_http.py compares both builds header by header.
"""

from __future__ import annotations

import json as jsonlib
import re
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

__all__ = ["AnswerTooLargeError", "RequestBuilder", "json_bytes"]

# What httpx.AsyncClient sends by default (the User-Agent comes with the client's headers).
DEFAULT_HEADERS = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate", "Connection": "keep-alive"}
_URL_CACHE_SIZE = 2048
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_CONTENT_HEADERS = frozenset({b"content-length", b"transfer-encoding"})
# Paths and URLs httpx leaves as they are (see `RequestBuilder.url_text`).
_SIMPLE_PATH = re.compile(r"[A-Za-z0-9_~./-]+")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_SIMPLE_URL = re.compile(
    r"(?P<scheme>https?)://"
    rf"(?:[a-z][a-z0-9-]*(?:\.[a-z][a-z0-9-]*)*|{_OCTET}(?:\.{_OCTET}){{3}})"
    r"(?::(?P<port>[1-9][0-9]{0,4}))?(?P<path>(?:/[A-Za-z0-9_~.-]+)+)"
)
_DEFAULT_PORT = {"http": "80", "https": "443"}
_SIMPLE_QUERY = re.compile(r"[A-Za-z0-9_.~-]+")


class AnswerTooLargeError(httpx.TransportError):
    """A transport stopped reading an answer larger than the client's `max_response_bytes`."""


class RequestBuilder:
    """Requests relative to one base URL with one set of client headers.

    Args:
        base_url: the portal's base URL (paths are joined below it, as httpx's `base_url`).
        headers: the client's headers, sent with every request.
        timeout: httpx's timeout extension (`httpx.Timeout(...).as_dict()`).
    """

    def __init__(self, base_url: str, headers: httpx.Headers, timeout: dict[str, Any]) -> None:
        self.base_url = _with_trailing_slash(httpx.URL(base_url))
        self.headers = headers
        self.timeout = timeout
        self._extensions = {"timeout": timeout}
        # The base URL as text ending in "/" (joined to plain paths), if it is that simple.
        self._base_text = _joinable_text(self.base_url)
        self._urls: dict[str, httpx.URL] = {}

    def build(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        """The request `httpx.AsyncClient(base_url=..., headers=...).build_request` builds."""
        if headers:
            merged = httpx.Headers(self.headers)
            merged.update(headers)
        else:
            merged = self.headers
        url = self.url(path)
        plain_body = content is None or (isinstance(content, bytes) and json is None)
        if params is not None or not plain_body:
            return httpx.Request(
                method,
                url,
                content=content,
                json=json,
                params=params,
                headers=merged,
                extensions=self._extensions,
            )
        method = method.upper()
        raw = merged.raw
        names = {name.lower() for name, _ in raw}
        if json is not None:
            body = json_bytes(json)
            trailing = [(b"Content-Length", str(len(body)).encode())]
            if b"content-type" not in names:
                trailing.append((b"Content-Type", b"application/json"))
        else:
            body = content or b""
            trailing = [(b"Content-Length", str(len(body)).encode())] if body else []
        trailing = [h for h in trailing if h[0].lower() not in names]
        leading = []
        if b"host" not in names and url.host:
            leading.append((b"Host", url.netloc))
        if not names & _CONTENT_HEADERS and not trailing and method in _BODY_METHODS:
            leading.append((b"Content-Length", b"0"))
        request = httpx.Request(
            method,
            url,
            headers=[*leading, *raw, *trailing],
            stream=httpx.ByteStream(body),
            extensions=self._extensions,
        )
        request.read()  # a bytes body: readable as `request.content`, like httpx's own
        return request

    def url_text(self, path: str) -> str:
        """`str(self.url(path))`, by concatenation when that is what httpx would give: a
        relative path or an absolute http(s) URL of letters, digits and `-._~/` only (nothing
        to escape or normalise: no dot segment, no empty segment, no default port)."""
        base = self._base_text
        if _SIMPLE_PATH.fullmatch(path) and "/." not in path and "//" not in path:
            if base is not None and not path.startswith("."):
                return base + path.lstrip("/")
        else:
            absolute = _SIMPLE_URL.fullmatch(path)
            if absolute is not None and "/." not in absolute["path"]:
                port = absolute["port"]
                if port is None or (
                    port != _DEFAULT_PORT[absolute["scheme"]] and int(port) < 65536
                ):
                    return path
        return str(self.url(path))

    def query_url_text(self, path: str, params: Mapping[str, Any]) -> str | None:
        """`str(self.build("GET", path, params=params).url)` when the parameters are plain
        (`str` or `int` values, names and values of letters, digits and `-._~` only, a path
        without a query of its own): they are appended as they are. None otherwise (the
        request takes the httpx path)."""
        if "?" in path:
            return None
        parts = []
        for name, value in params.items():
            kind = type(value)
            text = value if kind is str else str(value) if kind is int else None
            if (
                text is None
                or not _SIMPLE_QUERY.fullmatch(name)
                or not _SIMPLE_QUERY.fullmatch(text)
            ):
                return None
            parts.append(f"{name}={text}")
        url = self.url_text(path)
        return f"{url}?{'&'.join(parts)}" if parts else url

    def url(self, path: str) -> httpx.URL:
        """`path` joined to the base URL the way httpx joins them, cached per path."""
        url = self._urls.get(path)
        if url is None:
            if self._base_text and _plain_path(path):  # one parse of the joined text
                url = httpx.URL(self._base_text + path.lstrip("/"))
            else:
                url = httpx.URL(path)
                if url.is_relative_url:
                    base = self.base_url
                    url = base.copy_with(raw_path=base.raw_path + url.raw_path.lstrip(b"/"))
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()
            self._urls[path] = url
        return url


def json_bytes(value: Any) -> bytes:
    """The body httpx sends for `json=value`: compact JSON in UTF-8.

    orjson writes the bytes `json.dumps(value, ensure_ascii=False, separators=(",", ":"))`
    writes for the values request bodies hold (strings, integers, booleans, None, dicts with
    string keys, lists and tuples, floats), 10-15x faster. The one difference: a float under
    1e-4 may be written in another notation of the same number (`1e-7` for `1e-07`,
    `0.00006103515625` for `6.103515625e-05`). What orjson cannot write as-is (non-string
    keys, an integer over 64 bits, other types) goes through `json`, which writes it or raises
    as before; NaN and Infinity, which orjson would write as `null`, are refused as `json`
    refuses them (`ValueError`).
    """
    try:
        body = orjson.dumps(value)
    except TypeError:
        text = jsonlib.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode("utf-8")
    if b"null" in body and _has_nan(value):
        raise ValueError("Out of range float values are not JSON compliant")
    return body


def _has_nan(value: Any) -> bool:
    """True when `value` holds a NaN or infinite float anywhere (the rare `null` check)."""
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))  # noqa: PLR0124
    if isinstance(value, dict):
        return any(_has_nan(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_nan(item) for item in value)
    return False


def _joinable_text(base: httpx.URL) -> str | None:
    """`base` as text that a plain path can be appended to; None if it has a query/fragment."""
    if base.query or base.fragment:
        return None
    text = str(base)
    return text if text.endswith("/") else text + "/"


def _plain_path(path: str) -> bool:
    """A path with no scheme, authority or fragment (joining it is plain concatenation)."""
    return "://" not in path and not path.startswith("//") and "#" not in path


def _with_trailing_slash(url: httpx.URL) -> httpx.URL:
    """A base URL ending in "/", so relative paths join below it (as httpx's base_url does)."""
    if url.raw_path.endswith(b"/"):
        return url
    return url.copy_with(raw_path=url.raw_path + b"/")
