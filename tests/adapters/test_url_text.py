"""`listsync.model.url_text` reads a URL's text from pydantic-core's inner URL: the
same text as `str(url)`, for URLs whose host, path or query need encoding; and Immowelt's file
name taken with `rpartition`/`partition` is the one `media_file_name` gives."""

from __future__ import annotations

import pytest
from pydantic import AnyHttpUrl

from listsync.io import bundled_examples, read_listings
from listsync.model import Listing, url_text
from listsync.model import _urls as urls_module
from listsync_hemnet import mapping as hemnet
from listsync_immowelt import mapping as immowelt

URLS = [
    "https://bilder.example.se/a/b/c.jpg",
    "https://Bücher.example/ä b/ö.jpg?x=ü#frag",
    "http://127.0.0.1:8080/x/",
    "http://host.example",
    "https://host.example/a//",
    "https://host.example/a/b?c=/d/e.jpg",
    "https://host.example/?only=query",
]


def test_the_fast_path_is_on_here() -> None:
    assert urls_module._INNER


@pytest.mark.parametrize("text", URLS)
def test_url_text_is_str(text: str) -> None:
    url = AnyHttpUrl(text)
    assert url_text(url) == str(url)


def test_media_urls_and_immowelt_file_names() -> None:
    listing = next(
        x for _, x in read_listings(bundled_examples()) if isinstance(x, Listing) and x.media
    )
    first = listing.media[0]
    media = [first.model_copy(update={"url": AnyHttpUrl(u)}) for u in URLS]
    odd = listing.model_copy(update={"media": tuple(media)})
    projection, urls = immowelt.project_with_urls(odd, "s", "c")
    assert urls == [str(m.url) for m in media]
    names = [item.payload["fileName"] for item in projection.media]
    assert names == [immowelt.media_file_name(str(m.url)) for m in media]
    assert hemnet.media_urls(odd) == urls
