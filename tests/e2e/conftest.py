"""End-to-end fixtures: the installed write sandboxes served on loopback, and a TOML config."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from listsync.adapter import Capability
from listsync.io import bundled_examples
from listsync.registry import SANDBOX_GROUP, Registry
from listsync.sandbox import Sandbox


def write_portals() -> list[str]:
    """Installed portals with a sandbox and a write adapter (no portal named here)."""
    adapters, sandboxes = Registry(), Registry(SANDBOX_GROUP)
    return [
        name
        for name in sandboxes.names()
        if name in adapters.names()
        and Capability.CREATE in getattr(adapters.get(name), "capabilities", ())
    ]


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


@pytest.fixture
def served() -> Iterator[dict[str, tuple[Sandbox, str]]]:
    names = write_portals()
    if not names:
        pytest.skip("no write adapter with a sandbox is installed")
    sandboxes = Registry(SANDBOX_GROUP)
    with ExitStack() as stack:
        out = {}
        for name in names:
            sandbox = sandboxes.get(name)()
            out[name] = (sandbox, stack.enter_context(sandbox.serve()))
        yield out


@pytest.fixture
def e2e_config(tmp_path: Path, served: dict[str, tuple[Sandbox, str]]) -> Path:
    lines = [f'[state]\nurl = "sqlite:///{tmp_path / "state.sqlite"}"\n']
    for name, (sandbox, url) in served.items():
        lines.append(f"\n[portals.{name}]\n")
        lines += [f"{k} = {toml_value(v)}\n" for k, v in sandbox.client_settings(url).items()]
    path = tmp_path / "listsync.toml"
    path.write_text("".join(lines))
    return path


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """Up to 30 bundled example listings per portal they name first."""
    per_portal: dict[str, list[str]] = {}
    for line in bundled_examples().read_text(encoding="utf-8").splitlines():
        portals = json.loads(line).get("portals") or ["-"]
        per_portal.setdefault(portals[0], []).append(line)
    lines = [line for group in per_portal.values() for line in group[:30]]
    path = tmp_path / "examples.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
