"""Ways to break a valid canonical listing, each with the canonical path it must be reported at.

`MUTATIONS[kind](row, pick)` changes a listing row in place and returns the expected path;
`pick(options)` chooses among options (hypothesis's `data.draw(sampled_from(...))` in the
property test, a seeded `random.Random.choice` in the CLI test).
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from listsync.io import bundled_examples

from ._support import LISTSYNC, cli_env, serve, writes

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


def _bases() -> dict[str, Row]:
    """The first bundled example listing of each write portal."""
    out: dict[str, Row] = {}
    for line in bundled_examples().read_text("utf-8").splitlines():
        row = json.loads(line)
        out.setdefault(",".join(row.get("portals") or []), row)
    return {k: v for k, v in out.items() if k in ("hemnet", "immowelt")}


BASES = _bases()


def broken_line(portal: str, kind: str, pick: Pick) -> tuple[bytes, str]:
    """A listing of `portal` broken by `kind`, and the canonical path the mistake is at."""
    row = copy.deepcopy(BASES[portal])
    expected = MUTATIONS[kind](row, pick)
    return json.dumps(row, ensure_ascii=False).encode(), expected


def malformed_cli(workdir: Path, *, per_case: int, seed: int) -> dict[str, Any]:
    """`listsync apply` and `listsync validate` over seeded malformed lines (`per_case` for each
    mutation kind and portal) against sandboxes on loopback."""
    start = time.monotonic()
    rng = random.Random(seed)
    cases = [
        broken_line(portal, kind, rng.choice)
        for kind in sorted(MUTATIONS)
        for portal in sorted(BASES)
        for _ in range(per_case)
    ]
    source = workdir / "malformed.jsonl"
    source.write_bytes(b"\n".join(line for line, _ in cases) + b"\n")
    report = workdir / "malformed-report.json"
    with serve(workdir) as portals:
        apply = _cli(portals.apply_cmd(source, "--report", str(report)), workdir)
        validate = _cli([LISTSYNC, "validate", str(source)], workdir)
        requests = sum(len(s.requests) for s in portals.sandboxes.values())
        sent = writes(portals.sandboxes)
    by_line: dict[int, list[str]] = {}
    outcomes = json.loads(report.read_text("utf-8"))["outcomes"]
    for outcome in outcomes:
        by_line.setdefault(outcome["line"], []).extend(i["path"] for i in outcome["issues"])
    return {
        "lines": len(cases),
        "apply_exit": apply.returncode,
        "validate_exit": validate.returncode,
        "tracebacks": sum("Traceback" in r.stdout + r.stderr for r in (apply, validate)),
        "requests": requests,
        "writes": sent,
        "not_rejected": sum(o["outcome"] not in ("invalid", "blocked") for o in outcomes),
        "lines_reported": len(by_line),
        "wrong_path": [
            (n, path)
            for n, (_, path) in enumerate(cases, start=1)
            if not reported_at(path, by_line.get(n, []))
        ],
        "seconds": round(time.monotonic() - start, 1),
    }


def _cli(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  (our own CLI)
        cmd, cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=600, check=False
    )
