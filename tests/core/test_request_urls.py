"""`RequestBuilder.url_text` (the lean path's URL) is the text of the URL httpx would build.

The lean path joins plain paths and takes plain absolute URLs (an Immowelt media URL) as they
are, without parsing them; these properties compare that with `httpx.URL`'s reading for paths
and URLs made of the characters that matter (dots, slashes, ports, digits in hosts,
characters that need escaping).
"""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from listsync._requests import RequestBuilder

BASES = ("https://api.example.com/v1", "https://api.example.com/v1/", "http://127.0.0.1:8123")
_SEGMENT = st.text(alphabet="aZ09_-~.%: é?#@", min_size=0, max_size=6)
_PATHS = st.lists(_SEGMENT, min_size=1, max_size=5).map("/".join)
_HOSTS = st.one_of(
    st.sampled_from(["cdn.example.org", "127.0.0.1", "256.1.1.1", "01.2.3.4", "1a2b3c4", "a..b"]),
    st.text(alphabet="az09.-", min_size=1, max_size=12),
)
_PORTS = st.one_of(st.just(""), st.integers(0, 70000).map(lambda p: f":{p}"), st.just(":080"))


def builder(base: str) -> RequestBuilder:
    return RequestBuilder(base, httpx.Headers(), httpx.Timeout(5).as_dict())


def httpx_text(build: RequestBuilder, path: str) -> str | None:
    try:
        return str(build.url(path))
    except httpx.InvalidURL:
        return None


def lean_text(build: RequestBuilder, path: str) -> str | None:
    try:
        return build.url_text(path)
    except httpx.InvalidURL:
        return None


@pytest.mark.parametrize("base", BASES)
@settings(max_examples=300, deadline=None)
@given(path=_PATHS)
def test_relative_paths_join_as_httpx_joins_them(base: str, path: str) -> None:
    build = builder(base)
    assert lean_text(build, path) == httpx_text(build, path)


@settings(max_examples=600, deadline=None)
@given(scheme=st.sampled_from(["http", "https", "HTTP", "ftp"]), host=_HOSTS, port=_PORTS,
       path=_PATHS)  # fmt: skip
def test_absolute_urls_are_taken_as_httpx_reads_them(
    scheme: str, host: str, port: str, path: str
) -> None:
    build = builder(BASES[0])
    url = f"{scheme}://{host}{port}/{path}"
    assert lean_text(build, url) == httpx_text(build, url)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("listings/abc-1/images", "https://api.example.com/v1/listings/abc-1/images"),
        ("/listings/x", "https://api.example.com/v1/listings/x"),
        ("http://127.0.0.1:8123/_mirror/a.jpg", "http://127.0.0.1:8123/_mirror/a.jpg"),
        ("http://127.0.0.1:80/_mirror/a.jpg", "http://127.0.0.1/_mirror/a.jpg"),
        ("listings/../x", "https://api.example.com/v1/x"),
        ("listings/a b", "https://api.example.com/v1/listings/a%20b"),
    ],
)
def test_examples(path: str, expected: str) -> None:
    assert builder(BASES[0]).url_text(path) == expected


_PARAM_VALUES = st.one_of(
    st.text(alphabet="aZ09_-~. /é&=+", max_size=5),
    st.integers(-5, 10**6),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
)


@settings(max_examples=400, deadline=None)
@given(
    path=st.sampled_from(["items", "items/1/images", "/x", "items?a=1", "a b"]),
    params=st.dictionaries(st.text(alphabet="aZ09_-~ &", min_size=1, max_size=4), _PARAM_VALUES,
                           max_size=3),
)  # fmt: skip
def test_query_parameters_are_written_as_httpx_writes_them(
    path: str, params: dict[str, object]
) -> None:
    build = builder(BASES[0])
    lean = build.query_url_text(path, params)
    if lean is not None:
        assert lean == str(build.build("GET", path, params=params).url)
