"""An adapter's refusal while planning stops that listing only (issue 13), end to end: `listsync
apply` and `listsync status` against the real Immowelt sandbox served on loopback."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from listsync.io import bundled_examples
from listsync_immowelt.sandbox import ImmoweltSandbox

from .conftest import run_cli, to_toml, write_jsonl

pytestmark = pytest.mark.slow


def _german_rows() -> tuple[dict[str, Any], dict[str, Any]]:
    """A German apartment on sale and a German listing for sale with an asking price (not an
    apartment), both for Immowelt only, from the bundled examples."""
    rows = [json.loads(line) for line in bundled_examples().read_text("utf-8").splitlines()]
    mine = [r for r in rows if r.get("portals") == ["immowelt"] and r["status"] == "for_sale"]
    apartment = next(r for r in mine if r["category"] == "apartment")
    priced = next(r for r in mine if r["category"] != "apartment" and r.get("asking_price"))
    return apartment, priced


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ImmoweltSandbox, Path]]:
    sandbox = ImmoweltSandbox()
    with sandbox.serve() as url:
        config = tmp_path / "listsync.toml"
        tables = {"immowelt": sandbox.client_settings(url)}
        config.write_text(to_toml(f"sqlite:///{tmp_path / 's.sqlite'}", tables), "utf-8")
        yield sandbox, config


def test_an_estate_type_change_blocks_that_listing_only(
    tmp_path: Path, served: tuple[ImmoweltSandbox, Path]
) -> None:
    """Changing a German listing's category (apartment -> house) on an existing Immowelt
    listing blocks that listing at `category` (rule 11, with what the user can do) in the
    report and in `status`; nothing is sent for it in that run, and an unrelated price change
    in the same run lands. The run ends normally (exit 1 for the blocked listing, no
    traceback)."""
    sandbox, config = served
    apartment, priced = _german_rows()
    blocked_ref, priced_ref = apartment["external_ref"], priced["external_ref"]
    listings = tmp_path / "in.jsonl"

    write_jsonl(listings, [apartment, priced])
    first = run_cli("apply", listings, "--config", config, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert sandbox.listings()[blocked_ref]["data"]["estateType"] == "APARTMENT"

    house = copy.deepcopy(apartment)
    house["category"] = "house_detached"
    cheaper = copy.deepcopy(priced)
    old_price = cheaper["asking_price"]["amount"]
    cheaper["asking_price"]["amount"] = old_price - 5000
    write_jsonl(listings, [house, cheaper])
    seen = len(sandbox.requests)
    report_path = tmp_path / "report.json"
    second = run_cli("apply", listings, "--config", config, "--report", report_path, cwd=tmp_path)
    assert second.returncode == 1, second.stderr[-2000:]
    assert "Traceback" not in second.stderr + second.stdout

    outcomes = {o["external_ref"]: o for o in json.loads(report_path.read_text())["outcomes"]}
    blocked = outcomes[blocked_ref]
    assert (blocked["outcome"], blocked["portal"]) == ("blocked", "immowelt")
    assert [(i["path"], i["rule"]) for i in blocked["issues"]] == [("category", "rule-11")]
    message = blocked["issues"][0]["message"]
    assert "APARTMENT -> HOUSE" in message
    assert "new external_ref" in message
    assert "keep the category" in message
    assert outcomes[priced_ref]["outcome"] == "converged"

    run = sandbox.requests[seen:]
    assert run, "the second run sent nothing at all"
    for request in run:
        text = json.dumps([request.path, request.query, request.body])
        assert blocked_ref not in text, (request.method, request.path)
    assert [(r.method, r.path, r.status) for r in run if r.path.startswith("/v1/")] == [
        ("PUT", f"/v1/listings/{priced_ref}", 202)
    ]
    held = sandbox.listings()
    assert held[priced_ref]["data"]["prices"]["buy"]["amount"] == old_price - 5000
    assert held[blocked_ref]["data"]["estateType"] == "APARTMENT"

    status = run_cli("status", "--config", config, "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr[-2000:]
    records = {r["external_ref"]: r for r in json.loads(status.stdout)["records"]}
    assert (records[blocked_ref]["outcome"], records[blocked_ref]["portal"]) == (
        "blocked",
        "immowelt",
    )
    assert [i["path"] for i in records[blocked_ref]["issues"]] == ["category"]
    assert records[priced_ref]["outcome"] == "converged"
