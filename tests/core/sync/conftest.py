"""Fixtures for the engine tests: the acme test portal, listings and syndicators."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from acme_portal import AcmeAdapter, AcmeSandbox

from listsync.syndicator import Syndicator

HERE = Path(__file__).parent


@pytest.fixture
def sandbox() -> AcmeSandbox:
    return AcmeSandbox(tokens={"tok-default": "default"})


@pytest.fixture
def state_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.sqlite'}"


@pytest.fixture
async def syndicator(sandbox: AcmeSandbox, state_url: str) -> AsyncIterator[Syndicator]:
    s = Syndicator(
        {
            "acme": {
                "base_url": "http://acme.test",
                "token": "tok-default",
                "max_attempts": 3,
                "max_retry_wait": 1,
                "breaker_threshold": 1000,  # the fault tests here are about retries
            }
        },
        state=state_url,
        transports={"acme": sandbox.transport()},
        adapters={"acme": AcmeAdapter},
        concurrency=8,
    )
    yield s
    await s.aclose()


@pytest.fixture
def acme_site(tmp_path: Path) -> Path:
    """A directory that makes `acme` and `beta` look installed (entry points), for the CLI."""
    site = tmp_path / "site"
    dist = site / "listsync_acme_test-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: listsync-acme-test\nVersion: 0.1\n"
    )
    (dist / "entry_points.txt").write_text(
        "[listsync.adapters]\nacme = acme_portal:AcmeAdapter\nbeta = acme_portal:BetaAdapter\n"
        "\n[listsync.sandboxes]\nacme = acme_portal:AcmeSandbox\n"
    )
    return site


@pytest.fixture(autouse=True)
def _restore_global_logging(restore_logging: None) -> None:
    """In-process CLI runs configure logging (that is the CLI's job): `restore_logging` (from
    tests/core/conftest.py) undoes it after each test, so later tests' `capture_logs()` and
    `caplog` see listsync's and httpx's records again."""
