"""The same `external_ref` on two lines of one input is an input error: validate, plan and
apply name both lines; the first line goes ahead; the portal holds one listing.

Before, two adjacent lines created two Hemnet listings, and two lines sending one listing to
different portals deleted and re-created it on every run.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from listsync.errors import InvalidListingError
from listsync.io import bundled_examples, describe_issues, read_listings
from listsync.model import Listing

from ._support import LISTSYNC, cli_env, serve

REPEATED = "line 3: external_ref: repeated (first at line 1)"


def _lines() -> list[str]:
    """Two Hemnet listings from the examples; the first again (changed) on line 3."""
    rows = [json.loads(line) for line in bundled_examples().read_text("utf-8").splitlines()]
    hemnet = [r for r in rows if r["portals"] == ["hemnet"]][:2]
    again = dict(hemnet[0], asking_price={"amount": 1234567, "currency": "SEK"})
    return [json.dumps(r, ensure_ascii=False) for r in (*hemnet, again)]


def test_the_reader_refuses_the_second_line_of_a_ref() -> None:
    """The first line is read as usual; the repeat is an `InvalidListingError` whose issue
    names the first line, whatever the repeat holds."""
    lines = _lines()
    got = list(read_listings(io.StringIO("\n".join([*lines, "", lines[0]]) + "\n")))
    assert [n for n, _ in got] == [1, 2, 3, 5]
    assert isinstance(got[0][1], Listing)
    assert isinstance(got[1][1], Listing)
    for number, item in got[2:]:
        assert isinstance(item, InvalidListingError)
        ref = item.external_ref
        assert ref == got[0][1].external_ref
        assert list(describe_issues(number, item.issues)) == [
            f"line {number}: external_ref: repeated (first at line 1)"
        ]


def test_an_invalid_first_line_still_claims_its_ref() -> None:
    """A valid line whose ref an invalid line had first is refused too (one line per
    listing), and the invalid line keeps its own issues only."""
    first, *_ = _lines()
    broken = dict(json.loads(first), rooms=-1)
    text = json.dumps(broken) + "\n" + first + "\n"
    (_, one), (_, two) = read_listings(io.StringIO(text))
    assert isinstance(one, InvalidListingError)
    assert "external_ref" not in [i.path for i in one.issues]
    assert isinstance(two, InvalidListingError)
    assert [i.message for i in two.issues] == ["repeated (first at line 1)"]


@pytest.mark.slow
def test_validate_plan_and_apply_refuse_the_repeat_and_send_the_first(tmp_path: Path) -> None:
    listings = tmp_path / "listings.jsonl"
    listings.write_text("\n".join(_lines()) + "\n", encoding="utf-8")
    with serve(tmp_path) as portals:
        state = ["--config", str(portals.config), "--state", f"sqlite:///{portals.state}"]
        outputs = {}
        for command in ("validate", "plan", "apply"):
            args = [LISTSYNC, command, str(listings)]
            if command != "validate":
                args += state
            proc = subprocess.run(  # noqa: S603  (our own CLI)
                args, cwd=tmp_path, env=cli_env(), capture_output=True, text=True, check=False
            )
            outputs[command] = proc
            text = proc.stdout + proc.stderr
            assert proc.returncode == 1, (command, text)
            assert "Traceback" not in text, text
        assert REPEATED in outputs["validate"].stdout + outputs["validate"].stderr
        plan = outputs["plan"].stdout
        assert "invalid" in plan
        assert "repeated (first at line 1)" in plan
        hemnet = portals.sandboxes["hemnet"].inventory()  # type: ignore[attr-defined]
        refs = Counter({k: n for k, n in hemnet.items() if "/" not in k})
        first, second, _ = (json.loads(line)["external_ref"] for line in _lines())
        assert refs == Counter({first: 1, second: 1})
        sent = _fields(portals.sandboxes["hemnet"], first)
        assert "3775000" in sent  # the first line's listing, not the repeat's
        assert "1234567" not in sent
        report = tmp_path / "report.json"
        again = subprocess.run(  # noqa: S603  (our own CLI)
            [LISTSYNC, "apply", str(listings), *state, "--report", str(report)],
            cwd=tmp_path,
            env=cli_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert again.returncode == 1, again.stderr
        assert portals.sandboxes["hemnet"].inventory() == hemnet  # type: ignore[attr-defined]


def _fields(sandbox: object, ref: str) -> str:
    """The fields the Hemnet sandbox holds for `ref`, as JSON."""
    for account in sandbox._accounts.values():  # type: ignore[attr-defined]
        for record in account.listings.values():
            if record.fields.get("externalId") == ref:
                return json.dumps(record.fields, default=str)
    raise AssertionError(f"{ref} not on the sandbox")
