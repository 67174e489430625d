"""`check_mapped` (the marked leaves of a payload `project` built, read at their two pointers and
in the texts) gives exactly `check_all`'s issues, in the same order, for any listing."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from listsync.adapter import ProjectedItem
from listsync.io import bundled_examples, read_listings
from listsync.model import Listing
from listsync_immowelt._payload import _marked, marked_leaves_under
from listsync_immowelt.mapping import (
    SUBTYPE_KEY,
    media_file_name,
    media_id,
    media_refs,
    project,
    project_with_urls,
    to_immowelt_payload,
)
from listsync_immowelt.rules import _mapped_marked, check_all, check_mapped

from .conftest import make_listing


def _both(listing: Listing) -> tuple[list[Any], list[Any]]:
    """`check_all`'s and `check_mapped`'s issues; for a listing without extensions, the marked
    leaves of the payload's walk and of `_mapped_marked` must be the same too."""
    fields = project(listing, software_name="s", external_customer_id="c").fields
    if not listing.extensions.get("immowelt"):
        walked = [
            leaf for key, value in fields.items() for leaf in marked_leaves_under(value, f"/{key}")
        ]
        assert _mapped_marked(fields) == walked
        assert walked == marked_leaves_under(fields["data"], "/data")
    return check_all(fields, listing), check_mapped(fields, listing)


def test_same_issues_for_every_bundled_example() -> None:
    seen = 0
    for _, listing in read_listings(bundled_examples()):
        if isinstance(listing, Listing):
            expected, got = _both(listing)
            assert got == expected
            seen += 1
    assert seen > 100


def test_the_mapping_s_fixed_keys_are_not_marked() -> None:
    """The subtype keys are the only keys of the payload's fixed part that are not literals."""
    assert not any(_marked(key) for key in SUBTYPE_KEY.values())


DATES = st.sampled_from([None, "2026-03-01", "1999-12-31"])
PERCENTS = st.sampled_from([None, "0", "3.57", "-1", "150", "12"])
LANGUAGES = st.sampled_from(["de", "en", "fr", "sv"])
TEXTS = st.sampled_from(
    ["Ruhig", "", " ", "<b>Balkon</b>", "www.example.org", "a@b.de", "+49 30 1234567", "x" * 3990]
)


@given(
    available=DATES,
    percent=PERCENTS,
    fee_amount=st.sampled_from([None, "0", "5000"]),
    has_fee=st.booleans(),
    headline=st.dictionaries(LANGUAGES, TEXTS, max_size=3),
    description=st.dictionaries(LANGUAGES, TEXTS, max_size=3),
    transaction=st.sampled_from(["sale", "rent"]),
    extension=st.sampled_from(
        [
            None,
            {"data": {"management": {"availableFrom": "03.01.2026"}}},
            {"data": {"homepageUrl": "ftp://x", "commissionPercentage": 120}},
            {"contact": {"userHomepage": "not a url"}},
        ]
    ),
)
@settings(max_examples=300, deadline=None)
def test_same_issues_as_check_all(
    *,
    available: str | None,
    percent: str | None,
    fee_amount: str | None,
    has_fee: bool,
    headline: dict[str, str],
    description: dict[str, str],
    transaction: str,
    extension: dict[str, Any] | None,
) -> None:
    fee: dict[str, Any] = {"has_fee": has_fee, "percent": percent, "note": None}
    if fee_amount is not None:
        fee["amount"] = {"amount": fee_amount, "currency": "EUR"}
    overrides: dict[str, Any] = {
        "available_from": available,
        "brokerage_fee": fee,
        "headline": headline or None,
        "description": description or None,
        "transaction": transaction,
    }
    if transaction == "rent":
        overrides["asking_price"] = None
        overrides["rent"] = {"base": {"amount": "900", "currency": "EUR"}}
    if extension is not None:
        overrides["extensions"] = {"immowelt": extension}
    try:
        listing = make_listing(**overrides)
    except Exception:  # an override the model refuses: nothing to compare
        return
    expected, got = _both(listing)
    assert got == expected


URL_TAILS = st.sampled_from(["a.jpg", "a.jpg?x=1", "dir/", "dir//", "", "?q", "p/q.png?r=s/t"])


@given(tails=st.lists(URL_TAILS, min_size=0, max_size=6))
@settings(max_examples=200, deadline=None)
def test_projected_media_are_those_of_media_refs(tails: list[str]) -> None:
    """`project`'s one loop over the media gives the items and payload references that
    `media_refs`, `media_id` and `media_file_name` give."""
    media = [{"url": f"https://crm.example.com/img/{tail}"} for tail in tails]
    try:
        listing = make_listing(media=media)
    except Exception:  # a URL the model refuses: nothing to compare
        return
    projection = project(listing, software_name="s", external_customer_id="c")
    refs = media_refs(listing)
    with_urls, urls = project_with_urls(listing, "s", "c")
    assert with_urls == projection
    assert urls == [url for url, _ in refs]
    assert [
        (url, media_id(listing.external_ref, url)) for url in [str(m.url) for m in listing.media]
    ] == refs
    expected = tuple(
        ProjectedItem(
            key=ref,
            canonical_index=i,
            payload={"externalMediaId": ref, "fileName": media_file_name(url), "url": url},
        )
        for i, (url, ref) in enumerate(refs)
    )
    assert projection.media == expected
    assert projection.fields == to_immowelt_payload(
        listing, software_name="s", external_customer_id="c"
    )
