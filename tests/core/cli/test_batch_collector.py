"""The CLI's runs set the garbage collector for a batch run, and set it back afterwards."""

from __future__ import annotations

import gc
from typing import Any

import pytest
import typer

from listsync.cli import _engine
from listsync.cli._engine import YOUNGEST_THRESHOLD, batch_collector, run_or_fail
from listsync.errors import ConfigurationError


def _collector() -> tuple[tuple[int, int, int], int]:
    return gc.get_threshold(), gc.get_freeze_count()


def test_set_inside_and_restored_after() -> None:
    before = _collector()
    with batch_collector():
        threshold, frozen = _collector()
        assert threshold == (YOUNGEST_THRESHOLD, *before[0][1:])
        assert frozen > 1000  # the start-up objects: modules, models, schemas
        assert gc.isenabled()
    assert _collector() == before


def test_restored_when_the_run_raises() -> None:
    before = _collector()
    with pytest.raises(RuntimeError), batch_collector():
        raise RuntimeError("the run failed")
    assert _collector() == before


def test_frozen_objects_are_collected_again_after_the_run() -> None:
    """Garbage made during the run is still collected; so is a cycle frozen by it, once
    the run ends."""
    with batch_collector():

        class Cycle:
            me: Any = None

        cycle = Cycle()
        cycle.me = cycle
        gc.freeze()  # as if the cycle had been made before the run (now frozen)
        del cycle
    # unfrozen: a full collection finds it
    assert any(type(o).__name__ == "Cycle" for o in gc.get_objects())
    gc.collect()
    assert not any(type(o).__name__ == "Cycle" for o in gc.get_objects())


def test_a_cli_run_is_made_inside_it(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[tuple[int, int, int], int]] = []

    def run_until_done(*args: Any) -> str:
        seen.append(_collector())
        return "report"

    monkeypatch.setattr(_engine, "run_until_done", run_until_done)
    before = _collector()
    result: Any = run_or_fail(*[object()] * 4)  # type: ignore[arg-type]
    assert result == "report"
    assert seen[0][0][0] == YOUNGEST_THRESHOLD
    assert seen[0][1] > 0
    assert _collector() == before


def test_a_configuration_error_still_restores_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def run_until_done(*args: Any) -> str:
        raise ConfigurationError("no portal configured")

    monkeypatch.setattr(_engine, "run_until_done", run_until_done)
    before = _collector()
    with pytest.raises(typer.Exit):
        run_or_fail(*[object()] * 4)  # type: ignore[arg-type]
    assert _collector() == before
