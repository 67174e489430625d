"""The CLI imports what a command needs: `demo` and `sandbox serve` load the sandboxes' web
framework (and `demo` its own module) only when they run, not for `apply` or `--help`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from listsync.cli import _demo, app

LAZY = ("listsync.cli._demo", "listsync.sandbox", "starlette")

PROBE = """
import sys
from listsync.cli import app
try:
    app([{args}], prog_name="listsync")
except SystemExit:
    pass
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "starlette" or m in {lazy!r})
print("loaded:" + ",".join(loaded), file=sys.stderr)
"""


def _loaded_by(*args: str) -> list[str]:
    """The modules of `LAZY` a fresh interpreter holds after `listsync ARGS`."""
    code = PROBE.format(args=", ".join(repr(a) for a in args), lazy=set(LAZY))
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("loaded:"), done.stderr
    return [name for name in line.removeprefix("loaded:").split(",") if name]


def test_apply_and_help_do_not_import_the_demo_or_the_sandboxes() -> None:
    assert _loaded_by("apply", "--help") == []
    assert _loaded_by("apply", "no-such-file.jsonl", "--config", "no-such.toml") == []
    assert _loaded_by("--help") == []
    assert _loaded_by("sandbox", "serve", "--help") == []
    assert _loaded_by("demo", "--help") == []  # help needs the options, not the module


def test_the_demo_command_runs_the_demo_module_with_the_values_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner = CliRunner()
    help_text = runner.invoke(app, ["demo", "--help"], prog_name="listsync").output
    for option in ("--workdir", "--changes", "--sold", "--grace"):
        assert option in help_text
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(_demo, "run", lambda **kwargs: calls.append(kwargs))
    args = ["demo", "--workdir", "w", "--changes", "4", "--sold", "1", "--grace", "2"]
    assert runner.invoke(app, args).exit_code == 0
    assert calls == [{"workdir": Path("w"), "changes": 4, "sold": 1, "grace": 2.0}]
    assert runner.invoke(app, ["demo"]).exit_code == 0
    assert calls[-1] == {"workdir": Path("listsync-demo"), "changes": 3, "sold": 2, "grace": 10.0}
