"""The mirror URL of a media URL: a plain URL is read without `urlsplit`, to the same result."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from listsync_immowelt import ImmoweltAdapter

MIRROR = "http://127.0.0.1:8123/_mirror/"


def split_reading(url: str) -> str:
    parts = urlsplit(url)
    query = f"?{parts.query}" if parts.query else ""
    return f"{MIRROR.rstrip('/')}/{parts.netloc}{parts.path}{query}"


class _Settings:
    media_mirror = MIRROR


@settings(max_examples=2000, deadline=None)
@given(
    scheme=st.sampled_from(["http://", "https://", "HTTP://", "ftp://"]),
    rest=st.text(alphabet="a0.:-/%_~?#@ \t\nÅ", max_size=24),
)
def test_media_source_reads_urls_as_urlsplit(scheme: str, rest: str) -> None:
    adapter: Any = object.__new__(ImmoweltAdapter)
    adapter.settings = _Settings()
    url = scheme + rest
    assert ImmoweltAdapter._media_source(adapter, url) == split_reading(url)
