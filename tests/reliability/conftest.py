"""Fixtures for the reliability suite: cloned example listings, fresh sandboxes, apply passes
in process or as a `listsync apply` subprocess, and snapshots of what the sandboxes hold.

"Converge" in these tests means: apply is re-run (a bounded number of passes) until a pass
reports every listing converged, unchanged or blocked by preflight; a last fault-free pass must
then send no write at all, which shows the state store agrees with the portals.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from listsync.io import bundled_examples, read_listings
from listsync.sandbox import FaultConfig, Sandbox
from listsync.sync import FAILING_OUTCOMES, RunReport
from listsync.syndicator import Syndicator
from listsync_hemnet.sandbox import HemnetSandbox
from listsync_immowelt.sandbox import ImmoweltSandbox

PORTALS = ("hemnet", "immowelt")
LISTSYNC = str(Path(sys.executable).parent / "listsync")


@pytest.fixture(autouse=True)
def quiet_logs() -> Iterator[None]:
    """In-process runs log below WARNING only when asked (formatting debug lines for thousands
    of requests costs more than the runs); the previous configuration is restored after."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    yield
    structlog.configure(**saved)


def clone_lines(n: int) -> list[str]:
    """N valid listings: the bundled examples, cloned with a suffix on every identifier."""
    templates = [
        (json.loads(line)["external_ref"], line)
        for line in bundled_examples().read_text("utf-8").splitlines()
        if line.strip()
    ]
    out = []
    for i in range(n):
        ref, line = templates[i % len(templates)]
        suffix = f"-r{i // len(templates):03d}"
        pattern = re.compile(re.escape(ref), re.IGNORECASE)
        out.append(pattern.sub(lambda m, s=suffix: m.group(0) + s, line))
    return out


@pytest.fixture
def make_listings(tmp_path: Path) -> Callable[[int], Path]:
    """`make_listings(n)` writes n cloned listings to a JSONL file and returns its path."""

    def make(n: int) -> Path:
        path = tmp_path / f"listings-{n}.jsonl"
        path.write_text("\n".join(clone_lines(n)) + "\n", encoding="utf-8")
        return path

    return make


def new_sandboxes(faults: FaultConfig | None = None) -> dict[str, Sandbox]:
    """Fresh Hemnet and Immowelt sandboxes (Hemnet processes images at once)."""
    return {
        "hemnet": HemnetSandbox(faults=faults, image_processing_seconds=0.0),
        "immowelt": ImmoweltSandbox(faults=faults),
    }


@dataclass
class InProcess:
    """Apply passes through `Syndicator`, talking to the sandboxes in process."""

    sandboxes: dict[str, Sandbox]
    state: Path
    concurrency: int = 32
    reports: list[RunReport] = field(default_factory=list)

    def settings(self) -> dict[str, dict[str, Any]]:
        return {n: s.client_settings(f"http://{n}.sandbox") for n, s in self.sandboxes.items()}

    def apply(self, listings: Path) -> RunReport:
        async def run() -> RunReport:
            transports = {n: s.transport() for n, s in self.sandboxes.items()}
            async with Syndicator(
                self.settings(),
                state=f"sqlite:///{self.state}",
                transports=transports,
                concurrency=self.concurrency,
            ) as syndicator:
                return await syndicator.run(read_listings(listings), keep_results=True)

        report = asyncio.run(run())
        self.reports.append(report)
        return report

    def converge(self, listings: Path, max_passes: int) -> int:
        """Apply until a pass has no failed listing; returns the passes used."""
        for number in range(1, max_passes + 1):
            report = self.apply(listings)
            if not failing(report):
                return number
        pytest.fail(f"not converged after {max_passes} passes: {failing(report)[:5]}")

    def writes(self) -> int:
        return sum(len(s.write_requests()) for s in self.sandboxes.values())


def failing(report: RunReport) -> list[str]:
    """`ref@portal: outcome error` of every entry that did not converge."""
    return [
        f"{r.entry.external_ref}@{r.entry.portal}: {r.outcome.value} {r.error_message or ''}"
        for r in report.results
        if r.outcome in FAILING_OUTCOMES and r.outcome.value != "blocked"
    ]


@pytest.fixture
def in_process(tmp_path: Path) -> Callable[..., InProcess]:
    """`in_process(faults=None)`: fresh sandboxes and a state store, applied in process."""
    counter = iter(range(1000))

    def make(faults: FaultConfig | None = None, **kwargs: Any) -> InProcess:
        state = tmp_path / f"state-{next(counter)}.sqlite"
        return InProcess(new_sandboxes(faults), state, **kwargs)

    return make


# -- what the sandboxes hold -------------------------------------------------------------------
def snapshot(sandboxes: dict[str, Sandbox]) -> dict[str, Counter[str]]:
    """Per portal, a count of every record and item: `ref`, `ref/image <url>`, `ref/media <id>`,
    `ref/showing <start>`. A duplicate shows as a count above 1."""
    return {
        "hemnet": asyncio.run(_hemnet_items(sandboxes["hemnet"])),
        "immowelt": _immowelt_items(sandboxes["immowelt"]),
    }


async def _hemnet_items(sandbox: Sandbox) -> Counter[str]:
    token = sandbox.client_settings("http://hemnet.sandbox")["token"]
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "reliability-tests"}
    items: Counter[str] = Counter()
    async with httpx.AsyncClient(
        transport=sandbox.transport(), base_url="http://hemnet.sandbox", headers=headers
    ) as client:
        for view in sandbox.listings():  # type: ignore[attr-defined]  # HemnetSandbox helper
            ref = str(view["externalId"])
            items[ref] += 1
            for kind, key in (("images", "url"), ("showings", "startAt")):
                response = await client.get(f"/listings/{view['id']}/{kind}", params={"limit": 100})
                response.raise_for_status()
                for item in response.json()[kind]:
                    items[f"{ref}/{kind} {item.get(key)}"] += 1
    return items


def _immowelt_items(sandbox: Sandbox) -> Counter[str]:
    items: Counter[str] = Counter()
    stored = sandbox.listings()  # type: ignore[attr-defined]  # ImmoweltSandbox helper
    for ref, payload in stored.items():
        items[ref] += 1
        for media in payload.get("media") or []:
            items[f"{ref}/media {media.get('externalMediaId')}"] += 1
    return items


def duplicates(snap: dict[str, Counter[str]]) -> list[str]:
    return [f"{p}:{key} x{n}" for p, items in snap.items() for key, n in items.items() if n > 1]


# -- served over loopback, for the subprocess tests ----------------------------------------------
@dataclass
class Served:
    """Sandboxes served on loopback (threads of the test process) and a config for them."""

    sandboxes: dict[str, Sandbox]
    config: Path
    state: Path
    workdir: Path

    def apply_cmd(self, listings: Path, *extra: str) -> list[str]:
        return [LISTSYNC, "apply", str(listings), "--config", str(self.config),
                "--state", f"sqlite:///{self.state}", *extra]  # fmt: skip

    def writes(self) -> int:
        return sum(len(s.write_requests()) for s in self.sandboxes.values())


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update({"NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb"})
    return env


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """`served(faults=None)`: fresh sandboxes on loopback and a TOML config for them."""
    with ExitStack() as stack:

        def make(faults: FaultConfig | None = None) -> Served:
            sandboxes = new_sandboxes(faults)
            lines = []
            for name, sandbox in sandboxes.items():
                url = stack.enter_context(sandbox.serve())
                lines.append(f"[portals.{name}]")
                settings = sandbox.client_settings(url)
                lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
                lines.append("")
            config = tmp_path / "listsync.toml"
            config.write_text("\n".join(lines), encoding="utf-8")
            return Served(sandboxes, config, tmp_path / "state.sqlite", tmp_path)

        yield make
