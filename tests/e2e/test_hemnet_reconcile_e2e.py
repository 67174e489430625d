"""Hemnet over loopback: reading records back after changes behind listsync's back, and
`listsync sandbox serve hemnet --credentials FILE` keeping its fake credentials across restarts.

The engine's `refresh`/adoption E2E (issue 15 acceptance) build on these once the engine uses
`fetch`; here the adapter is driven directly (the kit's Driver) against a served sandbox.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from listsync.adapter import diff_projection
from listsync.cli import app
from listsync.model import parse_listing
from listsync.testing import Driver
from listsync_hemnet import HemnetAccount, HemnetAdapter, HemnetSettings
from listsync_hemnet.sandbox import HemnetSandbox

pytestmark = pytest.mark.slow
LISTSYNC = [sys.executable, "-c", "from listsync.cli import main; main()"]

LISTING: dict[str, Any] = {
    "external_ref": "e2e-1",
    "agency": {"external_ref": "ag-1", "name": "Söders Mäkleri"},
    "agent": {"first_name": "Eva", "last_name": "Lind", "email": "eva@soder.example.se"},
    "category": "apartment",
    "tenure": "cooperative",
    "status": "for_sale",
    "address": {
        "country": "SE",
        "street": "Götgatan",
        "house_number": "12",
        "postal_code": "11646",
        "city": "Stockholm",
    },
    "coordinates": {"lat": 59.3142, "lon": 18.0726},
    "asking_price": {"amount": "4950000", "currency": "SEK"},
    "living_area": "62.5",
    "rooms": "2.5",
    "description": {"sv": "Ljus tvåa."},
    "media": [{"url": "https://img.example.se/e2e-1/1.jpg"}],
    "showings": [{"start": "2030-02-01T17:00:00+01:00"}],
}


def _adapter(settings: dict[str, Any], cwd: Path) -> HemnetAdapter:
    plain = {k: v for k, v in settings.items() if k in HemnetSettings.model_fields}
    account = {k: v for k, v in settings.items() if k in HemnetAccount.model_fields}
    account["credential_file"] = cwd / "rotated.json"
    return HemnetAdapter(HemnetSettings(**plain), HemnetAccount(**account))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[HemnetSandbox, str]]:
    sandbox = HemnetSandbox(image_processing_seconds=0.05)
    with sandbox.serve() as base_url:
        yield sandbox, base_url


async def test_drift_behind_listsync_s_back_reads_back_over_loopback(
    served: tuple[HemnetSandbox, str], tmp_path: Path
) -> None:
    """Created through the adapter, then edited, seeded and removed on the sandbox: `fetch`
    over HTTP reports exactly that drift, finds the seeded record by its ref, and None for
    the removed one."""
    sandbox, base_url = served
    adapter = _adapter(sandbox.client_settings(base_url), tmp_path)
    try:
        listing = parse_listing(LISTING)
        driver = Driver(adapter)
        await driver.sync(listing)
        desired = driver.desired(listing)
        record = await adapter.fetch(listing.external_ref, driver.remote_id, like=desired)
        assert record is not None
        assert record.projection is not None
        assert diff_projection(record.projection, desired).field_changes == {}
        sandbox.edit_listing("e2e-1", {"livingArea": 60})
        record = await adapter.fetch(listing.external_ref, driver.remote_id, like=desired)
        assert record is not None
        assert record.projection is not None
        diff = diff_projection(record.projection, desired)
        assert diff.field_changes == {"livingArea": 62.5}
        assert (diff.media_added, diff.media_removed, diff.showings_added) == ((), (), ())

        seeded = parse_listing({**LISTING, "external_ref": "e2e-2"})
        seeded_id = sandbox.seed_listing(seeded)
        fresh = _adapter(sandbox.client_settings(base_url), tmp_path)
        try:
            found = await fresh.fetch("e2e-2", None, like=driver.desired(seeded))
            assert found is not None
            assert found.remote_id == seeded_id
            assert found.projection is not None
            assert diff_projection(found.projection, driver.desired(seeded)).field_changes == {}
            refs = {ref async for ref, _ in fresh.records()}
            assert refs == {"e2e-1", "e2e-2"}
        finally:
            await fresh.aclose()
        sandbox.remove_listing("e2e-1")
        assert await adapter.fetch("e2e-1", driver.remote_id) is None
    finally:
        await adapter.aclose()


# -- sandbox serve --credentials ----------------------------------------------------------
def _serve_once(credentials: Path, cwd: Path) -> dict[str, Any]:
    """Start `sandbox serve hemnet --credentials FILE`, read its printed table, stop it."""
    proc = subprocess.Popen(  # noqa: S603 - the test's own argv, no shell
        [*LISTSYNC, "sandbox", "serve", "hemnet", "--port", "0", "--credentials", str(credentials)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )
    try:
        assert proc.stdout is not None
        assert proc.stderr is not None
        while "Press Ctrl+C" not in proc.stderr.readline():
            assert proc.poll() is None, "the sandbox exited early"
        os.set_blocking(proc.stdout.fileno(), False)
        printed = proc.stdout.read()
        table: dict[str, Any] = tomllib.loads(printed.split("\n", 1)[1])["portals"]["hemnet"]
        asyncio.run(_check(table, cwd))
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return table


async def _check(table: dict[str, Any], cwd: Path) -> None:
    adapter = _adapter(table, cwd)
    try:
        await adapter.check()
    finally:
        await adapter.aclose()


def test_serve_with_credentials_keeps_the_fake_key_across_restarts(tmp_path: Path) -> None:
    """The first `serve --credentials` makes the file (0600) and prints its values; a restart
    prints the same token and key id, and the adapter configured from the first run works
    against the second."""
    credentials = tmp_path / "sandbox-creds" / "hemnet.json"
    first = _serve_once(credentials, tmp_path)
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    second = _serve_once(credentials, tmp_path)
    assert (second["token"], second["key_id"]) == (first["token"], first["key_id"])
    asyncio.run(_check_stale(first, second, tmp_path))


async def _check_stale(first: dict[str, Any], second: dict[str, Any], cwd: Path) -> None:
    """The second sandbox is stopped by now: serve a third and use the FIRST run's values."""
    sandbox = HemnetSandbox.with_credentials(cwd / "sandbox-creds" / "hemnet.json")
    with sandbox.serve() as base_url:
        await _check({**first, "base_url": base_url}, cwd)


def test_serve_with_a_broken_credentials_file_is_one_line(tmp_path: Path) -> None:
    """A credentials file that is not one: exit 2, one line naming it, no traceback."""
    bad = tmp_path / "creds.json"
    bad.write_text('{"sandbox": "immowelt", "accounts": {}}')
    result = CliRunner().invoke(app, ["sandbox", "serve", "hemnet", "--credentials", str(bad)])
    assert result.exit_code == 2
    assert str(bad) in result.stderr
    assert "another sandbox" in result.stderr
    assert "Traceback" not in result.stderr
