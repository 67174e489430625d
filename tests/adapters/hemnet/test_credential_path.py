"""The default credential file of an account: never outside its folder, 0700 folder, 0600 file
(issue 14: a file path built from config text)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from listsync_hemnet import HemnetAccount
from listsync_hemnet.auth import (
    CREDENTIAL_FOLDER,
    credentials,
    default_credential_path,
    load_credentials,
)

HOSTILE = [
    "../../../escaped",
    "..",
    ".",
    "a/b",
    "/etc/passwd",
    "..\\..\\win",
    "acme\x00.json",
    "x" * 300,
    " spaced name ",
    "åäö",
    "",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_stay_directly_inside_the_folder(name: str, tmp_path: Path) -> None:
    """Whatever the account is called, the file is a plain name directly in the folder."""
    folder = tmp_path / "creds"
    path = default_credential_path(name, folder)
    assert path.parent == folder
    assert path.resolve().parent == folder.resolve()
    assert path.name.startswith("hemnet-")
    assert path.name.endswith(".json")
    assert "/" not in path.name
    assert "\\" not in path.name
    assert "\x00" not in path.name
    assert ".." not in path.name
    assert len(path.name) < 100


def test_plain_names_keep_their_file_and_others_never_collide() -> None:
    """`acme` keeps `hemnet-acme.json` (files of earlier versions are found again); names that
    differ only in what sanitising drops get different files."""
    assert default_credential_path("acme") == CREDENTIAL_FOLDER / "hemnet-acme.json"
    assert default_credential_path("north_2-b").name == "hemnet-north_2-b.json"
    names = ["a/b", "a_b", "a.b", "a b", "a//b", "A/b", "../a_b"]
    assert len({default_credential_path(n) for n in names}) == len(names)


async def test_a_rotated_key_of_an_escaping_account_lands_inside_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store writes `../../../escaped`'s key inside `.listsync-credentials` (made 0700),
    as a 0600 file, and reads it back; nothing is written above the working directory."""
    work = tmp_path / "deep" / "er" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    account = HemnetAccount(token=SecretStr("configured-token"))
    _, _, store = credentials(account, "../../../escaped", None, base_url="https://h.test")
    await store({"token": "rotated-token", "key_id": "k2"})
    folder = work / ".listsync-credentials"
    [written] = list(folder.iterdir())
    assert written.name.startswith("hemnet-escaped-")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [written.name]
    token, key_id, _ = credentials(account, "../../../escaped", None, base_url="https://h.test")
    assert (token.get_secret_value(), key_id) == ("rotated-token", "k2")
    assert load_credentials(written) is not None


async def test_an_existing_default_folder_is_made_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `.listsync-credentials` left 0755 by an earlier version becomes 0700 on the next
    write; the file is 0600."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / ".listsync-credentials"
    folder.mkdir()
    os.chmod(folder, 0o755)  # noqa: S103 - the permissive folder an earlier version made
    account = HemnetAccount(token=SecretStr("t"))
    _, _, store = credentials(account, "acme", None)
    await store({"token": "new", "key_id": "k"})
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "hemnet-acme.json").stat().st_mode) == 0o600


async def test_a_configured_file_gets_missing_folders_0700(tmp_path: Path) -> None:
    """`credential_file` in folders that do not exist yet: each one made is 0700."""
    target = tmp_path / "a" / "b" / "key.json"
    account = HemnetAccount(token=SecretStr("t"), credential_file=target)
    _, _, store = credentials(account, "acme", None)
    await store({"token": "new", "key_id": "k"})
    for folder in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
