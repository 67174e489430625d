"""Malformed listings: each rejected with a canonical path, no traceback, nothing sent."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listsync import Syndicator
from listsync.io import read_listings
from listsync.sync import Action

from ._support import new_sandboxes
from .malformed import BASES, CANONICAL_PATH, MUTATIONS, broken_line, malformed_cli, reported_at


@pytest.fixture(scope="module")
def syndicator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Syndicator]:
    """A syndicator for in-process sandboxes; the test only plans, and nothing may be sent."""
    sandboxes = new_sandboxes()
    settings_ = {n: s.client_settings(f"http://{n}.sandbox.test") for n, s in sandboxes.items()}
    state = tmp_path_factory.mktemp("malformed") / "state.sqlite"
    transports = {n: s.transport() for n, s in sandboxes.items()}
    syndicator = Syndicator(settings_, state=f"sqlite:///{state}", transports=transports)
    yield syndicator
    syndicator.store.close()
    assert sum(len(s.requests) for s in sandboxes.values()) == 0


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
    line, expected = broken_line(portal, kind, lambda options: data.draw(st.sampled_from(options)))
    entries = list(syndicator.plan_stream(read_listings(io.BytesIO(line + b"\n"))))
    assert entries
    for entry in entries:
        assert entry.action in (Action.INVALID, Action.BLOCKED), (kind, expected, entry)
        assert not entry.needs_apply
        paths = [issue.path for issue in entry.issues]
        assert all(re.match(CANONICAL_PATH, p) for p in paths), paths
        assert reported_at(expected, paths), (expected, paths)


def test_cli_rejects_malformed_lines_without_traceback_or_requests(tmp_path: Path) -> None:
    """`listsync apply` over a file of seeded malformed lines exits 1 and reports every line as
    invalid or blocked at the broken field's canonical path; `listsync validate` exits 1; no
    traceback anywhere, and the sandboxes receive no request at all."""
    figures = malformed_cli(tmp_path, per_case=3, seed=7)
    assert figures["apply_exit"] == 1, figures
    assert figures["validate_exit"] == 1, figures
    assert figures["tracebacks"] == 0
    assert figures["requests"] == 0
    assert figures["not_rejected"] == 0
    assert figures["lines_reported"] == figures["lines"]
    assert figures["wrong_path"] == []
