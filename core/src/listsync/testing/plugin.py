"""pytest plugin of the conformance kit (entry point `pytest11: listsync`).

Registers the `cassette` marker and offers fixtures for adapter authors' own tests:

- `listsync_portal`: the adapter (entry-point) name; override it in a conftest, or use the
  kit's classes, whose `portal` attribute it reads.
- `listsync_sandbox`: a fresh sandbox of that portal (from `listsync.sandboxes`).
- `listsync_adapter`: an adapter instance wired to `listsync_sandbox` in process, closed after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from listsync.sandbox import Sandbox
from listsync.testing._fixtures import AdapterFixtures


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cassette: replays recorded HTTP from cassettes/<portal>/ (re-record with "
        "scripts/record_cassettes.py)",
    )


@pytest.fixture
def listsync_portal(request: pytest.FixtureRequest) -> str:
    """The portal under test: the test class's `portal` attribute (override otherwise)."""
    portal = getattr(request.instance, "portal", None)
    if not isinstance(portal, str):
        raise pytest.UsageError(
            "listsync_portal: define a `listsync_portal` fixture returning the adapter name"
        )
    return portal


def _fixtures(request: pytest.FixtureRequest, portal: str) -> AdapterFixtures:
    if isinstance(request.instance, AdapterFixtures):
        return request.instance
    fixtures: AdapterFixtures = type("PortalFixtures", (AdapterFixtures,), {"portal": portal})()
    return fixtures


@pytest.fixture
def listsync_sandbox(request: pytest.FixtureRequest, listsync_portal: str) -> Sandbox:
    """A fresh sandbox of the portal under test."""
    return _fixtures(request, listsync_portal).make_sandbox()


@pytest.fixture
def listsync_adapter(
    request: pytest.FixtureRequest, listsync_portal: str, listsync_sandbox: Sandbox
) -> Iterator[Any]:
    """An adapter wired to `listsync_sandbox` in process (closed after the test)."""
    adapter = _fixtures(request, listsync_portal).make_adapter(listsync_sandbox)
    yield adapter
    asyncio.run(adapter.aclose())
