"""Reading canonical listings from JSON Lines, one line at a time.

A file of thousands of listings is never loaded whole: `read_listings` reads a line, validates
it with `Listing.model_validate_json` on the raw bytes (the fast path, no `json.loads` first) and
yields it before reading the next. A bad line does not stop the reader; it is yielded as an
`InvalidListingError` so the caller can report it as `line N: path: message` and carry on.

Repeated refs: each `external_ref` may appear on one line only. The first line with a given
ref goes ahead (when it is valid); every later line with the same ref is yielded as an
`InvalidListingError` with the issue `external_ref: repeated (first at line M)`, so validate,
plan and apply all refuse it and never send a listing twice (two lines for one listing would
create two records on a portal, or move the listing back and forth between portals on every
run). A line that is invalid for other reasons is reported with those reasons only, and
still claims its ref when the ref can be read (a valid line after it with that ref is refused).
Only the refs seen so far are kept (a set of strings, a few MB for 100,000 lines).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from importlib import resources
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from listsync.errors import FieldIssue, InvalidListingError
from listsync.model import Listing, external_ref_of, issues_from_validation_error

__all__ = [
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


def read_listings(source: ListingSource) -> Iterator[tuple[int, Listing | InvalidListingError]]:
    """Yield `(line_number, listing_or_error)` for every non-blank line of a JSON Lines file.

    Line numbers start at 1 and count blank lines too, so they match an editor's. A line that is
    not JSON, not an object, or not a valid listing gives an `InvalidListingError` whose issues
    carry canonical paths (`<listing>` when the whole line is at fault); so does a line whose
    `external_ref` an earlier line already had (`external_ref: repeated (first at line M)`).

    Args:
        source: a path, `"-"` for standard input, or an open stream (binary or text). A stream
            is not closed; a file opened here is closed when the iterator finishes or is closed.
    """
    first_lines: dict[str, int] = {}  # external_ref -> the line that had it first
    claim = first_lines.setdefault
    validate = Listing.__pydantic_validator__.validate_json  # `model_validate_json`'s own call
    with ExitStack() as stack:
        lines = _open(source, stack)
        for number, raw in enumerate(lines, start=1):
            line = raw if type(raw) is bytes else _as_bytes(raw)
            if number == 1:
                line = line.removeprefix(_BOM)
            line = line.rstrip(b"\r\n")
            if not line or line.isspace():  # blank (`strip` would copy the line to tell)
                continue
            parsed: Listing | InvalidListingError
            try:
                listing: Listing = validate(line)
            except ValidationError as exc:
                parsed = _invalid(line, number, exc)
            else:  # `_unique` inline for a valid line: the first with its ref goes ahead
                if claim(listing.external_ref, number) == number:
                    yield number, listing
                    continue
                parsed = listing
            yield number, _unique(parsed, number, first_lines)


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
