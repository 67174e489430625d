"""The feature matrix is generated from the installed adapters and checked in current."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from listsync.cli import app
from listsync.registry import Registry
from listsync.testing.matrix import render_matrix

DOC = Path(__file__).resolve().parents[3] / "docs" / "feature-matrix.md"


def test_docs_feature_matrix_is_current() -> None:
    """docs/feature-matrix.md equals what the installed adapters declare (regenerate with
    `listsync feature-matrix --output docs/feature-matrix.md`)."""
    assert DOC.read_text(encoding="utf-8") == render_matrix(Registry())


def test_matrix_marks_declared_capabilities() -> None:
    """Each adapter's row has a mark exactly under the capabilities it declares."""
    text = render_matrix(Registry())
    header = next(line for line in text.splitlines() if line.startswith("| adapter"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    for info in Registry().adapters():
        row = next(line for line in text.splitlines() if line.startswith(f"| {info.name} |"))
        cells = dict(zip(columns, (c.strip() for c in row.strip("|").split("|")), strict=True))
        assert set(info.capabilities) == {
            cap for cap in info.capabilities if cells[cap.value] == "✅"
        }
        assert sum(cell == "✅" for cell in cells.values()) == len(info.capabilities)


def test_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    """`feature-matrix --check` exits 1 for a stale file and 0 once it is regenerated."""
    target = tmp_path / "matrix.md"
    target.write_text("# old\n", encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["feature-matrix", "--output", str(target), "--check"]).exit_code == 1
    assert runner.invoke(app, ["feature-matrix", "--output", str(target)]).exit_code == 0
    assert runner.invoke(app, ["feature-matrix", "--output", str(target), "--check"]).exit_code == 0
