"""`listsync new-adapter`: generated distributions for every auth kind (and a read-only one)
install with pip and pass the conformance kit."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from listsync.cli import app
from listsync.scaffold import AuthKind

from .conftest import run_pytest

VARIANTS = [(f"acme_{kind.value.replace('-', '_')}", kind.value, False) for kind in AuthKind]
VARIANTS.append(("acme_reader", "signed-query", True))


def _pip(*args: str, path: Path | None = None) -> None:
    env = {**os.environ, "PYTHONPATH": str(path)} if path is not None else None
    subprocess.run(  # noqa: S603  (our own interpreter and arguments)
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
        check=True,
        capture_output=True,
        timeout=120,
        env=env,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """Every variant generated through the CLI and pip-installed into a throwaway target
    directory (never into the shared venv, so other tests' adapter lists stay the same)."""
    root = tmp_path_factory.mktemp("generated")
    runner = CliRunner()
    dists = []
    for name, auth, read_only in VARIANTS:
        args = ["new-adapter", name, "--auth", auth, "--output", str(root)]
        result = runner.invoke(app, [*args, "--read-only"] if read_only else args)
        assert result.exit_code == 0, result.output
        dists.append(root / f"listsync-{name}")
    build, target = root / "build-env", root / "site"
    # setuptools in this venv predates built-in bdist_wheel: build with a current one.
    _pip("--target", str(build), "setuptools>=70.1")
    _pip(
        "--no-deps",
        "--no-build-isolation",
        "--target",
        str(target),
        *map(str, dists),
        path=build,
    )
    return target, dists


@pytest.mark.slow
def test_generated_adapters_install_and_pass_the_kit(installed: tuple[Path, list[Path]]) -> None:
    """Each generated distribution is installed (entry points included) and its own
    conformance tests pass against its own sandbox."""
    target, dists = installed

    def check(dist: Path) -> tuple[Path, int, str]:
        result = run_pytest([], cwd=dist, env={"PYTHONPATH": str(target)}, timeout=180)
        return dist, result.returncode, result.stdout[-2000:]

    with ThreadPoolExecutor(max_workers=len(dists)) as pool:
        outcomes = list(pool.map(check, dists))
    for dist, code, output in outcomes:
        assert code == 0, f"{dist.name}:\n{output}"
        assert "passed" in output
        assert (target / f"{dist.name.replace('-', '_')}-0.1.0.dist-info").is_dir()


def test_new_adapter_refuses_bad_names_and_existing_directories(tmp_path: Path) -> None:
    """A name that cannot be an entry point or module, or an existing output, exits 2."""
    runner = CliRunner()
    bad = runner.invoke(app, ["new-adapter", "Acme-Portal", "--output", str(tmp_path)])
    assert bad.exit_code == 2
    assert "lowercase letters" in bad.output
    assert runner.invoke(app, ["new-adapter", "acme", "--output", str(tmp_path)]).exit_code == 0
    again = runner.invoke(app, ["new-adapter", "acme", "--output", str(tmp_path)])
    assert again.exit_code == 2
    assert "exists" in again.output


def test_generated_distribution_has_every_module(bearer_scaffold: Path) -> None:
    """The distribution has both entry points and one module per concern."""
    pyproject = (bearer_scaffold / "pyproject.toml").read_text()
    assert '[project.entry-points."listsync.adapters"]' in pyproject
    assert 'acme = "listsync_acme.sandbox:AcmeSandbox"' in pyproject
    modules = {p.name for p in (bearer_scaffold / "src/listsync_acme").iterdir()}
    expected = {"adapter.py", "client.py", "mapping.py", "rules.py", "errors.py", "sandbox.py"}
    assert expected | {"auth.py", "__init__.py", "py.typed"} <= modules
    assert "ROUTES" in (bearer_scaffold / "src/listsync_acme/client.py").read_text()
    assert (bearer_scaffold / "README.md").exists()
