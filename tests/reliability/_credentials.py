"""Credential scenarios shared by the tests and scripts/soak.py: expiry during a run, and a
secret scan of everything a full run wrote."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from listsync import Syndicator
from listsync.io import read_listings
from listsync.sync import EntryResult, RunReport
from listsync_booli.sandbox import BooliSandbox
from listsync_hemnet.sandbox import HemnetSandbox
from listsync_immowelt.sandbox import ImmoweltSandbox

from ._support import DAY, LISTSYNC, Served, cli_env, failing, serve

ROOT = Path(__file__).resolve().parents[2]


# -- expiry during a run -------------------------------------------------------------------------
IMAGE_SECONDS = 0.4
"""How long the Hemnet sandbox takes to process an image in `credential_expiry`."""


def credential_expiry(
    listings: Path, workdir: Path, *, key_lifetime_s: float = 4.0, expire_after: int = 20
) -> dict[str, Any]:
    """One in-process pass while Hemnet's key nears expiry (rotated `key_lifetime_s - 1` s
    before) and Immowelt's tokens are revoked once `expire_after` of its listings are done.

    Hemnet's images take `IMAGE_SECONDS` to process, so each Hemnet listing waits that long
    before it is published: the Hemnet part of the run lasts beyond the rotation's moment
    however fast the machine is (with instant images a fast run could end its Hemnet requests
    before the key was due, and no rotation happened: seen in CI)."""
    start = time.monotonic()
    hemnet = HemnetSandbox(
        image_processing_seconds=IMAGE_SECONDS, key_lifetime_days=key_lifetime_s / DAY
    )
    immowelt = ImmoweltSandbox()
    settings: dict[str, dict[str, Any]] = {
        "hemnet": hemnet.client_settings("http://hemnet.sandbox.test")
        | {
            "rotate_within_hours": (key_lifetime_s - 1) / 3600,
            "image_poll_interval": 0.05,
            "image_poll_max_interval": 0.1,
        },
        "immowelt": immowelt.client_settings("http://immowelt.sandbox.test"),
    }
    done: list[EntryResult] = []
    stored: list[tuple[str, str, str]] = []

    async def credential_store(portal: str, account: str, secrets: Mapping[str, str]) -> None:
        """Keeps renewed credentials in memory (the default store writes to the CWD)."""
        stored.append((portal, account, secrets.get("token", "")))

    def on_result(result: EntryResult) -> None:
        if result.entry.portal == "immowelt":
            done.append(result)
            if len(done) == expire_after:
                immowelt.expire_tokens()

    async def run() -> RunReport:
        async with Syndicator(
            settings,
            state=f"sqlite:///{workdir / 'expiry.sqlite'}",
            transports={"hemnet": hemnet.transport(), "immowelt": immowelt.transport()},
            credential_store=credential_store,
            concurrency=16,
        ) as syndicator:
            return await syndicator.run(read_listings(listings), on_result=on_result)

    report = asyncio.run(run())
    rotations = [r for r in hemnet.requests if (r.method, r.path) == ("POST", "/keys")]
    return {
        "failed_listings": len(failing(report)),
        "hemnet_rotations": sum(r.status < 300 for r in rotations),
        "hemnet_401": sum(r.status == 401 for r in hemnet.requests),
        "new_key_stored": bool(stored)
        and stored[-1] == ("hemnet", "default", hemnet.client_settings("http://x")["token"]),
        "immowelt_401_renewed": sum(r.status == 401 for r in immowelt.requests),
        "immowelt_token_requests": immowelt.token_requests,
        "server_errors": sum(r.status >= 500 for s in (hemnet, immowelt) for r in s.requests),
        "seconds": round(time.monotonic() - start, 1),
    }


# -- secret scan ---------------------------------------------------------------------------------
def _cli(args: list[str], cwd: Path, log: Path) -> int:
    result = subprocess.run(  # noqa: S603  (our own CLI)
        [LISTSYNC, "--log-format", "json", "--log-level", "DEBUG", *args],
        cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    log.write_text(result.stdout + result.stderr, encoding="utf-8")
    return result.returncode


def _used_secrets(portals: Served, booli: BooliSandbox, first_token: str) -> set[str]:
    """Every credential the run used: configured ones, rotated keys, issued tokens, Booli's key
    and the `hash` of every Booli request."""
    hemnet, immowelt = portals.sandboxes["hemnet"], portals.sandboxes["immowelt"]
    current = hemnet.client_settings("http://x")["token"]
    found = {first_token, current, *(t.split(".", 1)[-1] for t in (first_token, current))}
    found |= {immowelt.client_settings("http://x")["client_secret"], ImmoweltSandbox.DEFAULT_SECRET}
    found.add(str(booli.client_settings("http://x")["api_key"]))
    for sandbox in (hemnet, immowelt):
        for request in sandbox.requests:
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                found.add(auth[7:])
    found |= {r.query["hash"] for r in booli.requests if "hash" in r.query}
    return {s for s in found if len(s) >= 8}


def secret_scan(listings: Path, workdir: Path) -> dict[str, Any]:
    """apply (Hemnet's key rotated mid-run), status and a Booli pull, all with JSON logs at
    DEBUG; then every byte written (logs, report, SQLite files) and every cassette is scanned
    for every credential used. The credential store (0600) is the one place a key may be."""
    start = time.monotonic()
    logs, report = workdir / "logs", workdir / "report.json"
    logs.mkdir()
    rotate = {"hemnet": {"rotate_within_hours": 4.5 / 3600}}
    booli = BooliSandbox()
    with serve(workdir, key_lifetime_s=5.0, extra=rotate) as portals, booli.serve() as booli_url:
        first_token = portals.sandboxes["hemnet"].client_settings("http://x")["token"]
        table = booli.client_settings(booli_url)
        with portals.config.open("a", encoding="utf-8") as handle:
            handle.write("\n[portals.booli]\n")
            handle.writelines(f"{k} = {json.dumps(v)}\n" for k, v in table.items())
        state = f"sqlite:///{portals.state}"
        codes = {
            "apply": _cli(
                portals.apply_cmd(listings, "--report", str(report))[1:], workdir, logs / "apply"
            ),
            "status": _cli(["status", "--json", "--state", state], workdir, logs / "status"),
            "pull": _cli(
                ["pull", "booli", "-q", "q=stockholm", "--limit", "30", "-c", str(portals.config)],
                workdir,
                logs / "pull",
            ),
        }
        secrets = _used_secrets(portals, booli, first_token)
        current = portals.sandboxes["hemnet"].client_settings("http://x")["token"]
    scanned = [*logs.iterdir(), report, *workdir.glob("state.sqlite*")]
    scanned += sorted((ROOT / "cassettes").rglob("*.yaml"))
    hits = [
        f"{path.name}: ...{secret[-4:]}"
        for path in scanned
        for secret in secrets
        if secret.encode() in path.read_bytes()
    ]
    stored = list((workdir / ".listsync-credentials").glob("*.json"))
    return {
        "exit_codes": codes,
        "secrets": len(secrets),
        "files": len(scanned),
        "bytes": sum(p.stat().st_size for p in scanned),
        "hits": hits,
        "rotated": current != first_token,
        "store_has_new_key": any(current.encode() in p.read_bytes() for p in stored),
        "store_private": bool(stored)
        and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in stored),
        "seconds": round(time.monotonic() - start, 1),
    }
