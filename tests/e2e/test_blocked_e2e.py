"""Listings that fail a portal's preflight, end to end (issue 4): `listsync apply` and
`listsync status` against the real Hemnet and Immowelt sandboxes on loopback."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from listsync.sandbox import Sandbox

from .conftest import agency_rows, fresh_write_sandboxes, run_cli, to_toml, write_jsonl

pytestmark = pytest.mark.slow

NO_PRICE = "BLOCKED-SE-NOPRICE"
LONG_TEXT = "BLOCKED-DE-LONGTEXT"


def _blocked_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A Swedish listing without an asking price (Hemnet needs one to publish) and a German
    one whose description breaks Immowelt's 3999-character rule."""
    swedish = copy.deepcopy(next(r for r in rows if r["portals"] == ["hemnet"]))
    swedish.update(external_ref=NO_PRICE)
    del swedish["asking_price"]
    german = copy.deepcopy(next(r for r in rows if r["portals"] == ["immowelt"]))
    german.update(external_ref=LONG_TEXT, description={"de": "Schöne Wohnung. " * 300})
    return [swedish, german]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[dict[str, Sandbox], Path]]:
    with ExitStack() as stack:
        sandboxes = fresh_write_sandboxes()
        tables = {
            name: sandbox.client_settings(stack.enter_context(sandbox.serve()))
            for name, sandbox in sandboxes.items()
        }
        config = tmp_path / "listsync.toml"
        config.write_text(to_toml(f"sqlite:///{tmp_path / 's.sqlite'}", tables), "utf-8")
        yield sandboxes, config


def test_blocked_listings_are_reported_with_canonical_paths_and_never_sent(
    tmp_path: Path, served: tuple[dict[str, Sandbox], Path]
) -> None:
    """A Swedish listing with no asking price (Hemnet) and a German one breaking an Immowelt
    rule are blocked: the apply exits 1, the JSON report and `listsync status` (JSON and
    table) give each its canonical field path, the valid listings converge, and no request
    to either sandbox ever names the blocked ones, also on a second run."""
    sandboxes, config = served
    rows = agency_rows(1)
    listings = write_jsonl(tmp_path / "in.jsonl", rows + _blocked_rows(rows))
    report_path = tmp_path / "report.json"
    applied = run_cli("apply", listings, "--config", config, "--report", report_path, cwd=tmp_path)
    assert applied.returncode == 1, applied.stderr[-2000:]
    outcomes = {o["external_ref"]: o for o in json.loads(report_path.read_text())["outcomes"]}
    expected_paths = {
        NO_PRICE: ("hemnet", "asking_price"),
        LONG_TEXT: ("immowelt", "description.de"),
    }
    for ref, (portal, path) in expected_paths.items():
        outcome = outcomes.pop(ref)
        assert (outcome["outcome"], outcome["portal"]) == ("blocked", portal)
        errors = [i for i in outcome["issues"] if i.get("severity", "error") == "error"]
        assert path in [i["path"] for i in errors], outcome["issues"]
        assert all(i["portal"] == portal for i in outcome["issues"])
    assert {o["outcome"] for o in outcomes.values()} == {"converged"}

    status = run_cli("status", "--config", config, "--json", cwd=tmp_path)
    records = {r["external_ref"]: r for r in json.loads(status.stdout)["records"]}
    for ref, (portal, path) in expected_paths.items():
        assert (records[ref]["outcome"], records[ref]["portal"]) == ("blocked", portal)
        assert path in [i["path"] for i in records[ref]["issues"]]
        assert records[ref]["remote_id"] is None
    table = run_cli("status", "--config", config, "--listing", NO_PRICE, cwd=tmp_path)
    assert table.returncode == 0
    assert "blocked" in table.stdout
    assert "asking_price" in table.stdout

    again = run_cli("apply", listings, "--config", config, cwd=tmp_path)
    assert again.returncode == 1
    for sandbox in sandboxes.values():
        for request in sandbox.requests:
            text = json.dumps([request.path, request.query, request.body])
            assert NO_PRICE not in text, request.path
            assert LONG_TEXT not in text, request.path
