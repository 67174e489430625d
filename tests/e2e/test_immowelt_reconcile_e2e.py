"""Reconcile with Immowelt (issue 15) end to end: the sandbox served on loopback, the engine
through `Syndicator`, records changed behind listsync's back with the sandbox's hooks."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from listsync.io import bundled_examples
from listsync.model import Listing, parse_listing
from listsync.syndicator import Syndicator
from listsync_immowelt import ImmoweltAccount, ImmoweltAdapter, ImmoweltSettings
from listsync_immowelt.mapping import project
from listsync_immowelt.sandbox import ImmoweltSandbox


def _live_examples(n: int) -> list[Listing]:
    out = []
    for line in bundled_examples().read_text(encoding="utf-8").splitlines():
        listing = parse_listing(line)
        if listing.portals == ("immowelt",) and listing.status == "for_sale":
            out.append(listing)
    return out[:n]


LISTINGS = _live_examples(8)


@pytest.fixture
def portal() -> Iterator[tuple[ImmoweltSandbox, str]]:
    sandbox = ImmoweltSandbox()
    with sandbox.serve() as base_url:
        yield sandbox, base_url


def _syndicator(portal: tuple[ImmoweltSandbox, str], tmp_path: Path) -> Syndicator:
    sandbox, base_url = portal
    return Syndicator(
        {"immowelt": sandbox.client_settings(base_url)},
        state=f"sqlite:///{tmp_path / 'state.sqlite'}",
    )


def _writes(sandbox: ImmoweltSandbox, since: int = 0) -> Counter[str]:
    """Writes to the listings API since request number `since` (`POST`/`PUT`/`DELETE` + ref)."""
    out: Counter[str] = Counter()
    for r in sandbox.requests[since:]:
        if r.method in {"POST", "PUT", "DELETE"} and r.path.startswith("/v1/listings"):
            out[f"{r.method} {r.path.removeprefix('/v1/listings').lstrip('/')}"] += 1
    return out


def _payload(sandbox: ImmoweltSandbox, listing: Listing) -> dict[str, Any]:
    """The payload listsync sends for `listing` to this sandbox's default account."""
    settings = ImmoweltSettings()
    account = ImmoweltAccount.model_validate(
        {
            k: v
            for k, v in sandbox.client_settings("http://x").items()
            if k in {"client_id", "client_secret", "external_customer_id"}
        }
    )
    return project(
        listing,
        software_name=settings.software_name,
        external_customer_id=account.external_customer_id,
    ).fields


def _outcomes(report: Any) -> Counter[str]:
    return Counter(result.outcome.value for result in report.results)


async def test_drift_is_repaired_by_apply_refresh(
    portal: tuple[ImmoweltSandbox, str], tmp_path: Path
) -> None:
    """A listing deleted in the portal is re-created exactly once, a price edited there is
    restored by one PUT of that listing, nothing else is written; a plain re-run sends
    nothing."""
    sandbox, _ = portal
    async with _syndicator(portal, tmp_path) as syndicator:
        first = await syndicator.run(LISTINGS)
        assert first.converged
        gone, edited = LISTINGS[0].external_ref, LISTINGS[1].external_ref
        sandbox.remove_listing(gone)
        sandbox.edit_listing(edited, {"/contact/lastName": "Geaendert"})
        before = len(sandbox.requests)

        repaired = await syndicator.run(LISTINGS, refresh=True)
        assert repaired.converged
        assert _writes(sandbox, before) == Counter({"POST ": 1, f"PUT {edited}": 1})
        assert set(sandbox.listings()) == {listing.external_ref for listing in LISTINGS}
        for listing in LISTINGS:
            assert sandbox.listings()[listing.external_ref] == _payload(sandbox, listing)

        before = len(sandbox.requests)
        again = await syndicator.run(LISTINGS)
        assert again.converged
        assert _writes(sandbox, before) == Counter()


async def test_seeded_records_are_adopted_not_duplicated(
    portal: tuple[ImmoweltSandbox, str], tmp_path: Path
) -> None:
    """Records already on Immowelt with the input's refs (some identical, some with a stale
    price): the first apply creates none of them and PUTs only the stale ones."""
    sandbox, _ = portal
    stale_refs = {LISTINGS[0].external_ref, LISTINGS[3].external_ref}
    for listing in LISTINGS[:5]:
        payload = copy.deepcopy(_payload(sandbox, listing))
        if listing.external_ref in stale_refs:
            prices = payload["data"]["prices"]
            key = "buy" if "buy" in prices else "baseRent"
            prices[key]["amount"] = prices[key]["amount"] + 1000
        sandbox.seed_listing(payload)

    async with _syndicator(portal, tmp_path) as syndicator:
        report = await syndicator.run(LISTINGS)
    assert report.converged
    writes = _writes(sandbox)
    assert writes["POST "] == len(LISTINGS) - 5
    assert {k for k in writes if k.startswith("PUT ")} == {f"PUT {ref}" for ref in stale_refs}
    for listing in LISTINGS:
        assert sandbox.listings()[listing.external_ref] == _payload(sandbox, listing)


async def test_refresh_reports_orphans_and_prune_deletes_them(
    portal: tuple[ImmoweltSandbox, str], tmp_path: Path
) -> None:
    """A record of our account that the input does not name is reported by `refresh`, and
    deleted only with `prune`."""
    sandbox, _ = portal
    legacy = LISTINGS[-1]
    sandbox.seed_listing(_payload(sandbox, legacy))
    kept = LISTINGS[:3]
    async with _syndicator(portal, tmp_path) as syndicator:
        assert (await syndicator.run(kept)).converged
        report = await syndicator.refresh(kept)
        assert [o.external_ref for o in report.orphans] == [legacy.external_ref]
        assert legacy.external_ref in sandbox.listings()
        await syndicator.refresh(kept, prune=True)
    assert legacy.external_ref not in sandbox.listings()
    assert set(sandbox.listings()) == {listing.external_ref for listing in kept}


def test_the_adapter_is_the_one_the_engine_loads() -> None:
    """The engine reads Immowelt back through this adapter (entry point `immowelt`)."""
    from listsync.registry import Registry

    assert Registry().get("immowelt") is ImmoweltAdapter
