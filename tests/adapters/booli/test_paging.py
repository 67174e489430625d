"""Offset pagination: every object once, whatever the total does between pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from listsync.errors import PortalBugError
from listsync_booli._paging import Page, paginate


class FakeSearch:
    """A result set in a list; `before_page` may change it before a given page is served."""

    def __init__(self, n: int, before_page: Callable[[int, list[int]], None] | None = None):
        self.ids = list(range(1, n + 1))
        self.before_page = before_page
        self.calls: list[tuple[int, int]] = []

    async def __call__(self, offset: int, limit: int) -> Page:
        if self.before_page is not None:
            self.before_page(len(self.calls), self.ids)
        self.calls.append((offset, limit))
        items = [{"booliId": i} for i in self.ids[offset : offset + limit]]
        return Page(items=items, total=len(self.ids))


async def collect(fetch: Any, **options: Any) -> list[int]:
    return [obj["booliId"] async for obj in paginate(fetch, **options)]


@pytest.mark.parametrize(("n", "limit"), [(1000, 500), (20, 10), (20, 20), (3, 1)])
async def test_exact_multiples_of_the_limit_end_without_an_extra_page(n: int, limit: int) -> None:
    """A total that is a multiple of the page size is read once, with no request past it."""
    fetch = FakeSearch(n)
    assert await collect(fetch, limit=limit, overlap=0) == list(range(1, n + 1))
    assert len(fetch.calls) == n // limit


@pytest.mark.parametrize(("n", "limit", "overlap"), [(1000, 500, 10), (37, 10, 3), (5, 2, 5)])
async def test_overlapping_pages_still_yield_each_object_once(
    n: int, limit: int, overlap: int
) -> None:
    """Re-read objects are dropped by booliId; the order is kept."""
    assert await collect(FakeSearch(n), limit=limit, overlap=overlap) == list(range(1, n + 1))


async def test_growth_at_the_front_repeats_nothing() -> None:
    """Objects inserted before our position shift the rest forward: no duplicates, no gaps."""

    def grow(page: int, ids: list[int]) -> None:
        if page in {1, 2}:
            ids[:0] = range(10_000 + 100 * page, 10_000 + 100 * page + 37)

    fetch = FakeSearch(120, grow)
    got = await collect(fetch, limit=25, overlap=5)
    assert len(got) == len(set(got))
    assert set(range(1, 121)) <= set(got)


async def test_growth_at_the_end_is_read_to_the_new_total() -> None:
    """Objects appended mid-run are picked up: paging follows the latest totalCount."""

    def grow(page: int, ids: list[int]) -> None:
        if page == 2:
            ids.extend(range(500, 530))

    got = await collect(FakeSearch(60, grow), limit=25, overlap=5)
    assert got == [*range(1, 61), *range(500, 530)]


@pytest.mark.parametrize("removed", [3, 10, 40, 90])
async def test_shrink_at_the_front_skips_nothing(removed: int) -> None:
    """Objects removed before our position pull the rest back; a rewind catches them."""
    gone: list[int] = []

    def shrink(page: int, ids: list[int]) -> None:
        if page == 2:
            gone.extend(ids[:removed])
            del ids[:removed]

    got = await collect(FakeSearch(200, shrink), limit=30, overlap=5)
    assert len(got) == len(set(got))
    assert set(range(1, 201)) - set(gone) <= set(got)


async def test_shrink_below_our_offset_rewinds_instead_of_stopping() -> None:
    """When the total drops below the next offset, the remaining objects are still read."""

    def shrink(page: int, ids: list[int]) -> None:
        if page == 3:
            del ids[:70]

    got = await collect(FakeSearch(100, shrink), limit=30, overlap=0)
    assert set(got) == set(range(1, 101))


async def test_an_empty_page_ends_the_search_even_if_the_total_claims_more() -> None:
    """A page with no objects stops paging, whatever totalCount says."""
    calls = 0

    async def fetch(offset: int, limit: int) -> Page:
        nonlocal calls
        calls += 1
        items = [{"booliId": i} for i in range(offset, min(offset + limit, 25))]
        return Page(items=items, total=1000)

    got = await collect(fetch, limit=10, overlap=0)
    assert got == list(range(25))
    assert calls == 4


async def test_an_empty_first_page_yields_nothing() -> None:
    """A search with no results makes one request."""
    fetch = FakeSearch(0)
    assert await collect(fetch, limit=10) == []
    assert len(fetch.calls) == 1


async def test_a_search_that_never_ends_hits_the_page_cap() -> None:
    """A portal that always returns full pages and a growing total cannot loop forever."""
    pages = 0

    async def fetch(offset: int, limit: int) -> Page:
        nonlocal pages
        pages += 1
        return Page(items=[{"booliId": offset + i} for i in range(limit)], total=offset + 2 * limit)

    with pytest.raises(PortalBugError, match="did not end after 50 pages"):
        await collect(fetch, limit=10, max_pages=50)
    assert pages == 50


async def test_overlap_never_stalls_on_short_pages() -> None:
    """A page shorter than the overlap still moves the offset forward."""

    async def fetch(offset: int, limit: int) -> Page:
        return Page(items=[{"booliId": offset}], total=5)  # one object per page

    assert await collect(fetch, limit=10, overlap=9, max_pages=20) == [0, 1, 2, 3, 4]
