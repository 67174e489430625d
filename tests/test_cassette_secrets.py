"""Every recorded cassette is free of secrets (scrubbed at record time, checked here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from listsync.testing.cassettes import scan_cassette

CASSETTES = sorted((Path(__file__).resolve().parents[1] / "cassettes").rglob("*.yaml"))


def test_there_are_cassettes_for_every_built_in_portal() -> None:
    """Each built-in portal has at least one recorded scenario."""
    assert {p.parent.name for p in CASSETTES} >= {"hemnet", "immowelt", "booli"}


@pytest.mark.parametrize("path", CASSETTES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_cassette_holds_no_secret(path: Path) -> None:
    """No credential header, Bearer token, JWT, secret-keyed body field or 40-hex signature
    appears in the cassette."""
    assert scan_cassette(path) == []


def test_scan_catches_an_unscrubbed_cassette(tmp_path: Path) -> None:
    """The scan reports a leaked header, signature and token body (so it can fail)."""
    leaked = tmp_path / "leaky.yaml"
    leaked.write_text(
        "interactions:\n"
        "- request:\n"
        "    body: null\n"
        "    headers:\n"
        "      Authorization: [Bearer abcdefghijklmnopqrstuvwxyz]\n"
        "    method: GET\n"
        f"    uri: http://127.0.0.1:1/x?callerId=me&hash={'ab' * 20}\n"
        "  response:\n"
        '    body: {string: \'{"authToken": "tok-123456789"}\'}\n'
        "    headers: {}\n"
        "    status: {code: 200, message: OK}\n"
        "version: 1\n",
        encoding="utf-8",
    )
    found = " ".join(scan_cassette(leaked))
    assert "Bearer" in found
    assert "header Authorization" in found
    assert "query parameter hash" in found
    assert "query parameter callerId" in found
    assert "'authToken'" in found
