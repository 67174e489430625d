"""End-to-end fixtures: the installed write sandboxes served on loopback, and a TOML config."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from listsync.adapter import Capability
from listsync.io import bundled_examples, read_listings
from listsync.registry import SANDBOX_GROUP, Registry
from listsync.sandbox import FaultConfig, RecordedRequest, Sandbox
from listsync.syndicator import Syndicator


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


# -- many agencies: one portal account per agency ---------------------------------------------
AGENCY_ACCOUNTS: dict[str, dict[str, str]] = {
    "hemnet": {"se-norrmalm": "norrmalm", "se-skane": "skane", "se-vastkust": "vastkust"},
    "immowelt": {"de-isar": "isar", "de-spree": "spree"},
}
"""Per portal, agency external_ref -> the name of its own account (the bundled examples have
three Swedish agencies on Hemnet and two German ones on Immowelt)."""

START = 1_800_000_000.0  # a fixed sandbox time (2027-01-15)
DAY = 86_400.0


class FakeClock:
    """A clock shared by a sandbox and its adapters; `advance()` moves it."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def account_tables(
    portal: str, sandbox: Sandbox, base_url: str, accounts: dict[str, str]
) -> dict[str, Any]:
    """A `[portals.<portal>]` table with one account per agency and no default account.

    `sandbox.client_settings()` creates each account's credentials in the sandbox; its keys
    are split into portal settings (top level) and account settings (`accounts.<name>`).
    """
    portal_keys = set(Registry().get(portal).settings_model.model_fields)
    table: dict[str, Any] = {"accounts": {}}
    for agency, account in accounts.items():
        settings = sandbox.client_settings(base_url, account)
        table.update({k: v for k, v in settings.items() if k in portal_keys})
        own = {k: v for k, v in settings.items() if k not in portal_keys}
        table["accounts"][account] = {**own, "agencies": [agency]}
    return table


def to_toml(state_url: str, portals: dict[str, dict[str, Any]]) -> str:
    """The TOML text of a config: `[state]`, then each portal table and its account tables."""
    lines = [f"[state]\nurl = {toml_value(state_url)}\n"]
    for name, table in portals.items():
        lines.append(f"\n[portals.{name}]\n")
        lines += [f"{k} = {toml_value(v)}\n" for k, v in table.items() if k != "accounts"]
        for account, values in table.get("accounts", {}).items():
            lines.append(f"\n[portals.{name}.accounts.{account}]\n")
            lines += [f"{k} = {toml_value(v)}\n" for k, v in values.items()]
    return "".join(lines)


def agency_rows(
    per_agency: int, *, statuses: tuple[str, ...] = ("for_sale",)
) -> list[dict[str, Any]]:
    """Up to `per_agency` bundled example listings (as JSON objects) of every agency in
    `AGENCY_ACCOUNTS`, with one of `statuses`, in file order."""
    wanted = {agency for accounts in AGENCY_ACCOUNTS.values() for agency in accounts}
    taken: dict[str, int] = {}
    rows = []
    for line in bundled_examples().read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        agency = row["agency"]["external_ref"]
        if agency in wanted and row["status"] in statuses and taken.get(agency, 0) < per_agency:
            taken[agency] = taken.get(agency, 0) + 1
            rows.append(row)
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


LISTSYNC = [sys.executable, "-c", "from listsync.cli import main; main()"]


def cli_env() -> dict[str, str]:
    """The environment of a CLI subprocess: no proxies (loopback only), plain output."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update({"NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb"})
    return env


def run_cli(*args: str | Path, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `listsync ARGS` in `cwd` and wait for it."""
    return subprocess.run(  # noqa: S603  (argv built by the test, no shell)
        [*LISTSYNC, *map(str, args)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=timeout,
        check=False,
        cwd=cwd,
    )


def start_cli(*args: str | Path, cwd: Path) -> subprocess.Popen[bytes]:
    """Start `listsync ARGS` in `cwd` without waiting (its output is discarded)."""
    return subprocess.Popen(  # noqa: S603  (argv built by the test, no shell)
        [*LISTSYNC, *map(str, args)],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# -- what the write sandboxes hold, for exactly-once checks -----------------------------------
def snapshot(sandboxes: dict[str, Sandbox]) -> dict[str, Counter[str]]:
    """What each write sandbox holds: its `inventory()` (every record and item, counted)."""
    return {name: sandbox.inventory() for name, sandbox in sandboxes.items()}  # type: ignore[attr-defined]  # the write sandboxes' helper


def duplicates(snap: dict[str, Counter[str]]) -> list[str]:
    return [f"{p}: {key} x{n}" for p, items in snap.items() for key, n in items.items() if n > 1]


def reference_snapshot(listings: Path, tmp_path: Path) -> dict[str, Counter[str]]:
    """What fresh, fault-free sandboxes hold after one uninterrupted in-process apply."""
    sandboxes = fresh_write_sandboxes()

    async def run() -> None:
        async with Syndicator(
            {n: s.client_settings(f"http://{n}.test") for n, s in sandboxes.items()},
            state=f"sqlite:///{tmp_path / 'reference.sqlite'}",
            transports={n: s.transport() for n, s in sandboxes.items()},
        ) as syndicator:
            report = await syndicator.run(read_listings(listings))
        failed = [r for r in report.results if r.outcome.value == "failed"]
        assert failed == [], [r.error_message for r in failed]

    asyncio.run(run())
    return snapshot(sandboxes)


def fresh_write_sandboxes(faults: FaultConfig | None = None) -> dict[str, Sandbox]:
    """New Hemnet and Immowelt sandboxes (default accounts only)."""
    # Imported here: the generic fixtures above must work without these two adapters.
    from listsync_hemnet.sandbox import HemnetSandbox
    from listsync_immowelt.sandbox import ImmoweltSandbox

    return {"hemnet": HemnetSandbox(faults=faults), "immowelt": ImmoweltSandbox(faults=faults)}


def listing_writes(sandbox: Sandbox) -> list[RecordedRequest]:
    """Writes to the portal API: no token exchange, no upload to a presigned URL."""
    return [
        r for r in sandbox.write_requests() if not r.path.endswith("/token") and "/_" not in r.path
    ]
