"""Fixtures for the conformance-kit tests: generated adapters and a subprocess pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest


def run_pytest(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """pytest in a subprocess (the kit's checks run on an adapter as its author would)."""
    environment = {**os.environ, **(env or {})}
    environment.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(  # noqa: S603  (our own interpreter and arguments)
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def bearer_scaffold(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated bearer-token write adapter (not installed)."""
    from listsync.scaffold import AuthKind, generate

    return generate("acme", auth=AuthKind.BEARER, output=tmp_path_factory.mktemp("scaffold"))


@pytest.fixture(scope="session")
def reader_scaffold(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated API-key read adapter (not installed)."""
    from listsync.scaffold import AuthKind, generate

    root = tmp_path_factory.mktemp("scaffold_read")
    return generate("reader", auth=AuthKind.API_KEY, read_only=True, output=root)
