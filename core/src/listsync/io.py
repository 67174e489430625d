"""Reading canonical listings from JSON Lines, one line at a time.

A file of thousands of listings is never loaded whole: `read_listings` reads a line, validates
it with `Listing.model_validate_json` on the raw bytes (the fast path, no `json.loads` first) and
yields it before reading the next (the planner asks `ListingReader.refs_ahead` for the refs of
the next 120 lines, its `LOOKAHEAD`, read unparsed, to look their records up together). A bad
line does not stop the reader; it is yielded as an `InvalidListingError` so the caller can
report it as `line N: path: message` and carry on.

Repeated refs: each `external_ref` may appear on one line only. The first line with a given
ref goes ahead (when it is valid); every later line with the same ref is yielded as an
`InvalidListingError` with the issue `external_ref: repeated (first at line M)`, so validate,
plan and apply all refuse it and never send a listing twice (two lines for one listing would
create two records on a portal, or move the listing back and forth between portals on every
run). A line that is invalid for other reasons is reported with those reasons only, and
still claims its ref when the ref can be read (a valid line after it with that ref is refused).
Only the refs seen so far are kept (a dict of strings to line numbers: about 135 bytes per
line, 13 MB for 100,000 lines).
"""

from __future__ import annotations

import os
import re
import sys
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from contextlib import ExitStack
from importlib import resources
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from listsync.errors import FieldIssue, InvalidListingError
from listsync.model import Listing, external_ref_of, issues_from_validation_error

__all__ = [
    "ListingReader",
    "ListingSource",
    "bundled_examples",
    "describe_issues",
    "read_listings",
]

ListingSource = str | os.PathLike[str] | IO[bytes] | IO[str]
"""A path (`"-"` is standard input) or an open binary or text stream."""

_BOM = b"\xef\xbb\xbf"
_READ_BUFFER = 1 << 18
"""Bytes read from a file at a time: a few hundred lines per read instead of a few (each read
is a system call, and its cost and cache traffic showed in the parse of every line)."""


def read_listings(source: ListingSource) -> ListingReader:
    """Yield `(line_number, listing_or_error)` for every non-blank line of a JSON Lines file.

    Line numbers start at 1 and count blank lines too, so they match an editor's. A line that is
    not JSON, not an object, or not a valid listing gives an `InvalidListingError` whose issues
    carry canonical paths (`<listing>` when the whole line is at fault); so does a line whose
    `external_ref` an earlier line already had (`external_ref: repeated (first at line M)`).

    Args:
        source: a path, `"-"` for standard input, or an open stream (binary or text). A stream
            is not closed; a file opened here is closed when the iterator finishes or is closed.
    """
    return ListingReader(source)


class ListingReader(Iterator[tuple[int, "Listing | InvalidListingError"]]):
    """The iterator `read_listings` returns. Besides the listings, it can tell the refs of the
    lines ahead before parsing them (`refs_ahead`), so that a reader of many listings (the
    planner) can look their records up together without holding the parsed listings."""

    def __init__(self, source: ListingSource) -> None:
        self._lines = _numbered_lines(source)
        self._ahead: deque[tuple[int, bytes]] = deque()  # read, not yet parsed (bytes only)
        self._first_lines: dict[str, int] = {}  # external_ref -> the line that had it first

    def __iter__(self) -> ListingReader:
        return self

    def __next__(self) -> tuple[int, Listing | InvalidListingError]:
        number, line = self._ahead.popleft() if self._ahead else next(self._lines)
        try:
            listing: Listing = _VALIDATE(line)
        except ValidationError as exc:
            return number, _unique(_invalid(line, number, exc), number, self._first_lines)
        # `_unique` inline for a valid line: the first with its ref goes ahead
        if self._first_lines.setdefault(listing.external_ref, number) == number:
            return number, listing
        return number, _unique(listing, number, self._first_lines)

    def refs_ahead(self, count: int) -> list[str]:
        """The external refs written on the next `count` lines, read but not parsed yet.

        The first two `"external_ref": "..."` values of each of those lines (a listing's own and
        its agency's, in either order), each once, in order: a hint for looking records up
        ahead, not a validation (the rest of a line is not searched). A ref written with JSON
        escapes, or after two others, is not found here; its listing still parses as usual.
        """
        ahead = self._ahead
        while len(ahead) < count:
            try:
                ahead.append(next(self._lines))
            except StopIteration:
                break
        refs: dict[bytes, None] = {}
        key, value = _REF_KEY, _REF_VALUE.match
        for index, (_, line) in enumerate(ahead):
            if index == count:
                break
            at = line.find(key)  # `find` skips through a line far faster than a regex search
            if at >= 0:
                at += len(key)
                if found := value(line, at):
                    refs[found[1]] = None
                at = line.find(key, at)  # the second: the listing's or its agency's, whichever
                if at >= 0 and (found := value(line, at + len(key))):  # came second
                    refs[found[1]] = None
        return [ref.decode("ascii") for ref in refs]

    def close(self) -> None:
        """Stop reading; a file opened by `read_listings` is closed."""
        self._ahead.clear()
        self._lines.close()


_VALIDATE = Listing.__pydantic_validator__.validate_json  # `model_validate_json`'s own call
_REF_KEY = b'"external_ref"'
_REF_VALUE = re.compile(rb'\s*:\s*"([A-Za-z0-9_-]{1,50})"')
"""What follows `_REF_KEY` when it is a key with a ref (the model's pattern, no escapes)."""


def _numbered_lines(source: ListingSource) -> Generator[tuple[int, bytes], None, None]:
    """`(number, line)` of every non-blank line, the line as bytes without its line end."""
    with ExitStack() as stack:
        lines = _open(source, stack)
        for number, raw in enumerate(lines, start=1):
            line = raw if type(raw) is bytes else _as_bytes(raw)
            if number == 1:
                line = line.removeprefix(_BOM)
            line = line.rstrip(b"\r\n")
            if not line or line.isspace():  # blank (`strip` would copy the line to tell)
                continue
            yield number, line


def _as_bytes(raw: bytes | str) -> bytes:
    return raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw


def _open(source: ListingSource, stack: ExitStack) -> Iterable[bytes | str]:
    if isinstance(source, str | os.PathLike):
        if os.fspath(source) == "-":
            return sys.stdin.buffer
        return stack.enter_context(Path(source).open("rb", buffering=_READ_BUFFER))
    return source


def _invalid(line: bytes, number: int, exc: ValidationError) -> InvalidListingError:
    return InvalidListingError(
        issues_from_validation_error(exc),
        external_ref=external_ref_of(line),
        message=f"line {number} is not a valid listing",
    )


def _unique(
    parsed: Listing | InvalidListingError, number: int, first_lines: dict[str, int]
) -> Listing | InvalidListingError:
    """`parsed`, or an error when an earlier line had its `external_ref`."""
    ref = parsed.external_ref
    if ref is None:
        return parsed
    first = first_lines.setdefault(ref, number)
    if first == number or isinstance(parsed, InvalidListingError):
        return parsed
    issue = FieldIssue(path="external_ref", message=f"repeated (first at line {first})")
    return InvalidListingError(
        (issue,), external_ref=ref, message=f"line {number} repeats line {first}'s external_ref"
    )


def describe_issues(
    line: int, issues: Iterable[FieldIssue], *, ref: str | None = None
) -> Iterator[str]:
    """`line N: path: message` for each issue, the way `listsync validate` prints them.

    Args:
        line: the 1-based line number.
        issues: the issues of that line (canonical model or a portal's preflight).
        ref: the listing's external_ref, appended as `[ref]` when known.
    """
    tail = f" [{ref}]" if ref else ""
    for issue in issues:
        origin = ""
        if issue.portal:
            field = f" {issue.portal_field}" if issue.portal_field else ""
            rule = f" rule {issue.rule}" if issue.rule else ""
            origin = f" ({issue.portal}{field}{rule})"
        level = "" if issue.severity == "error" else f" [{issue.severity}]"
        yield f"line {line}: {issue.path}: {issue.message}{origin}{level}{tail}"


def bundled_examples() -> Path:
    """The example listings shipped inside the package (`listsync/examples/listings.jsonl`)."""
    path = resources.files("listsync") / "examples" / "listings.jsonl"
    return Path(str(path))
