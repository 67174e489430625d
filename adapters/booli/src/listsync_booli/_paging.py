"""Offset pagination over Booli searches that never skips, repeats or loops.

Booli pages with `offset`/`limit` and reports `totalCount` on every page
(Booli's API guide, section "Paginering"). The result set can change while we
page (new listings arrive, others are sold), which shifts every later object by some positions.
`paginate` survives that:

- consecutive pages **overlap** by `overlap` objects, and objects are de-duplicated by
  `booliId`, so a shift forward (objects inserted before our position) repeats nothing;
- when `totalCount` **shrinks** between two pages, objects may have moved back past our
  position, so paging rewinds to the shrunk page's offset minus the shrink (and the overlap);
- it stops once `offset + count` reaches the latest `totalCount`, on an empty page, and after
  `max_pages` pages at the latest (raising `PortalBugError`: a result set that never ends).

Objects that exist for the whole run are yielded exactly once when, between two pages, objects
are only added or only removed. When both happen at once the total understates the shift; the
overlap is the safety margin for that case.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from listsync.errors import PortalBugError
from listsync.log import get_logger
from listsync_booli.settings import DEFAULT_MAX_PAGES, DEFAULT_OVERLAP, PORTAL

__all__ = ["FetchPage", "Page", "paginate"]

log = get_logger(__name__)


@dataclass(frozen=True)
class Page:
    """One page of a search: its objects and the `totalCount` Booli gave with it."""

    items: Sequence[Mapping[str, Any]]
    total: int


FetchPage = Callable[[int, int], Awaitable[Page]]
"""`await fetch(offset, limit)`: one page of the search."""


def _next_offset(offset: int, count: int, overlap: int, shrink: int) -> int:
    if shrink == 0:
        return offset + max(count - overlap, 1)  # always move forward when nothing shrank
    # This page was already read from the shrunk set: objects we have not seen may now sit
    # up to `shrink` positions before it. Read again from there.
    return max(0, offset - shrink - overlap)


async def paginate(
    fetch: FetchPage,
    *,
    limit: int,
    start: int = 0,
    overlap: int = DEFAULT_OVERLAP,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> AsyncIterator[Mapping[str, Any]]:
    """Yield every object of a search once, in page order.

    Args:
        fetch: gets one page.
        limit: page size.
        start: the first offset.
        overlap: objects re-read from the previous page (capped below `limit`).
        max_pages: hard cap on requests.

    Raises:
        PortalBugError: the search did not end within `max_pages` pages.
    """
    overlap = max(0, min(overlap, limit - 1))
    seen: set[Any] = set()
    offset, previous_total = start, None
    for page_number in range(1, max_pages + 1):
        page = await fetch(offset, limit)
        shrink = 0 if previous_total is None else max(0, previous_total - page.total)
        previous_total = page.total
        fresh = 0
        for item in page.items:
            key = item.get("booliId")
            if key is not None:
                if key in seen:
                    continue
                seen.add(key)
            fresh += 1
            yield item
        count = len(page.items)
        log.debug(
            "booli_page",
            offset=offset,
            count=count,
            new=fresh,
            total=page.total,
            shrink=shrink,
            page=page_number,
        )
        if count == 0 and shrink == 0:
            return  # an empty page ends the search, whatever the total says
        if shrink == 0 and offset + count >= page.total:
            return
        offset = _next_offset(offset, count, overlap, shrink)
    raise PortalBugError(
        f"pagination did not end after {max_pages} pages (offset {offset}, total {previous_total})",
        portal=PORTAL,
    )
