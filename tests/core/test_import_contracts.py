"""The import contracts of pyproject.toml hold, and they do catch a broken boundary."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = shutil.which("lint-imports", path=str(Path(sys.executable).parent))

pytestmark = pytest.mark.skipif(LINT is None, reason="import-linter is not installed")


def _lint(
    config: Path, *, cwd: Path, pythonpath: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.run(  # noqa: S603  (our own console script)
        [str(LINT), "--config", str(config), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_the_project_keeps_its_import_contracts() -> None:
    """`lint-imports` passes on the repository (CI runs it too)."""
    done = _lint(ROOT / "pyproject.toml", cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_adapter_importing_the_engine_breaks_a_contract(tmp_path: Path) -> None:
    """The project's own adapter contracts, applied to an adapter that imports
    `listsync.sync`, fail and name the import."""
    package = tmp_path / "listsync_rogue"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from listsync.sync import Engine\n\n__all__ = ['Engine']\n"
    )
    settings: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
    linter = settings["tool"]["importlinter"]
    linter["root_packages"] = [*linter["root_packages"], "listsync_rogue"]
    for contract in linter["contracts"]:
        if contract["id"].startswith("adapters-") and "source_modules" in contract:
            contract["source_modules"] = [*contract["source_modules"], "listsync_rogue"]
    config = tmp_path / "pyproject.toml"
    config.write_text(_toml({"tool": {"importlinter": linter}}))
    done = _lint(config, cwd=tmp_path, pythonpath=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Adapters import only public listsync modules BROKEN" in done.stdout
    assert "listsync_rogue -> listsync.sync" in done.stdout


def _toml(data: dict[str, Any]) -> str:
    """Just enough TOML for the import-linter table (strings, booleans, lists, tables)."""
    lines: list[str] = []
    linter = data["tool"]["importlinter"]
    lines.append("[tool.importlinter]")
    for key, value in linter.items():
        if key != "contracts":
            lines.append(f"{key} = {_value(value)}")
    for contract in linter["contracts"]:
        lines.append("[[tool.importlinter.contracts]]")
        lines += [f"{key} = {_value(value)}" for key, value in contract.items()]
    return "\n".join(lines) + "\n"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
