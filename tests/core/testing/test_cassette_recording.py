"""Cassettes: the recording path for a portal's real environment, and replay without any
server (the scaffold's adapter stands in for a third-party one; a second sandbox on a random
port stands in for the real portal)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from listsync.testing.cassettes import WriteCassetteScenarios, scan_cassette


@dataclass
class _Config:
    """The two things the cassette scenarios read from pytest's config."""

    mode: str
    rootpath: Path

    def getoption(self, name: str, default: Any = None) -> Any:
        return self.mode if name == "--record-mode" else default


def test_real_environment_recording_replays_on_loopback(
    bearer_scaffold: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recording against `LISTSYNC_ACME_BASE_URL` rewrites URIs to the fixed loopback base,
    scrubs the real token, and the cassette then replays with no server running."""
    monkeypatch.syspath_prepend(str(bearer_scaffold / "src"))
    monkeypatch.syspath_prepend(str(bearer_scaffold / "tests"))
    monkeypatch.chdir(tmp_path)
    from listsync_acme import AcmeAdapter
    from listsync_acme.sandbox import AcmeSandbox
    from test_conformance import AcmeFixtures  # type: ignore[import-not-found]  # generated, on sys.path only here

    class Cassettes(WriteCassetteScenarios, AcmeFixtures):  # type: ignore[misc]  # base is untyped here
        adapter_cls = AcmeAdapter
        sandbox_cls = AcmeSandbox
        cassette_port = 18099
        cassette_root = tmp_path / "cassettes"

    portal = AcmeSandbox()
    with portal.serve() as url:
        token = portal.client_settings(url)["token"]
        monkeypatch.setenv("LISTSYNC_ACME_BASE_URL", url)
        monkeypatch.setenv("LISTSYNC_ACME_TOKEN", token)
        Cassettes().test_cassette_lifecycle(_Config("all", tmp_path))
    monkeypatch.delenv("LISTSYNC_ACME_BASE_URL")
    monkeypatch.delenv("LISTSYNC_ACME_TOKEN")
    assert portal.write_requests(), "the real environment received the scenario"
    cassette = tmp_path / "cassettes" / "acme" / "lifecycle.yaml"
    text = cassette.read_text(encoding="utf-8")
    assert "http://127.0.0.1:18099/listings" in text
    assert url not in text
    assert token not in text
    assert scan_cassette(cassette, [token]) == []
    Cassettes().test_cassette_lifecycle(_Config("none", tmp_path))
