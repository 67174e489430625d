"""Fixtures for the basic CLI commands: a fake adapter and sandbox behind a fake registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from typer.testing import CliRunner
from typing_extensions import override

from listsync.adapter import AccountSettings, AdapterSettings, Capability, Prepared
from listsync.errors import ConfigurationError, FieldIssue, Severity
from listsync.model import Listing
from listsync.registry import SANDBOX_GROUP, AdapterInfo, BrokenPlugin
from listsync.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[3]


class AcmeSettings(AdapterSettings):
    region: str


class AcmeAccount(AccountSettings):
    api_token: SecretStr


class AcmeAdapter:
    """A write adapter whose preflight wants `rooms` and warns about missing English text."""

    name: ClassVar[str] = "acme"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.CREATE})
    settings_model: ClassVar[type[AdapterSettings]] = AcmeSettings
    account_model: ClassVar[type[AccountSettings]] = AcmeAccount
    instances: ClassVar[list[AcmeAdapter]] = []

    def __init__(
        self,
        settings: AcmeSettings,
        account: AcmeAccount,
        *,
        account_name: str = "default",
        transport: httpx.AsyncBaseTransport | None = None,
        credential_store: Any = None,
    ) -> None:
        self.settings, self.account, self.transport = settings, account, transport
        self.closed = False
        AcmeAdapter.instances.append(self)

    def prepare(self, listing: Listing) -> Prepared:
        issues = []
        if listing.rooms is None:
            issues.append(
                FieldIssue(
                    path="rooms",
                    message="rooms are required",
                    portal="acme",
                    portal_field="numberOfRooms",
                    rule="R1",
                )
            )
        if "en" not in listing.description:
            issues.append(
                FieldIssue(
                    path="description.en",
                    message="no English text",
                    portal="acme",
                    severity=Severity.WARNING,
                )
            )
        return Prepared(tuple(issues), None)

    async def aclose(self) -> None:
        self.closed = True


class PingSandbox(Sandbox):
    """A sandbox with one route, `GET /ping`."""

    name: ClassVar[str] = "acme"
    served_at: ClassVar[list[str]] = []

    @override
    def routes(self) -> list[BaseRoute]:
        async def ping(request: Request) -> JSONResponse:
            return JSONResponse({"pong": True})

        return [Route("/ping", ping)]

    @override
    def client_settings(self, base_url: str, account: str = "default") -> dict[str, Any]:
        PingSandbox.served_at.append(base_url)
        return {
            "base_url": base_url,
            "region": "north",
            "api_token": SecretStr("tok-sandbox-42"),
            "max_concurrency": 4,
            "agencies": ["se-norrmalm"],
        }


class FakeRegistry:
    """Stands in for `listsync.registry.Registry`: acme loads, `broken` failed to import."""

    def __init__(self, group: str = "listsync.adapters") -> None:
        self.group = group
        self.broken = [BrokenPlugin("broken", "broken_pkg:Adapter", "ImportError: no module")]
        self.plugins: dict[str, type[Any]] = {
            "acme": PingSandbox if group == SANDBOX_GROUP else AcmeAdapter
        }

    def names(self) -> list[str]:
        return sorted(self.plugins)

    def get(self, name: str) -> type[Any]:
        if name not in self.plugins:
            raise ConfigurationError(
                f"no adapter named {name!r} is installed", key=f"portals.{name}"
            )
        return self.plugins[name]

    def adapters(self) -> list[AdapterInfo]:
        return [AdapterInfo("acme", AcmeAdapter, AcmeAdapter.capabilities, "acme-dist", "1.2.3")]


@pytest.fixture
def fake_registry(monkeypatch: pytest.MonkeyPatch) -> type[FakeRegistry]:
    """The CLI sees the fake registry (adapter `acme`, broken plugin `broken`)."""
    for module in ("_basics", "_sandbox", "_engine", "_config", "_pull", "_app"):
        monkeypatch.setattr(f"listsync.cli.{module}.Registry", FakeRegistry, raising=False)
    AcmeAdapter.instances.clear()
    PingSandbox.served_at.clear()
    return FakeRegistry


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def root() -> Path:
    return ROOT
