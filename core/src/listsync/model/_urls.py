"""The text of the canonical model's URLs, read the fast way when it is the same text.

A validated `AnyHttpUrl` holds pydantic-core's URL object, and pydantic's `__str__` is a
Python method that returns that object's text. Adapters read every media URL of every listing
as text, so `url_text` and `media_url_texts` read the inner object's text directly when this
installation's pydantic gives the very same text that way (checked once, at import, on a URL
whose host, path and query need encoding), and call `str()` otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import AnyHttpUrl

from listsync.model._listing import Media

__all__ = ["media_url_texts", "url_text"]


def _inner_text_is_str() -> bool:
    probe = AnyHttpUrl("https://Bücher.example/ä b?q=ü#x")
    inner = getattr(probe, "_url", None)
    return inner is not None and type(inner) is not str and str(inner) == str(probe)


_INNER = _inner_text_is_str()


def url_text(url: AnyHttpUrl) -> str:
    """`str(url)`."""
    return str(url._url) if _INNER else str(url)


def media_url_texts(media: Iterable[Media]) -> list[str]:
    """`[str(item.url) for item in media]`, for the `media` of a `Listing`."""
    if _INNER:
        return [str(item.url._url) for item in media]
    return [str(item.url) for item in media]
