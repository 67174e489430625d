"""The CLI imports what a command needs: `demo` and `sandbox serve` load the sandboxes' web
framework (and `demo` its own module) only when they run, not for `apply` or `--help`."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from listsync.cli import _app, _demo, app

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


def test_the_demo_command_is_the_demo_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command registered for `demo` has the options and help of `_demo.demo` and runs it
    with the values given."""
    light, real = inspect.signature(_app.demo), inspect.signature(_demo.demo)
    assert list(light.parameters) == list(real.parameters)
    assert [p.default for p in light.parameters.values()] == [
        p.default for p in real.parameters.values()
    ]
    assert _app.demo.__doc__ == _demo.demo.__doc__
    other = typer.Typer(rich_markup_mode=None)
    other.command("demo")(_demo.demo)
    other.command("other")(lambda: None)
    runner = CliRunner()
    help_of = [
        runner.invoke(cli, ["demo", "--help"], prog_name="listsync").output for cli in (app, other)
    ]
    assert help_of[0] == help_of[1]
    for option in ("--workdir", "--changes", "--sold", "--grace"):
        assert option in help_of[0]
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(_demo, "demo", lambda **kwargs: calls.append(kwargs))
    args = ["demo", "--workdir", "w", "--changes", "4", "--sold", "1", "--grace", "2"]
    assert runner.invoke(app, args).exit_code == 0
    assert calls == [{"workdir": Path("w"), "changes": 4, "sold": 1, "grace": 2.0}]
