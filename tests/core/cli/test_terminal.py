"""The screen a person sees: `listsync apply` in a pseudo-terminal (pexpect), against the Hemnet
sandbox served on loopback with injected faults, plus the CLI's uniform behaviour."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

LISTSYNC = Path(sys.executable).with_name("listsync")
ROOT = Path(__file__).resolve().parents[3]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
BAR = "━"


def hemnet_rows(n: int) -> list[str]:
    """The first `n` example listings that go to Hemnet only."""
    rows = []
    for line in (ROOT / "examples" / "listings.jsonl").read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        if doc.get("portals") == ["hemnet"]:
            rows.append(line)
        if len(rows) == n:
            break
    return rows


@pytest.fixture
def faulty_hemnet(tmp_path: Path) -> Iterator[Path]:
    """`listsync sandbox serve hemnet` with 5xx faults; yields a dir holding its listsync.toml."""
    proc = subprocess.Popen(  # noqa: S603 - our own installed script, fixed arguments
        [LISTSYNC, "sandbox", "serve", "hemnet", "--error-rate", "0.5", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(10)]
        text = "".join(lines)
        table = text[text.index("[portals.hemnet]") :]
        (tmp_path / "listsync.toml").write_text(table + "max_attempts = 2\n", encoding="utf-8")
        yield tmp_path
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def screen_segments(raw: str) -> list[str]:
    """What was drawn, split at every line feed and carriage return, escapes removed."""
    return [s for s in re.split(r"[\r\n]", ANSI.sub("", raw)) if s.strip()]


@pytest.mark.slow
def test_apply_in_a_terminal_keeps_bars_whole_and_shows_problem_paths(faulty_hemnet: Path) -> None:
    """Log lines never split a progress bar, every portal bar ends at 100 %, repeated warnings
    are summarised, and a problem listing's canonical path and message are on screen."""
    invalid = json.loads(hemnet_rows(1)[0])
    del invalid["address"]
    invalid["external_ref"] = "BROKEN-1"
    rows = [*hemnet_rows(40), json.dumps(invalid)]
    (faulty_hemnet / "in.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    child = pexpect.spawn(
        str(LISTSYNC),
        ["apply", "in.jsonl", "--state", "sqlite:///s.sqlite", "--log-level", "INFO"],
        cwd=str(faulty_hemnet),
        dimensions=(50, 200),
        encoding="utf-8",
        timeout=120,
        env={"PATH": str(LISTSYNC.parent), "TERM": "xterm-256color", "COLUMNS": "200"},
    )
    child.expect(pexpect.EOF)
    child.close()
    raw = child.before or ""
    segments = screen_segments(raw)
    assert child.exitstatus == 1, raw[-2000:]
    bars = [s for s in segments if BAR in s]
    assert bars, raw[-2000:]
    assert any("http_retry" in s for s in segments)  # log lines were drawn during the bars
    for segment in bars:  # a bar line holds a bar and nothing a log line would print
        assert "[info" not in segment, segment
        assert "[warning" not in segment, segment
        assert "http_retry" not in segment, segment
    last_hemnet = [s for s in bars if s.startswith("hemnet")][-1]
    assert "100%" in last_hemnet
    assert "40/40" in last_hemnet
    last_input = [s for s in bars if s.startswith("listings")][-1]
    assert "41/41" in last_input
    assert any("line 41" in s and "BROKEN-1" in s and "address: " in s for s in segments), raw
    assert "Traceback" not in raw


def test_global_options_after_the_command_take_effect(tmp_path: Path) -> None:
    """`--log-format json --log-level DEBUG` after `validate` make stderr JSON lines."""
    path = tmp_path / "in.jsonl"
    path.write_text(hemnet_rows(1)[0] + "\n{not json\n", encoding="utf-8")
    result = subprocess.run(  # noqa: S603 - our own installed script, fixed arguments
        [LISTSYNC, "validate", str(path), "--log-format", "json", "--log-level", "DEBUG"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines
    assert all(json.loads(line) for line in lines)


def test_version_names_listsync_and_each_adapter() -> None:
    """`--version` prints listsync's version and one line per installed adapter."""
    result = subprocess.run(  # noqa: S603 - our own installed script, fixed arguments
        [LISTSYNC, "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    first, *adapters = result.stdout.splitlines()
    assert re.fullmatch(r"listsync \d+\.\d+\.\d+\S*", first)
    assert any(line.startswith("listsync-immowelt ") for line in adapters), result.stdout


@pytest.mark.parametrize("command", ["plan", "apply", "status"])
def test_unknown_portal_is_exit_2_listing_installed_adapters(command: str, tmp_path: Path) -> None:
    """A misspelt --portal is a usage error naming the installed adapters, on every command."""
    path = tmp_path / "in.jsonl"
    path.write_text(hemnet_rows(1)[0] + "\n", encoding="utf-8")
    args = [command, "--portal", "hemnett", "--state", f"sqlite:///{tmp_path / 's.sqlite'}"]
    if command != "status":
        args.insert(1, str(path))
    result = subprocess.run(  # noqa: S603 - our own installed script, fixed arguments
        [LISTSYNC, *args], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert "hemnett" in result.stderr
    assert "installed: " in result.stderr
    assert "immowelt" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_dash_reads_standard_input(command: str, tmp_path: Path) -> None:
    """`plan -` and `apply -` read the listings from standard input."""
    invalid = json.dumps({"external_ref": "X-1"})
    result = subprocess.run(  # noqa: S603 - our own installed script, fixed arguments
        [LISTSYNC, command, "-", "--state", f"sqlite:///{tmp_path / 's.sqlite'}"],
        input=invalid + "\n",
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    assert "does not exist" not in result.stderr
    assert "X-1" in result.stdout


def test_taken_port_is_one_line_without_traceback() -> None:
    """`sandbox serve --port <taken>` says so in one line and exits 2."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(  # noqa: S603 - our own installed script, fixed arguments
            [LISTSYNC, "sandbox", "serve", "immowelt", "--port", str(port)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert f"port {port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_env_variable_is_named_in_its_error(tmp_path: Path) -> None:
    """A misspelt LISTSYNC_ variable is reported under its own name, exit 2."""
    result = subprocess.run(  # noqa: S603 - our own installed script, fixed arguments
        [LISTSYNC, "config", "show"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={"LISTSYNC_IMMOWELT_MAX_ATEMPTS": "3", "PATH": str(LISTSYNC.parent)},
    )
    assert result.returncode == 2
    assert "LISTSYNC_IMMOWELT_MAX_ATEMPTS: unknown setting" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_show_masks_secrets_and_names_sources(tmp_path: Path) -> None:
    """`config show` prints every effective value with its source; credentials are masked."""
    secret = "immo-secret-7f3a9c"
    (tmp_path / "listsync.toml").write_text(
        '[portals.immowelt]\nbase_url = "https://api.immowelt.test/v1"\n'
        'token_url = "https://api.immowelt.test/oauth/token"\nclient_id = "acme"\n'
        'external_customer_id = "c-1"\n',
        encoding="utf-8",
    )
    result = subprocess.run(  # noqa: S603 - our own installed script, fixed arguments
        [LISTSYNC, "config", "show", "--json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={"LISTSYNC_IMMOWELT_CLIENT_SECRET": secret, "PATH": str(LISTSYNC.parent)},
    )
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout
    rows = {row["key"]: row for row in json.loads(result.stdout)}
    assert rows["portals.immowelt.client_secret"]["value"] == "***"
    assert rows["portals.immowelt.client_secret"]["source"] == (
        "env LISTSYNC_IMMOWELT_CLIENT_SECRET"
    )
    assert rows["portals.immowelt.base_url"]["source"] == "file listsync.toml"
    assert rows["portals.immowelt.timeout"]["source"] == "default"
