"""Broken variants of the scaffold's read adapter fail the pagination checks with messages
that say what is wrong (subprocess pytest, as an adapter author runs the kit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run_pytest

BROKEN = """
from listsync.testing import ReadAdapterConformance
from listsync_reader import ReaderAdapter, mapping
from listsync_reader.sandbox import ReaderSandbox
from test_conformance import ReaderFixtures


class Healthy(ReaderFixtures):
    adapter_cls = ReaderAdapter
    sandbox_cls = ReaderSandbox

    def change_remote(self, sandbox):
        # Records inserted at the front shift every later page by three.
        added = ReaderSandbox()
        ids = added.seed(3)
        sandbox.listings[:0] = [{**r, "id": "new-" + r["id"]} for r in added.listings]
        return {"new-" + i for i in ids}


class NoDedupe(ReaderAdapter):
    async def search(self, query, *, sold=False):
        offset = 0
        while True:
            items, total = await self.client.page(dict(query), offset)
            for item in items:
                yield mapping.from_record(item)
            offset += len(items)
            if not items or offset >= total:
                return


class NeverStops(ReaderAdapter):
    async def search(self, query, *, sold=False):
        while True:
            items, _ = await self.client.page(dict(query), 0)
            for item in items:
                yield mapping.from_record(item)


class TestHealthy(ReadAdapterConformance, Healthy):
    pass


class TestNoDedupe(ReadAdapterConformance, Healthy):
    adapter_cls = NoDedupe


class TestNeverStops(ReadAdapterConformance, Healthy):
    adapter_cls = NeverStops
"""


@pytest.fixture(scope="module")
def kit_output(reader_scaffold: Path) -> str:
    """The kit's report on the healthy read adapter and two broken variants."""
    tests = reader_scaffold / "tests"
    (tests / "test_broken.py").write_text(BROKEN, encoding="utf-8")
    selection = (
        "(TestHealthy and pagination) or (TestNoDedupe and changing_total) or "
        "(TestNeverStops and covers_everything)"
    )
    result = run_pytest(
        ["tests/test_broken.py", "-k", selection],
        cwd=reader_scaffold,
        env={"PYTHONPATH": f"{reader_scaffold / 'src'}:{tests}"},
    )
    return result.stdout + result.stderr


def test_healthy_reader_survives_a_shifting_total(kit_output: str) -> None:
    """The scaffold's reader (which skips ids it has seen) passes; only the variants fail."""
    assert "FAILED tests/test_broken.py::TestHealthy" not in kit_output
    assert "2 failed, 2 passed" in kit_output, kit_output[-3000:]


def test_duplicates_after_a_shift_are_named(kit_output: str) -> None:
    """A search that yields a shifted record twice is reported with an example."""
    assert "TestNoDedupe::test_pagination_survives_a_changing_total" in kit_output
    assert "more than once" in kit_output


def test_endless_paging_is_named(kit_output: str) -> None:
    """A search that never advances is stopped and reported as not terminating."""
    assert "TestNeverStops::test_pagination_covers_everything_once" in kit_output
    assert "did not terminate" in kit_output
