"""Query validation happens before anything is sent."""

from __future__ import annotations

import pytest

from listsync_booli._query import BooliQuery
from listsync_booli.errors import InvalidQueryError


@pytest.mark.parametrize(
    "params",
    [
        {"q": "nacka"},
        {"center": "59.3,18.1", "dim": "500,500"},
        {"bbox": "59.0,17.5,59.5,18.5"},
        {"areaId": "1,76"},
    ],
)
def test_any_one_location_parameter_is_enough(params: dict[str, str]) -> None:
    """Each documented location parameter alone makes a valid search."""
    assert BooliQuery.parse(params).to_params() == params


def test_a_location_is_required() -> None:
    """Filters without a location are refused, naming the query."""
    with pytest.raises(InvalidQueryError, match="location is required"):
        BooliQuery.parse({"minListPrice": "100000"})


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"q": "x", "limit": "501"}, "query.limit"),
        ({"q": "x", "limit": "0"}, "query.limit"),
        ({"q": "x", "minRooms": "many"}, "query.minRooms"),
        ({"q": "x", "objectType": "slott"}, "query.objectType"),
        ({"q": "x", "minPublished": "2026-01-01"}, "query.minPublished"),
        ({"bbox": "1,2,3"}, "query.bbox"),
        ({"q": "x", "colour": "red"}, "query.colour"),
        ({"q": "x", "hash": "abc"}, "query.hash"),
        ({"q": "x", "minSoldPrice": "1"}, "query.minSoldPrice"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, str], key: str) -> None:
    """Each invalid parameter is reported under its own name."""
    with pytest.raises(InvalidQueryError) as caught:
        BooliQuery.parse(params)
    assert caught.value.key == key


def test_sold_filters_are_accepted_for_sold_searches() -> None:
    """minSoldPrice/minSoldDate pass on /sold, in Booli's spelling."""
    query = BooliQuery.parse({"q": "x", "minSoldPrice": "1", "minSoldDate": "20250101"}, sold=True)
    assert query.to_params() == {"q": "x", "minSoldPrice": "1", "minSoldDate": "20250101"}


def test_limit_and_offset_are_left_to_paging() -> None:
    """`limit` and `offset` are validated but not part of the filter parameters."""
    query = BooliQuery.parse({"q": "x", "limit": "500", "offset": "20"})
    assert (query.limit, query.offset) == (500, 20)
    assert query.to_params() == {"q": "x"}


def test_object_types_use_the_filter_slugs() -> None:
    """The objectType filter takes Booli's slugs, case-insensitively."""
    query = BooliQuery.parse({"q": "x", "objectType": "Villa,tomt-mark"})
    assert query.to_params()["objectType"] == "villa,tomt-mark"
