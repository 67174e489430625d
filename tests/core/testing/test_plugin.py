"""The pytest plugin's fixtures give an adapter wired to its sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from listsync.sandbox import Sandbox


@pytest.fixture
def listsync_portal() -> str:
    return "hemnet"


def test_plugin_registers_the_cassette_marker(pytestconfig: pytest.Config) -> None:
    """`-m cassette` selects the recorded scenarios (the marker is registered)."""
    assert any(line.startswith("cassette:") for line in pytestconfig.getini("markers"))


async def test_listsync_adapter_talks_to_listsync_sandbox(
    listsync_adapter: Any, listsync_sandbox: Sandbox
) -> None:
    """The adapter fixture reaches the sandbox fixture in process, with its credentials."""
    await listsync_adapter.check()
    assert listsync_sandbox.requests
    assert all(r.principal for r in listsync_sandbox.requests if r.status < 400)
