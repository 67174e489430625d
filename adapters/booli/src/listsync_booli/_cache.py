"""A small in-memory response cache: Booli asks callers to cache and not to repeat requests.

Entries are keyed by the request *without* the signature parameters (`callerId`, `time`,
`unique`, `hash`), which change on every request, so the same search hits the cache. A lifetime
of 0 seconds (the default) switches it off. The oldest entries go first once `max_entries` is
reached.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from listsync_booli.auth import SIGNATURE_PARAMS

__all__ = ["ResponseCache", "cache_key"]

CacheKey = tuple[str, tuple[tuple[str, str], ...]]


def cache_key(path: str, params: Mapping[str, str]) -> CacheKey:
    """The key of a request: its path and sorted parameters, signature parameters left out."""
    kept = tuple(sorted((k, v) for k, v in params.items() if k not in SIGNATURE_PARAMS))
    return path, kept


class ResponseCache:
    """Answers by request (as the client read them), each kept for `ttl` seconds.

    Args:
        ttl: lifetime in seconds; 0 disables the cache.
        max_entries: bound on memory.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        ttl: float = 0.0,
        *,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[CacheKey, tuple[float, Any]] = OrderedDict()
        self.hits = 0

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get(self, path: str, params: Mapping[str, str]) -> Any | None:
        """The cached body, or None when absent, expired or the cache is off."""
        if not self.enabled:
            return None
        key = cache_key(path, params)
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, body = entry
        if self._clock() >= expires:
            del self._entries[key]
            return None
        self.hits += 1
        return body

    def put(self, path: str, params: Mapping[str, str], body: Any) -> None:
        """Remember `body` for `ttl` seconds (a no-op when the cache is off)."""
        if not self.enabled:
            return
        key = cache_key(path, params)
        self._entries[key] = (self._clock() + self.ttl, body)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
