"""The response cache: off by default, keyed without the signature, with a lifetime."""

from __future__ import annotations

from listsync_booli._cache import ResponseCache, cache_key
from listsync_booli.sandbox import BooliSandbox

from .conftest import ALL_SWEDEN, AdapterFactory


def test_key_ignores_signature_parameters() -> None:
    """Two requests differing only in callerId/time/unique/hash share a key."""
    a = cache_key("/listings", {"q": "x", "time": "1", "unique": "a", "hash": "h", "callerId": "c"})
    b = cache_key("/listings", {"q": "x", "time": "2", "unique": "b", "hash": "i", "callerId": "c"})
    assert a == b == ("/listings", (("q", "x"),))


def test_entries_expire_after_their_lifetime() -> None:
    """An entry is served until `ttl` seconds have passed, then dropped."""
    now = [100.0]
    cache = ResponseCache(10, clock=lambda: now[0])
    cache.put("/sold", {"q": "x"}, {"n": 1})
    now[0] = 109.9
    assert cache.get("/sold", {"q": "x"}) == {"n": 1}
    now[0] = 110.0
    assert cache.get("/sold", {"q": "x"}) is None


def test_disabled_cache_stores_nothing() -> None:
    """With a lifetime of 0 the cache never answers."""
    cache = ResponseCache(0)
    cache.put("/sold", {}, {"n": 1})
    assert cache.get("/sold", {}) is None


def test_oldest_entries_go_first() -> None:
    """Beyond max_entries the oldest entry is evicted."""
    cache = ResponseCache(60, max_entries=2)
    for n in range(3):
        cache.put("/p", {"n": str(n)}, n)
    assert cache.get("/p", {"n": "0"}) is None
    assert cache.get("/p", {"n": "2"}) == 2


async def test_repeated_search_is_served_from_cache(
    sandbox: BooliSandbox, make_adapter: AdapterFactory
) -> None:
    """With cache_ttl set, the same search twice sends its requests once."""
    adapter = make_adapter(sandbox, cache_ttl=60)
    first = [listing async for listing in adapter.search(ALL_SWEDEN)]
    sent = len(sandbox.requests)
    second = [listing async for listing in adapter.search(ALL_SWEDEN)]
    assert first == second
    assert len(sandbox.requests) == sent


async def test_cache_is_off_by_default(sandbox: BooliSandbox, make_adapter: AdapterFactory) -> None:
    """Without cache_ttl every search goes to Booli."""
    adapter = make_adapter(sandbox)
    await adapter.check()
    await adapter.check()
    assert len(sandbox.requests) == 2
