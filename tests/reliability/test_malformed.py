"""Malformed listings: each rejected with a canonical path, no traceback, nothing sent."""

from __future__ import annotations

import copy
import io
import json
import random
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listsync.io import bundled_examples, read_listings
from listsync.sync import Action
from listsync.syndicator import Syndicator

from ._support import LISTSYNC, cli_env, new_sandboxes
from .malformed import CANONICAL_PATH, MUTATIONS, reported_at

BASES = {
    portal: next(
        json.loads(line)
        for line in bundled_examples().read_text("utf-8").splitlines()
        if json.loads(line).get("portals") == [portal]
    )
    for portal in ("hemnet", "immowelt")
}


@pytest.fixture(scope="module")
def syndicator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Syndicator]:
    """A syndicator for in-process sandboxes; planning only, so nothing can be sent."""
    sandboxes = new_sandboxes()
    settings_ = {n: s.client_settings(f"http://{n}.sandbox") for n, s in sandboxes.items()}
    state = tmp_path_factory.mktemp("malformed") / "state.sqlite"
    transports = {n: s.transport() for n, s in sandboxes.items()}
    syndicator = Syndicator(settings_, state=f"sqlite:///{state}", transports=transports)
    yield syndicator
    syndicator.store.close()
    assert sum(len(s.requests) for s in sandboxes.values()) == 0


def _line(portal: str, kind: str, pick: Callable[[Any], Any]) -> tuple[bytes, str]:
    row = copy.deepcopy(BASES[portal])
    expected = MUTATIONS[kind](row, pick)
    return json.dumps(row, ensure_ascii=False).encode(), expected


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    portal=st.sampled_from(sorted(BASES)),
    kind=st.sampled_from(sorted(MUTATIONS)),
    data=st.data(),
)
def test_malformed_listing_is_rejected_at_its_canonical_path(
    syndicator: Syndicator, portal: str, kind: str, data: st.DataObject
) -> None:
    """Every generated mistake yields an invalid or blocked plan entry, with issues at canonical
    paths, one of them at (or inside) the field that was broken, and nothing to send."""
    line, expected = _line(portal, kind, lambda options: data.draw(st.sampled_from(options)))
    entries = list(syndicator.plan_stream(read_listings(io.BytesIO(line + b"\n"))))
    assert entries
    for entry in entries:
        assert entry.action in (Action.INVALID, Action.BLOCKED), (kind, expected, entry)
        assert not entry.needs_apply
        paths = [issue.path for issue in entry.issues]
        assert all(re.match(CANONICAL_PATH, p) for p in paths), paths
        assert reported_at(expected, paths), (expected, paths)


def test_cli_rejects_malformed_lines_without_traceback_or_requests(
    tmp_path: Path, served: Callable[..., Any]
) -> None:
    """`listsync apply` over a file of seeded malformed lines exits 1, prints each problem with
    its line and canonical path and no traceback, and the sandboxes receive no request."""
    rng = random.Random(7)
    lines, expected = [], []
    for kind in sorted(MUTATIONS):
        for portal in sorted(BASES):
            for _ in range(3):
                line, path = _line(portal, kind, rng.choice)
                lines.append(line.decode())
                expected.append(path)
    source = tmp_path / "malformed.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    portals = served()
    report = tmp_path / "report.json"
    result = subprocess.run(  # noqa: S603  (our own CLI)
        portals.apply_cmd(source, "--report", str(report)),
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    assert sum(len(s.requests) for s in portals.sandboxes.values()) == 0
    outcomes = json.loads(report.read_text("utf-8"))["outcomes"]
    by_line: dict[int, list[str]] = {}
    for outcome in outcomes:
        assert outcome["outcome"] in ("invalid", "blocked"), outcome
        by_line.setdefault(outcome["line"], []).extend(i["path"] for i in outcome["issues"])
    assert sorted(by_line) == list(range(1, len(lines) + 1))
    for number, path in enumerate(expected, start=1):
        assert reported_at(path, by_line[number]), (number, path, by_line[number])
    validate = subprocess.run(  # noqa: S603  (our own CLI)
        [LISTSYNC, "validate", str(source)],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert validate.returncode == 1
    assert "Traceback" not in validate.stdout + validate.stderr
