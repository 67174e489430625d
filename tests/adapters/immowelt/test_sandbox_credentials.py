"""Fixed fake credentials for `listsync sandbox serve immowelt --credentials FILE` (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from listsync.errors import AuthenticationError, ConfigurationError
from listsync.testing import ManualClock
from listsync_immowelt.sandbox import ImmoweltSandbox

from .conftest import build_adapter


def _creds(sandbox: ImmoweltSandbox, account: str = "default") -> dict[str, str]:
    settings = sandbox.client_settings("http://x", account)
    return {k: settings[k] for k in ("client_id", "client_secret")}


async def test_credentials_file_survives_a_restart(tmp_path: Path, clock: ManualClock) -> None:
    """The file is written 0600 (folder 0700) on first use; a new sandbox from it accepts the
    same client id and secret, which `client_settings` prints, and an adapter configured with
    them gets a token; the secret a sandbox made at random before is refused."""
    path = tmp_path / "creds" / "immowelt.json"
    first = ImmoweltSandbox.with_credentials(path, accounts=("default", "agency-b"), clock=clock)
    assert ImmoweltSandbox.supports_credentials_file()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    saved = json.loads(path.read_text())
    assert saved == {
        "sandbox": "immowelt",
        "accounts": {"default": _creds(first), "agency-b": _creds(first, "agency-b")},
    }

    second = ImmoweltSandbox(clock=clock)
    random_b = second.add_account("agency-b")
    second.use_credentials_file(path, accounts=("agency-b",))
    assert _creds(second, "agency-b") == saved["accounts"]["agency-b"]
    assert _creds(second) == saved["accounts"]["default"]
    adapter = build_adapter(second, clock, account="agency-b")
    try:
        await adapter.check()
    finally:
        await adapter.aclose()
    stale = build_adapter(
        second, clock, account="agency-b", client_secret=random_b["client_secret"]
    )
    try:
        with pytest.raises(AuthenticationError, match="invalid_client"):
            await stale.check()
    finally:
        await stale.aclose()


def test_listings_stay_with_the_account_when_its_client_changes(clock: ManualClock) -> None:
    """Loading credentials for an account keeps what its sandbox client held."""
    sandbox = ImmoweltSandbox(clock=clock)
    sandbox.seed_listing({"metadata": {"source": {"offererEstateId": "DE-1"}}})
    sandbox.load_credentials("default", {"client_id": "fixed-id", "client_secret": "s3"})
    assert list(sandbox.listings()) == ["DE-1"]
    assert _creds(sandbox) == {"client_id": "fixed-id", "client_secret": "s3"}


@pytest.mark.parametrize(
    "values",
    [{"client_id": "x"}, {"client_id": " ", "client_secret": "s"}, {"client_secret": "s"}],
)
def test_malformed_credentials_are_refused(values: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="must be a non-empty string"):
        ImmoweltSandbox().load_credentials("default", values)


def test_a_client_of_another_account_or_sandbox_is_refused(tmp_path: Path) -> None:
    sandbox = ImmoweltSandbox()
    taken = sandbox.add_account("b")["client_id"]
    with pytest.raises(ValueError, match="another account"):
        sandbox.load_credentials("default", {"client_id": taken, "client_secret": "s"})
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"sandbox": "booli", "accounts": {}}))
    with pytest.raises(ConfigurationError, match="another sandbox"):
        ImmoweltSandbox.with_credentials(path)
