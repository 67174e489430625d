"""The lean path's answer headers read as `httpx.Headers` reads the same raw pairs."""

from __future__ import annotations

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from listsync.http import _AnswerHeaders

_NAMES = st.sampled_from([b"Content-Type", b"content-type", b"X-Request-Id", b"Set-Cookie",
                          b"Retry-After", b"X-\xc3\xa9", b"X-\xe9"])  # fmt: skip
_VALUES = st.binary(min_size=0, max_size=6)
_RAW = st.lists(st.tuples(_NAMES, _VALUES), max_size=6)
_LOOKUPS = ("content-type", "Content-Type", "SET-COOKIE", "x-request-id", "retry-after", "nope")


@settings(max_examples=400, deadline=None)
@given(raw=_RAW)
def test_reads_as_httpx_headers(raw: list[tuple[bytes, bytes]]) -> None:
    theirs = httpx.Headers(raw)
    ours = _AnswerHeaders(raw)
    expected: dict[str, str] = {}  # not dict(theirs): httpx fails that for Latin-1 names
    for name, value in theirs.multi_items():
        expected[name] = f"{expected[name]}, {value}" if name in expected else value
    assert dict(ours) == expected
    assert list(ours) == list(theirs)
    for name in (*_LOOKUPS, *(n for n in theirs if n.isascii())):
        assert ours.get(name) == theirs.get(name)
        assert (name in ours) == (name in theirs)
        if name in theirs:
            assert ours[name] == theirs[name]
