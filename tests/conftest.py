"""Real PostgreSQL and Redis servers for the tests that need them (`scripts/services.py`).

`.ci/run` starts both and exports their URLs (`LISTSYNC_TEST_POSTGRES_URL`,
`LISTSYNC_TEST_REDIS_URL`); the tests then use those. Run by hand without them, the first test
that needs a server starts it through the same helper (installing it with apt-get when missing
and this user is root) for the session; when it cannot be installed or started, the tests that
need it are skipped with the reason (`-ra` lists it in the summary).
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_services() -> ModuleType:
    """scripts/services.py as a module (the scripts folder is no package)."""
    name = "listsync_test_services"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "services.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _Servers:
    """Starts the servers at most once per session, on first need."""

    def __init__(self) -> None:
        self.started: object | None = None
        self.failure: str | None = None

    def url(self, var: str, attr: str, what: str) -> str:
        if os.environ.get(var):
            return os.environ[var]
        if self.started is None and self.failure is None:
            services = load_services()
            try:
                self.started = services.Services.launch(install_missing=os.geteuid() == 0)
            except services.UnavailableError as exc:
                self.failure = str(exc)
        if self.failure is not None:
            pytest.skip(f"{what} unavailable: {self.failure}")
        url = getattr(self.started, attr)
        if not url:
            pytest.skip(f"{what} unavailable: not started")
        return str(url)


@pytest.fixture(scope="session")
def _servers() -> Iterator[_Servers]:
    servers = _Servers()
    yield servers
    if servers.started is not None:
        servers.started.stop()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def postgres_server_url(_servers: _Servers) -> str:
    """A PostgreSQL server's URL (its default database); skips the test when there is none."""
    return _servers.url("LISTSYNC_TEST_POSTGRES_URL", "postgres_url", "PostgreSQL")


@pytest.fixture(scope="session")
def redis_url(_servers: _Servers) -> str:
    """A Redis server's URL; skips the test when there is none."""
    return _servers.url("LISTSYNC_TEST_REDIS_URL", "redis_url", "Redis")


def schema_url(server_url: str, schema: str) -> str:
    """`server_url` with `search_path` set to `schema` (libpq's `options` parameter)."""
    glue = "&" if "?" in server_url else "?"
    return f"{server_url}{glue}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A URL on an empty schema of its own (dropped after the test), not migrated."""
    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_server_url, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema_url(postgres_server_url, schema)
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def migrated_postgres_url(postgres_url: str) -> str:
    """`postgres_url`, migrated to the newest revision."""
    from listsync.migrations import upgrade

    upgrade(postgres_url)
    return postgres_url


@pytest.fixture(scope="session")
def benchmark_listings() -> Iterator[list[Any]]:
    """The 10,000 listings `benchmarks/plan_cpu.py` plans (the bundled examples cloned with
    identifiers and media URLs of their own), parsed once for the session."""
    from listsync.model import Listing

    name = "listsync_bench_harness"
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "_harness.py")
    assert spec is not None
    assert spec.loader is not None
    harness = importlib.util.module_from_spec(spec)
    sys.modules[name] = harness  # its dataclasses look their module up
    try:
        spec.loader.exec_module(harness)
        yield [Listing.model_validate_json(line) for line in harness.listing_lines(10_000)]
    finally:
        sys.modules.pop(name, None)
