"""The JSON Lines reader: Windows and Unix line ends give the same listings and the same errors
(error columns included), blank lines skipped and counted."""

from __future__ import annotations

import io
import json
from typing import Any

from listsync.errors import InvalidListingError
from listsync.io import read_listings
from listsync.model import Listing


def _line(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def test_line_ends_change_no_listing_and_no_error(listing_data: dict[str, Any]) -> None:
    """The same lines with LF, CRLF or no end: the same listings, and invalid lines with the
    same issues (columns too), blank lines skipped but counted."""
    truncated = _line(dict(listing_data, external_ref="NOR-2002"))[:-25]
    bad_field = _line(dict(listing_data, external_ref="NOR-2003", rooms=1.2))
    rows = [
        _line(listing_data),
        b"",
        b" \t",
        b"{not json",
        truncated,
        bad_field,
        _line(dict(listing_data, external_ref="NOR-2004")),
        _line(listing_data),  # a repeated ref
    ]

    def read(end: bytes) -> list[tuple[int, Any]]:
        got: list[tuple[int, Any]] = []
        for number, item in read_listings(io.BytesIO(end.join(rows))):
            if isinstance(item, InvalidListingError):
                got.append((number, (str(item), item.external_ref, item.issues)))
            else:
                assert isinstance(item, Listing)
                got.append((number, item))
        return got

    lf = read(b"\n")
    assert [n for n, _ in lf] == [1, 4, 5, 6, 7, 8]
    assert "at column" in lf[2][1][0]
    assert read(b"\r\n") == lf
    last = rows.pop()  # the last line without an end
    assert read(b"\r\n") == lf[:-1]
    rows.append(last)


def test_a_bom_and_a_blank_crlf_first_line(listing_data: dict[str, Any]) -> None:
    """A BOM before a blank first line, and one before a listing."""
    line = _line(listing_data)
    got = list(read_listings(io.BytesIO(b"\xef\xbb\xbf\r\n" + line + b"\r\n")))
    assert [n for n, _ in got] == [2]
    got = list(read_listings(io.BytesIO(b"\xef\xbb\xbf" + line + b"\r\n")))
    assert [n for n, _ in got] == [1]
    assert isinstance(got[0][1], Listing)
