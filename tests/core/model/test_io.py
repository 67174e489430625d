"""The JSON Lines reader: streaming, line numbers, bad lines reported and skipped over."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from listsync.errors import FieldIssue, InvalidListingError, Severity
from listsync.io import bundled_examples, describe_issues, read_listings
from listsync.model import Listing


def jsonl(*rows: Any) -> bytes:
    return b"".join(
        (row if isinstance(row, bytes) else json.dumps(row).encode()) + b"\n" for row in rows
    )


def test_reads_listings_with_line_numbers(listing_data: dict[str, Any], tmp_path: Path) -> None:
    """Blank lines are skipped but counted, so numbers match the file's lines."""
    other = dict(listing_data, external_ref="NOR-1002")
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl(listing_data, b"", b"   ", other))
    got = list(read_listings(path))
    assert [n for n, _ in got] == [1, 4]
    assert all(isinstance(item, Listing) for _, item in got)


def test_bad_lines_are_reported_and_reading_goes_on(listing_data: dict[str, Any]) -> None:
    """Non-JSON and invalid lines become errors; the valid lines around them still come."""
    bad = dict(listing_data, external_ref="NOR-1003", rooms=1.2)
    last = dict(listing_data, external_ref="NOR-1004")  # each ref on one line only
    stream = io.BytesIO(jsonl(listing_data, b"{not json", bad, last))
    got = list(read_listings(stream))
    assert [type(item).__name__ for _, item in got] == [
        "Listing",
        "InvalidListingError",
        "InvalidListingError",
        "Listing",
    ]
    not_json = got[1][1]
    assert isinstance(not_json, InvalidListingError)
    assert not_json.issues[0].path == "<listing>"
    assert not_json.issues[0].message.startswith("not valid JSON")
    assert "line 1" not in not_json.issues[0].message  # no confusing in-line line numbers
    invalid = got[2][1]
    assert isinstance(invalid, InvalidListingError)
    assert invalid.external_ref == "NOR-1003"
    assert [i.path for i in invalid.issues] == ["rooms"]


def test_text_streams_crlf_and_bom_are_accepted(listing_data: dict[str, Any]) -> None:
    """A text stream with a UTF-8 BOM and Windows line ends reads like a clean file."""
    raw = "\ufeff" + json.dumps(listing_data, ensure_ascii=False) + "\r\n\r\n"
    got = list(read_listings(io.StringIO(raw)))
    assert len(got) == 1
    assert isinstance(got[0][1], Listing)


def test_reader_is_lazy(listing_data: dict[str, Any]) -> None:
    """Lines are read only as listings are consumed (the file is never loaded whole)."""
    consumed: list[int] = []

    def lines() -> Iterator[bytes]:
        for i in range(1000):
            consumed.append(i)
            yield json.dumps(listing_data).encode()

    reader = read_listings(lines())  # type: ignore[arg-type]  # any iterable of lines works
    next(reader)
    next(reader)
    assert len(consumed) == 2


def test_missing_file_raises_oserror_on_first_read(tmp_path: Path) -> None:
    """A file that does not exist fails with FileNotFoundError when reading starts."""
    with pytest.raises(FileNotFoundError):
        next(read_listings(tmp_path / "missing.jsonl"))


def test_describe_issues_formats_line_path_message() -> None:
    """Issues print as `line N: path: message`, with portal origin and severity when set."""
    issues = [
        FieldIssue(path="address.postal_code", message="bad"),
        FieldIssue(
            path="headline.de",
            message="too long",
            portal="immowelt",
            portal_field="/data/texts/headline",
            rule="1",
            severity=Severity.WARNING,
        ),
    ]
    assert list(describe_issues(7, issues, ref="X-1")) == [
        "line 7: address.postal_code: bad [X-1]",
        "line 7: headline.de: too long (immowelt /data/texts/headline rule 1) [warning] [X-1]",
    ]


def test_bundled_examples_exist() -> None:
    """The package ships its example listings for `listsync demo`."""
    assert bundled_examples().is_file()


def test_refs_ahead_reads_lines_without_parsing_or_losing_them(
    listing_data: dict[str, Any], tmp_path: Path
) -> None:
    """`refs_ahead(n)` tells the refs written on the next n non-blank lines (each once, the
    agency's too; not a ref written with an escape, nor a value that is no ref), and the
    listings then come as they would have: same order, same line numbers, BOM removed."""
    agency = listing_data["agency"]["external_ref"]
    rows = [dict(listing_data, external_ref=f"A-{n}") for n in range(4)]
    escaped = json.dumps(rows[2]).replace('"A-2"', '"\\u0041-2"').encode()
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + jsonl(rows[0], b"", rows[1], escaped, b'{"external_ref": "no ref!"}', rows[3])
    )
    reader = read_listings(path)

    assert reader.refs_ahead(3) == ["A-0", agency, "A-1"]
    first = next(reader)
    assert reader.refs_ahead(10) == ["A-1", agency, "A-3"]
    got = [first, *reader]

    assert [n for n, _ in got] == [1, 3, 4, 5, 6]
    assert [item.external_ref for _, item in got] == ["A-0", "A-1", "A-2", None, "A-3"]
    assert isinstance(got[3][1], InvalidListingError)
    assert reader.refs_ahead(5) == []


def test_a_reader_closed_part_way_closes_its_file(
    listing_data: dict[str, Any], tmp_path: Path
) -> None:
    """`close()` on a reader that read ahead closes the file it opened."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl(*[dict(listing_data, external_ref=f"A-{n}") for n in range(5)]))
    reader = read_listings(path)
    reader.refs_ahead(2)
    next(reader)
    lines: Any = reader._lines
    handle = lines.gi_frame.f_locals["lines"]  # the file `read_listings` opened

    reader.close()

    assert handle.closed
    assert list(reader) == []


def test_refs_ahead_reads_two_refs_per_line(tmp_path: Path) -> None:
    """Only the first two refs of a line are read ahead (a listing's and its agency's, in
    either order): the rest of the line is not searched."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b'{"a": {"external_ref": "X-1"}, "b": {"external_ref": "X-2"}, "external_ref": "X-3"}\n'
        b'{"agency": {"external_ref": "AG"}, "external_ref" : "Y-1"}\n'
    )
    assert read_listings(path).refs_ahead(2) == ["X-1", "X-2", "AG", "Y-1"]
