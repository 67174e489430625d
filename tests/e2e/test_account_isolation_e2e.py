"""Per-account isolation with the real sandboxes, through the embedding API (issue 9).

These runs need control the CLI cannot give (a clock shared by the Hemnet sandbox and the key
managers, a hook between two results), so they use `Syndicator` with in-process transports.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from listsync.model import Listing, parse_listing
from listsync.sandbox import Sandbox
from listsync.sync import EntryResult, Outcome
from listsync.syndicator import Syndicator
from listsync_hemnet import HemnetAdapter
from listsync_hemnet.sandbox import HemnetSandbox
from listsync_immowelt.sandbox import ImmoweltSandbox

from .conftest import AGENCY_ACCOUNTS, DAY, FakeClock, account_tables, agency_rows

pytestmark = pytest.mark.slow

HEMNET = AGENCY_ACCOUNTS["hemnet"]
EXPIRING, REVOKED, UNTOUCHED = "norrmalm", "skane", "vastkust"
RATE = 10  # requests per second and account (also the limiter's burst)


def _clocked(clock: Callable[[], float]) -> type[HemnetAdapter]:
    """HemnetAdapter whose key manager reads `clock` (the sandbox's), as its tests do."""

    class ClockedHemnetAdapter(HemnetAdapter):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, clock=clock, **kwargs)

    return ClockedHemnetAdapter


def _listings(per_agency: int) -> list[Listing]:
    return [parse_listing(row) for row in agency_rows(per_agency)]


async def test_expiring_key_rotates_and_revoked_key_fails_only_its_own_account(
    tmp_path: Path,
) -> None:
    """Mid-run, norrmalm's Hemnet key comes within its rotation window and skane's key is
    revoked: norrmalm rotates (later requests use the new key, no request of its is ever
    refused) and converges; skane's remaining listings fail with an AuthenticationError
    naming the account, in the results and the state store; vastkust and both Immowelt
    agencies converge."""
    clock = FakeClock()
    hemnet = HemnetSandbox(clock=clock, image_processing_seconds=0.0)
    immowelt = ImmoweltSandbox()
    # norrmalm's key was issued 30 days before the others, so only it nears its expiry.
    hemnet.add_account(EXPIRING)
    clock.advance(30 * DAY)
    tables = {
        "hemnet": account_tables("hemnet", hemnet, "http://hemnet.test", HEMNET),
        "immowelt": account_tables(
            "immowelt", immowelt, "http://immowelt.test", AGENCY_ACCOUNTS["immowelt"]
        ),
    }
    for account in tables["hemnet"]["accounts"].values():
        account.update(rotate_within_hours=24, revoke_old=True)
        account["credential_file"] = str(tmp_path / f"{account['agencies'][0]}.json")
    original = {a: hemnet.key_views(a)[0]["id"] for a in HEMNET.values()}
    seen: Counter[str] = Counter()

    def hook(result: EntryResult) -> None:
        account = result.entry.account or ""
        seen[account] += 1
        if account == EXPIRING and seen[account] == 1:
            clock.advance(150 * DAY - 12 * 3600)  # norrmalm's key now expires in ~12 hours
        if account == REVOKED and seen[account] == 1:
            hemnet.revoke_key(REVOKED)

    async with Syndicator(
        tables,
        state=f"sqlite:///{tmp_path / 'state.sqlite'}",
        transports={"hemnet": hemnet.transport(), "immowelt": immowelt.transport()},
        adapters={"hemnet": _clocked(clock)},
        concurrency=4,
    ) as syndicator:
        report = await syndicator.run(_listings(4), on_result=hook)
        states = {
            (s.account, s.external_ref): s
            for r in report.results
            for s in await syndicator.status(r.entry.external_ref)
        }

    by_account: dict[str, list[EntryResult]] = {}
    for result in report.results:
        by_account.setdefault(result.entry.account or "", []).append(result)
    for account in (EXPIRING, UNTOUCHED, *AGENCY_ACCOUNTS["immowelt"].values()):
        assert {r.outcome for r in by_account[account]} == {Outcome.CONVERGED}, account

    revoked = by_account[REVOKED]
    assert revoked[0].outcome is Outcome.CONVERGED  # before the revocation
    failed = [r for r in revoked if r.outcome is Outcome.FAILED]
    assert failed, [r.outcome for r in revoked]
    for result in failed:
        assert result.error_class == "AuthenticationError"
        assert REVOKED in (result.error_message or "")
        state = states[(REVOKED, result.entry.external_ref)]
        assert state.error_class == "AuthenticationError"
        assert REVOKED in (state.error_message or "")

    keys = {k["id"]: k for k in hemnet.key_views(EXPIRING)}
    assert len(keys) == 2  # the original key and its replacement
    (new_key,) = set(keys) - {original[EXPIRING]}
    mine = [r for r in hemnet.requests if r.principal in keys]
    assert [r for r in mine if r.status == 401] == []
    used = [r.principal for r in mine]
    assert used[0] == original[EXPIRING]
    assert used[-1] == new_key
    assert used.index(new_key) > 0
    assert original[EXPIRING] not in used[used.index(new_key) + 1 :]
    assert len(hemnet.key_views(UNTOUCHED)) == 1
    assert [
        r for r in hemnet.requests if r.principal == original[UNTOUCHED] and r.status == 401
    ] == []


async def _wait_for(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.005)


def _principal_order(sandbox: Sandbox, owner: dict[str, str]) -> list[str]:
    return [owner.get(r.principal or "", "?") for r in sandbox.requests]


async def test_one_busy_account_does_not_consume_another_accounts_request_budget(
    tmp_path: Path,
) -> None:
    """With a per-second request limit, norrmalm (many listings) spends its burst and is then
    held to its rate; vastkust's listing, started after that, goes out on vastkust's own
    budget: while its requests are sent, norrmalm gets at most a few requests in. A shared
    budget would queue each of vastkust's requests behind norrmalm's waiting ones."""
    hemnet = HemnetSandbox(image_processing_seconds=0.0)
    table = account_tables("hemnet", hemnet, "http://hemnet.test", HEMNET)
    table["requests_per_second"] = RATE
    owner = {hemnet.key_views(a)[0]["id"]: a for a in HEMNET.values()}
    rows = agency_rows(6)
    busy = [parse_listing(r) for r in rows if r["agency"]["external_ref"] == "se-norrmalm"]
    (quiet,) = [
        parse_listing(r) for r in rows if r["external_ref"] == _first_ref(rows, "se-vastkust")
    ]
    quiet = quiet.model_copy(update={"media": quiet.media[:2], "showings": ()})
    async with Syndicator(
        {"hemnet": table},
        state=f"sqlite:///{tmp_path / 'state.sqlite'}",
        transports={"hemnet": hemnet.transport()},
        concurrency=8,
    ) as syndicator:
        background = asyncio.create_task(syndicator.run(busy))
        await _wait_for(lambda: len(hemnet.requests) >= RATE + 4)  # norrmalm's burst is spent
        start = len(hemnet.requests)
        (result,) = await syndicator.sync(quiet)
        end = len(hemnet.requests)
        syndicator.stop()
        await background
    assert result.outcome is Outcome.CONVERGED, result.error_message
    window = _principal_order(hemnet, owner)[start:end]
    quiet_requests = window.count(UNTOUCHED)
    assert RATE > quiet_requests >= 6  # key, agency, create, images, poll, publish
    assert window.count(EXPIRING) <= 3, window
    assert set(_principal_order(hemnet, owner)) == {EXPIRING, UNTOUCHED}


def _first_ref(rows: list[dict[str, Any]], agency: str) -> str:
    return str(next(r["external_ref"] for r in rows if r["agency"]["external_ref"] == agency))
