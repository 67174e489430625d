"""`Sandbox.with_credentials`: fixed fake credentials from a JSON file, made on first use,
reused after (issue 17: a sandbox a person can use twice), as the Hemnet sandbox implements it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from listsync.errors import ConfigurationError
from listsync.sandbox import Sandbox
from listsync_hemnet import HemnetAdapter
from listsync_hemnet.sandbox import HemnetSandbox

from .conftest import BASE_URL, split_settings


async def _check(sandbox: HemnetSandbox, account: str = "default") -> None:
    settings, creds = split_settings(sandbox.client_settings(BASE_URL, account))
    adapter = HemnetAdapter(
        settings,
        creds,
        account_name=account,
        transport=sandbox.transport(),
        credential_store=_no_store,
    )
    try:
        await adapter.check()
    finally:
        await adapter.aclose()


async def _no_store(*_: object) -> None:
    raise AssertionError("no key is rotated in these tests")


async def test_first_use_writes_a_private_file_and_later_sandboxes_accept_it(
    tmp_path: Path,
) -> None:
    """The first sandbox writes its random credentials (file 0600, missing folders 0700); a
    second one, later, loads them: the same settings reach it, the first run's config works."""
    path = tmp_path / "new" / "hemnet.json"
    first = HemnetSandbox.with_credentials(path)
    assert first.credentials_file == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    data = json.loads(path.read_text())
    printed = first.client_settings(BASE_URL)
    assert data == {
        "sandbox": "hemnet",
        "accounts": {"default": {"token": printed["token"], "key_id": printed["key_id"]}},
    }
    second = HemnetSandbox.with_credentials(path, image_processing_seconds=0)
    assert second.client_settings(BASE_URL) == printed
    assert second.image_processing == 0
    await _check(second)
    assert json.loads(path.read_text()) == data  # reused, not rewritten


async def test_accounts_asked_for_are_added_and_kept(tmp_path: Path) -> None:
    """An account not in the file yet is added to it; every account in the file is restored."""
    path = tmp_path / "creds.json"
    HemnetSandbox.with_credentials(path)
    grown = HemnetSandbox.with_credentials(path, accounts=("acme",))
    acme = grown.client_settings(BASE_URL, "acme")
    assert set(json.loads(path.read_text())["accounts"]) == {"default", "acme"}
    third = HemnetSandbox.with_credentials(path)
    assert third.client_settings(BASE_URL, "acme") == acme
    await _check(third, "acme")
    await _check(third, "default")


async def test_the_sandbox_s_random_key_no_longer_works(tmp_path: Path) -> None:
    """Loaded credentials replace the ones the sandbox made at start: only one key per account."""
    path = tmp_path / "creds.json"
    HemnetSandbox.with_credentials(path)
    sandbox = HemnetSandbox()
    random_token = sandbox.client_settings(BASE_URL)["token"]
    sandbox.use_credentials_file(path)
    assert sandbox.client_settings(BASE_URL)["token"] != random_token
    assert len(sandbox.key_views()) == 1


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "cannot read sandbox credentials"),
        ("[1, 2]", "not a sandbox credentials file"),
        ('{"sandbox": "immowelt", "accounts": {}}', "another sandbox"),
        ('{"sandbox": "hemnet", "accounts": {"default": {"token": 5}}}', "not an object of"),
        ('{"sandbox": "hemnet", "accounts": {"default": {"token": "t"}}}', "key_id must be"),
    ],
)
def test_a_bad_file_is_one_configuration_error_without_its_values(
    tmp_path: Path, text: str, problem: str
) -> None:
    """A file that is not such an object, belongs to another sandbox or lacks a value: one
    `ConfigurationError` naming the file, never echoing a value; the file is left alone."""
    path = tmp_path / "creds.json"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=problem) as caught:
        HemnetSandbox.with_credentials(path)
    assert str(path) in str(caught.value)
    assert '"t"' not in str(caught.value)
    assert path.read_text() == text


def test_a_sandbox_without_the_hooks_says_so() -> None:
    """`supports_credentials_file` tells the CLI which sandboxes implement the two hooks."""

    class Bare(Sandbox):
        def routes(self) -> list:  # type: ignore[type-arg]
            return []

    assert HemnetSandbox.supports_credentials_file()
    assert not Bare.supports_credentials_file()
