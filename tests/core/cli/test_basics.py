"""`listsync adapters`, `schema`, `validate` and `sandbox serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from listsync.cli import app
from listsync.model import render_listing_json_schema
from listsync.registry import SANDBOX_GROUP, Registry

from .conftest import AcmeAdapter, PingSandbox

LISTSYNC = Path(sys.executable).with_name("listsync")

LISTING = {
    "external_ref": "NOR-1",
    "agency": {"external_ref": "se-norrmalm", "name": "Norrmalms Mäklarbyrå"},
    "category": "apartment",
    "address": {
        "country": "SE",
        "street": "Sveavägen 1",
        "postal_code": "11350",
        "city": "Stockholm",
    },
    "rooms": 2,
    "description": {"sv": "Fin", "en": "Nice"},
    "portals": ["acme"],
}


def write_jsonl(path: Path, *rows: Any) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_adapters_table_lists_adapters_and_broken_plugins(
    runner: CliRunner, fake_registry: object
) -> None:
    """The table names each adapter with capabilities, distribution and version, and the broken."""
    result = runner.invoke(app, ["adapters"])
    assert result.exit_code == 0, result.output
    for text in ("acme", "create", "acme-dist", "1.2.3", "broken", "ImportError: no module"):
        assert text in result.output


def test_adapters_json(runner: CliRunner, fake_registry: object) -> None:
    """`--json` prints a document with adapters and broken plugins."""
    result = runner.invoke(app, ["adapters", "--json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["adapters"][0]["name"] == "acme"
    assert doc["adapters"][0]["capabilities"] == ["create"]
    assert doc["broken"] == [
        {"name": "broken", "target": "broken_pkg:Adapter", "error": "ImportError: no module"}
    ]


def test_schema_to_stdout_and_file(runner: CliRunner, tmp_path: Path) -> None:
    """`schema` prints the schema; `--output` writes the same text to a file."""
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert result.stdout == render_listing_json_schema()
    target = tmp_path / "sub" / "listing.schema.json"
    assert runner.invoke(app, ["schema", "--output", str(target)]).exit_code == 0
    assert target.read_text("utf-8") == render_listing_json_schema()


def test_validate_valid_file_exits_0(runner: CliRunner, tmp_path: Path) -> None:
    """All valid: exit 0, nothing on stdout, a summary on stderr."""
    path = write_jsonl(tmp_path / "ok.jsonl", LISTING, "", {**LISTING, "external_ref": "NOR-2"})
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "2 listing(s) checked: 2 valid, 0 invalid" in result.stderr


def test_validate_invalid_lines_exit_1_with_paths(runner: CliRunner, tmp_path: Path) -> None:
    """Each bad line is printed as `line N: path: message`; exit 1; no traceback."""
    bad = dict(LISTING, rooms=2.2, living_area=-5)
    path = write_jsonl(tmp_path / "bad.jsonl", LISTING, "{oops", bad)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("line 2: <listing>: not valid JSON")
    assert sorted(lines[1:]) == [
        "line 3: living_area: Input should be greater than or equal to 0 [NOR-1]",
        "line 3: rooms: Input should be a multiple of 0.5 [NOR-1]",
    ]
    assert "Traceback" not in result.output
    assert "3 listing(s) checked: 1 valid, 2 invalid" in result.stderr


def test_validate_missing_file_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    """A file that does not exist is a one-line error with exit code 2."""
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "error: No such file or directory" in result.stderr


def test_validate_with_portal_runs_preflight_offline(
    runner: CliRunner, fake_registry: object, tmp_path: Path
) -> None:
    """`--portal` runs the adapter's preflight on listings that name it; errors fail the run,
    warnings are only reported; the adapter is built with placeholders and closed."""
    no_rooms = {k: v for k, v in LISTING.items() if k != "rooms"} | {"external_ref": "NOR-2"}
    no_english = dict(LISTING, description={"sv": "Fin"}, external_ref="NOR-3")
    elsewhere = dict(no_rooms, portals=["hemnet"], external_ref="NOR-4")
    path = write_jsonl(tmp_path / "p.jsonl", LISTING, no_rooms, no_english, elsewhere)
    result = runner.invoke(app, ["validate", str(path), "--portal", "acme"])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "line 2: rooms: rooms are required (acme numberOfRooms rule R1) [NOR-2]",
    ]
    assert "line 3: description.en: no English text (acme) [warning] [NOR-3]" in result.stderr
    (adapter,) = AcmeAdapter.instances
    assert adapter.closed
    assert adapter.settings.base_url == "http://127.0.0.1:9"
    assert adapter.account.api_token.get_secret_value() == "placeholder"
    assert isinstance(adapter.transport, httpx.MockTransport)


def test_offline_adapter_transport_refuses_requests(fake_registry: object) -> None:
    """The offline adapter's transport raises instead of sending anything."""
    from listsync.cli._basics import offline_adapter

    adapter = offline_adapter(AcmeAdapter)
    with httpx.Client(transport=adapter.transport) as client, pytest.raises(httpx.ConnectError):
        client.get("http://127.0.0.1:9/x")


def test_validate_unknown_portal_exits_2(
    runner: CliRunner, fake_registry: object, tmp_path: Path
) -> None:
    """An adapter that is not installed is a configuration error naming it."""
    path = write_jsonl(tmp_path / "ok.jsonl", LISTING)
    result = runner.invoke(app, ["validate", str(path), "--portal", "nowhere"])
    assert result.exit_code == 2
    assert "no adapter named 'nowhere'" in result.stderr


def test_sandbox_serve_prints_settings_and_serves(
    runner: CliRunner, fake_registry: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sandbox serve` serves over loopback, prints the base URL and the settings with the
    sandbox's own fake credentials (they guard nothing; a person pastes them into a config)."""
    answers: list[int] = []

    def instead_of_waiting() -> None:
        answers.append(httpx.get(PingSandbox.served_at[-1] + "/ping").status_code)

    monkeypatch.setattr("listsync.cli._sandbox.wait_for_interrupt", instead_of_waiting)
    result = runner.invoke(app, ["sandbox", "serve", "acme", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert answers == [200]
    url = PingSandbox.served_at[-1]
    assert f"sandbox acme listening on {url}" in result.stdout
    assert "[portals.acme]" in result.stdout
    assert 'region = "north"' in result.stdout
    assert 'api_token = "tok-sandbox-42"' in result.stdout
    assert 'agencies = ["se-norrmalm"]' in result.stdout
    assert "max_concurrency = 4" in result.stdout


def test_sandbox_serve_unknown_name_exits_2(runner: CliRunner, fake_registry: object) -> None:
    """An unknown sandbox is a one-line error."""
    result = runner.invoke(app, ["sandbox", "serve", "nowhere"])
    assert result.exit_code == 2
    assert "nowhere" in result.stderr


def test_global_log_options_configure_logging(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`--log-format json --log-level debug` reach `configure_logging`, given before or after
    the command name (issue 17: after `apply` they used to be overridden by its defaults)."""
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(
        "listsync.cli._terminal.configure_logging",
        lambda format, level, **_: calls.append((format, level)),  # noqa: A006 - mirrors the API
    )
    path = write_jsonl(tmp_path / "ok.jsonl", LISTING)
    before = ["--log-format", "json", "--log-level", "debug", "validate", str(path)]
    after = ["validate", str(path), "--log-format=json", "--log-level", "debug"]
    for args in (before, after):
        calls.clear()
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert calls == [("json", "DEBUG")]


# -- real processes -------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_validates_examples_in_a_subprocess(root: Path) -> None:
    """The installed `listsync` accepts the examples and rejects every invalid line by path."""
    ok = subprocess.run(  # noqa: S603 - our own installed script, fixed arguments
        [LISTSYNC, "validate", "examples/listings.jsonl"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run(  # noqa: S603 - our own installed script, fixed arguments
        [LISTSYNC, "validate", "examples/invalid.jsonl"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    reported = {line.split(":")[0] for line in bad.stdout.splitlines()}
    assert reported == {f"line {n}" for n in range(1, 25)}
    assert "line 4: address.postal_code: invalid postal code '012 34'" in bad.stdout
    assert "line 10: showings[0].start: Input should have timezone info" in bad.stdout


@pytest.mark.slow
def test_sandbox_serve_in_a_subprocess_until_interrupted() -> None:
    """`listsync sandbox serve NAME` answers over loopback and stops cleanly on Ctrl+C."""
    names = Registry(SANDBOX_GROUP).names()
    if not names:
        pytest.skip("no sandbox is installed yet")
    proc = subprocess.Popen(  # noqa: S603 - our own installed script, fixed arguments
        [LISTSYNC, "sandbox", "serve", names[0], "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in first, first
        url = first.rsplit(" ", 1)[1].strip()
        assert httpx.get(url + "/", timeout=10).status_code < 600
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped" in err
    assert "Traceback" not in err


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hemnet", "immowelt", "booli"])
def test_each_builtin_sandbox_serves_its_adapter_over_loopback(name: str, tmp_path: Path) -> None:
    """`listsync sandbox serve NAME` serves each built-in portal sandbox on loopback, and the
    `[portals.NAME]` block it prints is enough for the real adapter to pass its `check()`."""
    import asyncio
    import tomllib

    from listsync.config import parse_portal_config

    proc = subprocess.Popen(  # noqa: S603 - our own installed script, fixed arguments
        [LISTSYNC, "sandbox", "serve", name, "--port", "0", "--show-secrets"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        assert proc.stderr is not None
        # The settings block is on stdout; "Press Ctrl+C" follows it on stderr.
        while "Press Ctrl+C" not in proc.stderr.readline():
            assert proc.poll() is None, "the sandbox exited early"
        os.set_blocking(proc.stdout.fileno(), False)
        printed = proc.stdout.read()
        table = tomllib.loads(printed.split("\n", 1)[1])["portals"][name]
        cls = Registry().get(name)
        config = parse_portal_config(name, table, cls.settings_model, cls.account_model)

        async def check() -> None:
            adapter = cls(config.settings, config.accounts["default"])
            try:
                await adapter.check()
            finally:
                await adapter.aclose()

        asyncio.run(check())
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def test_listsync_binary_is_next_to_python() -> None:
    """The subprocess tests run the `listsync` script of this environment."""
    assert LISTSYNC.exists() or os.name == "nt"


def test_adapters_matrix_is_built_from_installed_capabilities(runner: CliRunner) -> None:
    """`listsync adapters --matrix` prints the markdown matrix from the adapters' declared
    capabilities: the same text as the checked-in docs/feature-matrix.md."""
    result = runner.invoke(app, ["adapters", "--matrix"])
    assert result.exit_code == 0, result.output
    assert "| adapter |" in result.output
    root = Path(__file__).resolve().parents[3]
    assert result.output == (root / "docs" / "feature-matrix.md").read_text(encoding="utf-8")
