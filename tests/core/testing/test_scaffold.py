"""`listsync new-adapter`: generated distributions for every auth kind (and a read-only one)
install with pip, pass the conformance kit and the import contract (import-linter), and have the
one adapter shape; the OAuth2 variant's token handling (authlib) retries an unavailable token
endpoint and sends the configured scopes and audience."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from listsync.cli import app
from listsync.scaffold import AuthKind, generate, private_modules

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


SHAPE = {
    "__init__.py",
    "settings.py",
    "auth.py",
    "client.py",
    "mapping.py",
    "errors.py",
    "adapter.py",
    "sandbox.py",
    "_sandbox_auth.py",
    "py.typed",
}
"""The one adapter shape (the sandbox's half of the auth in a private module)."""


def test_generated_distribution_has_the_one_adapter_shape(bearer_scaffold: Path) -> None:
    """The distribution has both entry points, exactly the modules of the one adapter shape
    (rules.py for a write adapter), a LICENSE placeholder, a .gitignore and a CI workflow."""
    pyproject = (bearer_scaffold / "pyproject.toml").read_text()
    assert '[project.entry-points."listsync.adapters"]' in pyproject
    assert 'acme = "listsync_acme.sandbox:AcmeSandbox"' in pyproject
    modules = {p.name for p in (bearer_scaffold / "src/listsync_acme").iterdir()}
    assert modules == SHAPE | {"rules.py"}
    assert "ROUTES" in (bearer_scaffold / "src/listsync_acme/client.py").read_text()
    assert (
        'PORTAL: Final = "acme"' in (bearer_scaffold / "src/listsync_acme/settings.py").read_text()
    )
    assert "TODO: choose a license" in (bearer_scaffold / "LICENSE").read_text()
    assert "__pycache__/" in (bearer_scaffold / ".gitignore").read_text()
    workflow = (bearer_scaffold / ".github/workflows/ci.yml").read_text()
    assert "python -m pytest" in workflow
    assert "lint-imports" in workflow
    assert "[tool.importlinter]" in pyproject


def test_read_only_distribution_has_no_rules(reader_scaffold: Path) -> None:
    """A read adapter has the same shape without rules.py, and no prepare or preflight."""
    package = reader_scaffold / "src/listsync_reader"
    assert {p.name for p in package.iterdir()} == SHAPE
    adapter = (package / "adapter.py").read_text()
    assert "def prepare" not in adapter
    assert "def preflight" not in adapter


def _variants(root: Path) -> list[Path]:
    dists = [
        generate(f"acme_{kind.value.replace('-', '_')}", auth=kind, output=root)
        for kind in AuthKind
    ]
    dists.append(generate("acme_reader", auth=AuthKind.API_KEY, read_only=True, output=root))
    return dists


def _listsync_imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every `import listsync...` / `from listsync... import names`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "listsync" or node.module.startswith("listsync."):
                found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.split(".")[0] == "listsync"]
    return found


def test_generated_code_imports_only_public_listsync_names(tmp_path: Path) -> None:
    """No generated module (tests aside) imports the engine, the CLI, the configuration
    loader, the registry, the kit, a private listsync module or a private name (an AST scan:
    import-linter sees modules, not the names imported from them)."""
    forbidden = ("sync", "cli", "config", "registry", "syndicator", "testing", "scaffold")
    problems = []
    for dist in _variants(tmp_path):
        for path in sorted((dist / "src").rglob("*.py")):
            for module, names in _listsync_imports(path):
                parts = module.split(".")
                if len(parts) > 1 and parts[1] in forbidden:
                    problems.append(f"{path.name}: imports {module}")
                if any(part.startswith("_") for part in parts):
                    problems.append(f"{path.name}: imports the private module {module}")
                private = [n for n in names if n.startswith("_")]
                if private:
                    problems.append(f"{path.name}: imports private {module} names {private}")
    assert problems == []


def test_generated_readme_has_no_dead_links(tmp_path: Path) -> None:
    """No generated file points at a placeholder address."""
    for dist in _variants(tmp_path):
        for path in dist.rglob("*"):
            if path.is_file():
                assert "example.invalid" not in path.read_text(), path


def test_import_contract_names_every_private_listsync_module(bearer_scaffold: Path) -> None:
    """The generated contract forbids each private listsync module found at generation time."""
    pyproject = (bearer_scaffold / "pyproject.toml").read_text()
    assert private_modules()
    for module in private_modules():
        assert f'"{module}"' in pyproject
    assert "listsync.adapter._types" in private_modules()


def _lint_imports(dist: Path, site: Path) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(  # noqa: S603  (our own venv's tool)
        [str(lint), "--no-cache"],
        cwd=dist,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_generated_adapters_keep_the_import_contract(installed: tuple[Path, list[Path]]) -> None:
    """`lint-imports` (with the contract the scaffold writes into pyproject.toml) passes for
    every generated variant, and fails once an adapter module imports the engine."""
    site, dists = installed
    for dist in dists:
        result = _lint_imports(dist, site)
        assert result.returncode == 0, f"{dist.name}:\n{result.stdout[-2000:]}{result.stderr}"
        assert "1 kept, 0 broken" in result.stdout
    broken_dist = dists[0].with_name(dists[0].name + "-broken")
    shutil.copytree(dists[0], broken_dist)
    package = dists[0].name.replace("-", "_")
    broken_site = site.with_name("site-broken")
    shutil.copytree(site, broken_site)
    adapter = broken_site / package / "adapter.py"
    adapter.write_text("import listsync.sync  # noqa\n" + adapter.read_text())
    result = _lint_imports(broken_dist, broken_site)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert f"{package}.adapter -> listsync.sync" in result.stdout
