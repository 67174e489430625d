"""The progress lines count interrupted listings apart from skipped ones, as the summary does."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from listsync.cli import _progress
from listsync.cli._terminal import terminal
from listsync.sync import Outcome


def result(outcome: Outcome) -> Any:
    return SimpleNamespace(entry=SimpleNamespace(portal="hemnet"), outcome=outcome)


def test_interrupted_and_skipped_are_counted_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    notes: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(terminal, "note", lambda text, **kw: notes.append((text, kw)))
    sink = _progress.ProgressSink(total_lines=6, every=1000)
    outcomes = [Outcome.CONVERGED, Outcome.INTERRUPTED, Outcome.INTERRUPTED, Outcome.SKIPPED]
    for outcome in outcomes:
        sink.add(result(outcome))
    sink.close()
    text, fields = notes[-1]
    assert text == "hemnet: 4/4 listings: 1 done, 0 blocked, 0 failed, 2 interrupted, 1 skipped"
    assert (fields["interrupted"], fields["skipped"]) == (2, 1)
