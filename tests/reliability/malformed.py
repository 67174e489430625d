"""Ways to break a valid canonical listing, each with the canonical path it must be reported at.

`MUTATIONS[kind](row, pick)` changes a listing row in place and returns the expected path;
`pick(options)` chooses among options (hypothesis's `data.draw(sampled_from(...))` in the
property test, a seeded `random.Random.choice` in the CLI test).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Row = dict[str, Any]
Pick = Callable[[Sequence[Any]], Any]

HUGE = 20_001


def _set(row: Row, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target = row
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


def wrong_type(row: Row, pick: Pick) -> str:
    path, value = pick(
        [
            ("living_area", "very large"),
            ("rooms", ["three"]),
            ("asking_price", "1000 SEK"),
            ("address", "Storgatan 1"),
            ("media", "photo.jpg"),
            ("coordinates", [59.3, 18.0]),
            ("showings", {"start": "tomorrow"}),
            ("agency", 42),
            ("construction_year", "nineteen-ninety"),
        ]
    )
    _set(row, path, value)
    return str(path)


def missing(row: Row, pick: Pick) -> str:
    path = pick(["external_ref", "agency", "category", "address"])
    row.pop(path, None)
    return str(path)


def huge_string(row: Row, pick: Pick) -> str:
    path, size = pick(
        [
            ("external_ref", 51),
            ("external_ref", 5_000),
            ("description.sv", HUGE),
            ("headline.sv", HUGE * 5),
            ("agent.salutation", 11),
            ("address.postal_code", 10_000),
        ]
    )
    _set(row, path, "x" * size)
    return str(path)


def odd_unicode(row: Row, pick: Pick) -> str:
    path, value = pick(
        [
            ("external_ref", "NOR\u200b26001"),  # zero-width space
            ("external_ref", "\u202eNOR-26001"),  # right-to-left override
            ("external_ref", "NOR-\U0001f3e0"),  # emoji
            ("address.country", "S\u0301E"),  # combining accent
            ("asking_price.currency", "SE\u041a"),  # Cyrillic letter
            ("headline.s\u0131", "Title"),  # dotless i in a language code
        ]
    )
    _set(row, path, value)
    return str(path)


def not_a_number(row: Row, pick: Pick) -> str:
    path, value = pick(
        [
            ("living_area", "NaN"),
            ("plot_area", "Infinity"),
            ("asking_price.amount", "NaN"),
            ("coordinates.lat", "NaN"),
            ("rooms", "-Infinity"),
        ]
    )
    _set(row, path, value)
    return str(path)


def negative_area(row: Row, pick: Pick) -> str:
    path = pick(["living_area", "plot_area", "supplemental_area", "usable_area"])
    _set(row, path, pick([-1, -0.5, -1e9]))
    return str(path)


def bad_coordinates(row: Row, pick: Pick) -> str:
    path, value = pick(
        [
            ("coordinates.lat", 90.0001),
            ("coordinates.lat", -91),
            ("coordinates.lon", 180.5),
            ("coordinates.lon", -1e6),
        ]
    )
    _set(row, path, value)
    return str(path)


def injection(row: Row, pick: Pick) -> str:
    path, value = pick(
        [
            ("external_ref", "x'; DROP TABLE listings;--"),
            ("external_ref", "../../etc/passwd"),
            ("address.postal_code", "<script>alert(1)</script>"),
            ("agent.email", "agent@example.se\r\nBcc: all@example.se"),
            ("asking_price.currency", "${jndi:ldap://x}"),
            ("media[0].url", "javascript:alert(1)"),
        ]
    )
    if path == "media[0].url":
        row["media"] = [{"url": value}]
    else:
        _set(row, path, value)
    return str(path)


MUTATIONS: dict[str, Callable[[Row, Pick], str]] = {
    "wrong_type": wrong_type,
    "missing": missing,
    "huge_string": huge_string,
    "odd_unicode": odd_unicode,
    "not_a_number": not_a_number,
    "negative_area": negative_area,
    "bad_coordinates": bad_coordinates,
    "injection": injection,
}

CANONICAL_PATH = r"^(<listing>|[a-z_]+(\[\d+\])?(\.[A-Za-z0-9_\u0080-\uffff]+(\[\d+\])?)*)$"


def reported_at(expected: str, paths: Sequence[str]) -> bool:
    """True when one of `paths` is `expected` or lies inside it."""
    return any(p == expected or p.startswith((expected + ".", expected + "[")) for p in paths)
