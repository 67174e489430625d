"""Fixtures for the Booli adapter tests: an in-process sandbox and adapters bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from listsync.retry import RetryPolicy
from listsync_booli import BooliAccount, BooliAdapter, BooliSettings
from listsync_booli.sandbox import BooliSandbox

BASE_URL = "http://booli.sandbox.test"
ALL_SWEDEN = {"bbox": "55,10,70,25"}


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries without backoff sleeps (the attempt count of the settings still applies)."""
    monkeypatch.setattr(RetryPolicy, "_backoff", lambda self, attempts: 0.0)


@pytest.fixture(scope="module")
def shared_sandbox() -> BooliSandbox:
    """A read-only default sandbox, built once per module (the dataset takes a moment)."""
    return BooliSandbox()


@pytest.fixture
def sandbox() -> BooliSandbox:
    return BooliSandbox(listings=600, sold=300)


def settings_for(sandbox: BooliSandbox, account: str = "default", **options: Any) -> tuple[
    BooliSettings, BooliAccount
]:  # fmt: skip
    values = sandbox.client_settings(BASE_URL, account)
    settings = BooliSettings(base_url=values["base_url"], referer=values["referer"], **options)
    credentials = BooliAccount(caller_id=values["caller_id"], api_key=values["api_key"])
    return settings, credentials


AdapterFactory = Callable[..., BooliAdapter]


@pytest.fixture
async def make_adapter() -> AsyncIterator[AdapterFactory]:
    """Build adapters on a sandbox's in-process transport; all are closed afterwards."""
    made: list[BooliAdapter] = []

    def build(sandbox: BooliSandbox, account: str = "default", **options: Any) -> BooliAdapter:
        settings, credentials = settings_for(sandbox, account, **options)
        adapter = BooliAdapter(
            settings, credentials, account_name=account, transport=sandbox.transport()
        )
        made.append(adapter)
        return adapter

    yield build
    for adapter in made:
        await adapter.aclose()
