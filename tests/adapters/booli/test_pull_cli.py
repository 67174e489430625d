"""`listsync pull booli`: end to end against the sandbox served over loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from listsync.cli import app
from listsync.model import Listing
from listsync.sandbox import FaultConfig
from listsync_booli.sandbox import BooliSandbox

from .conftest import ALL_SWEDEN

LISTSYNC = Path(sys.executable).with_name("listsync")
QUERY = ["--query", "bbox=55,10,70,25"]


def write_config(path: Path, values: dict[str, Any], **extra: Any) -> Path:
    lines = ["[portals.booli]"]
    lines += [f"{key} = {value!r}" for key, value in {**values, **extra}.items()]
    path.write_text("\n".join(lines).replace("'", '"') + "\n", encoding="utf-8")
    return path


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTSYNC_")}
    return subprocess.run(  # noqa: S603  (our own entry point, fixed arguments)
        [str(LISTSYNC), "pull", "booli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[BooliSandbox, str]]:
    sandbox = BooliSandbox()
    with sandbox.serve() as base_url:
        yield sandbox, base_url


def secrets_of(sandbox: BooliSandbox) -> list[str]:
    values = sandbox.client_settings("http://x")
    hashes = [r.query["hash"] for r in sandbox.requests if "hash" in r.query]
    return [values["caller_id"], values["api_key"], *hashes]


@pytest.mark.slow
@pytest.mark.parametrize(
    "faults",
    [
        FaultConfig(),
        FaultConfig(error_rate=0.2, rate_limit_rate=0.2, retry_after=0.05, seed=11,
                    methods=("GET",)),
    ],
    ids=["clean", "503-and-429"],
)  # fmt: skip
def test_pull_writes_every_listing_exactly_once(
    served: tuple[BooliSandbox, str], tmp_path: Path, faults: FaultConfig
) -> None:
    """JSON Lines on stdout hold each of the sandbox's listings once, faults or not."""
    sandbox, base_url = served
    sandbox.set_faults(faults)
    config = write_config(
        tmp_path / "c.toml", sandbox.client_settings(base_url), max_attempts=12, page_size=100
    )
    result = run(tmp_path, *QUERY, "--config", str(config))
    sandbox.set_faults(FaultConfig())
    assert result.returncode == 0, result.stderr
    listings = [Listing.model_validate_json(line) for line in result.stdout.splitlines()]
    refs = [listing.external_ref for listing in listings]
    assert len(refs) == len(set(refs)) == len(sandbox.matching(ALL_SWEDEN)) == 2000
    assert f"pulled {len(refs)} listings from booli" in result.stderr
    assert not [s for s in secrets_of(sandbox) if s in result.stderr + result.stdout]
    if faults.error_rate:
        assert {r.status for r in sandbox.requests if r.fault} >= {503, 429}


@pytest.mark.slow
def test_pull_sold_with_limit(served: tuple[BooliSandbox, str], tmp_path: Path) -> None:
    """--sold reads /sold and --limit caps the number of lines written."""
    sandbox, base_url = served
    config = write_config(tmp_path / "c.toml", sandbox.client_settings(base_url))
    result = run(tmp_path, "--sold", "-q", "q=nacka", "--limit", "7", "--config", str(config))
    assert result.returncode == 0, result.stderr
    listings = [Listing.model_validate_json(line) for line in result.stdout.splitlines()]
    assert len(listings) == 7
    assert all(listing.status.value == "sold" for listing in listings)


@pytest.mark.slow
def test_refused_credentials_exit_1_without_traceback_or_secret(
    served: tuple[BooliSandbox, str], tmp_path: Path
) -> None:
    """A 403 from Booli exits 1 with Booli's text, no traceback and no credentials."""
    sandbox, base_url = served
    values = {**sandbox.client_settings(base_url), "api_key": "wrong-key-123"}
    config = write_config(tmp_path / "c.toml", values)
    result = run(tmp_path, *QUERY, "--config", str(config))
    assert result.returncode == 1
    assert "FAILURE_INVALID_HASH" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not [s for s in [*secrets_of(sandbox), "wrong-key-123"] if s in result.stderr]


runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--query", "nokey"], "expected key=value"),
        (["--query", "q=a", "--query", "q=b"], "given twice"),
        (["--query", "q=a", "--query", "limit=501"], "query.limit"),
        (["--query", "minRooms=2"], "location is required"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    """Bad --query values are usage errors: exit 2 and a one-line message."""
    sandbox = BooliSandbox(listings=1, sold=1)
    config = write_config(tmp_path / "c.toml", sandbox.client_settings("http://127.0.0.1:9"))
    result = runner.invoke(app, ["pull", "booli", *args, "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_configuration_errors_exit_2(tmp_path: Path) -> None:
    """An unknown portal, a missing file or a missing credential exit 2."""
    missing = runner.invoke(app, ["pull", "nosuch", "--config", str(tmp_path / "x.toml")])
    assert missing.exit_code == 2
    assert "nosuch" in missing.stderr
    no_file = runner.invoke(app, ["pull", "booli", "--config", str(tmp_path / "x.toml")])
    assert no_file.exit_code == 2
    config = tmp_path / "c.toml"
    config.write_text('[portals.booli]\ncaller_id = "a"\n', encoding="utf-8")
    no_key = runner.invoke(app, ["pull", "booli", *QUERY, "--config", str(config)])
    assert no_key.exit_code == 2
    assert "api_key" in no_key.stderr
