"""Many agencies per vendor: routing, per-account credentials, isolation, providers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from acme_portal import AcmeAdapter, AcmeSandbox, BetaAdapter, listing_data

from listsync.model import parse_listing
from listsync.sync import Outcome
from listsync.syndicator import Syndicator

ACME_TOKENS = {"tok-a": "acct-a", "tok-b": "acct-b", "tok-c": "acct-c"}
BETA_TOKENS = {"tok-x": "acct-x", "tok-y": "acct-y"}
AGENCIES = {"acme": ["ag-a", "ag-b", "ag-c"], "beta": ["ag-a", "ag-b"]}


def _portal(tokens: Mapping[str, str], agencies: list[str], **settings: Any) -> dict[str, Any]:
    accounts = {
        principal: {"token": token, "agencies": [agency]}
        for (token, principal), agency in zip(tokens.items(), agencies, strict=True)
    }
    return {"base_url": "http://portal.test", "max_attempts": 2, "accounts": accounts, **settings}


def _syndicator(
    acme: AcmeSandbox, beta: AcmeSandbox, state: str, **acme_settings: Any
) -> Syndicator:
    return Syndicator(
        {
            "acme": _portal(ACME_TOKENS, AGENCIES["acme"], **acme_settings),
            "beta": _portal(BETA_TOKENS, AGENCIES["beta"]),
        },
        state=state,
        transports={"acme": acme.transport(), "beta": beta.transport()},
        adapters={"acme": AcmeAdapter, "beta": BetaAdapter},
        concurrency=16,
    )


def _multi_agency_listings(per_agency: int = 4) -> list:
    out = []
    for agency in ("ag-a", "ag-b", "ag-c"):
        portals = ("acme", "beta") if agency != "ag-c" else ("acme",)
        for n in range(per_agency):
            out.append(parse_listing(listing_data(f"{agency}-{n}", agency=agency, portals=portals)))
    return out


async def test_every_request_carries_the_listing_agencys_credentials(state_url: str) -> None:
    """Three agencies on one portal and two on another: each request uses its own account."""
    acme, beta = AcmeSandbox(tokens=ACME_TOKENS), AcmeSandbox(tokens=BETA_TOKENS)
    async with _syndicator(acme, beta, state_url) as s:
        report = await s.run(_multi_agency_listings())
    assert report.converged
    assert report.summary()["by_account"] == {
        "acme": {f"acct-{x}": {"converged": 4} for x in "abc"},
        "beta": {f"acct-{x}": {"converged": 4} for x in "xy"},
    }
    for sandbox, accounts in ((acme, "abc"), (beta, "xy")):
        assert all(r.principal is not None for r in sandbox.requests)
        for agency, account in zip(("ag-a", "ag-b", "ag-c"), accounts, strict=False):
            owned = sandbox.by_external_id(f"acct-{account}")
            assert sorted(owned) == [f"{agency}-{n}" for n in range(4)]
        for item in sandbox.listings.values():  # never under another agency's account
            agency = item["fields"]["agency"]
            assert item["principal"] == f"acct-{accounts[AGENCIES['acme'].index(agency)]}"


async def test_revoked_account_fails_alone_with_its_name(state_url: str) -> None:
    """A 401 for one account fails its listings (naming the account); the others converge."""
    acme, beta = AcmeSandbox(tokens=ACME_TOKENS), AcmeSandbox(tokens=BETA_TOKENS)
    acme.revoked.add("tok-b")
    async with _syndicator(acme, beta, state_url) as s:
        report = await s.run(_multi_agency_listings())
        states = await s.status("ag-b-0")
    failed = [r for r in report.results if r.outcome is Outcome.FAILED]
    assert {(r.entry.portal, r.entry.account) for r in failed} == {("acme", "acct-b")}
    assert len(failed) == 4
    assert all(r.error_class == "AuthenticationError" for r in failed)
    assert all("account 'acct-b'" in (r.error_message or "") for r in failed)
    assert report.totals["converged"] == 16
    # after the first 401 the account's other listings fail without hammering the portal
    assert sum(1 for r in acme.requests if r.status == 401) < 4
    by_portal = {st.portal: st for st in states}
    assert by_portal["acme"].outcome is Outcome.FAILED
    assert by_portal["beta"].outcome is Outcome.CONVERGED


async def test_agency_without_account_is_blocked_with_canonical_path(state_url: str) -> None:
    """No account (and no default) for the agency: blocked on `agency.external_ref`, unsent."""
    acme, beta = AcmeSandbox(tokens=ACME_TOKENS), AcmeSandbox(tokens=BETA_TOKENS)
    stranger = parse_listing(listing_data("S-1", agency="ag-unknown", portals=("acme", "beta")))
    async with _syndicator(acme, beta, state_url) as s:
        report = await s.run([stranger])
        states = await s.status("S-1")
    assert report.totals == {"blocked": 2}
    for result in report.results:
        (issue,) = result.issues
        assert issue.path == "agency.external_ref"
        assert "ag-unknown" in issue.message
    assert acme.requests == []
    assert beta.requests == []
    assert {st.outcome for st in states} == {Outcome.BLOCKED}


async def test_default_account_serves_unlisted_agencies(
    sandbox: AcmeSandbox, state_url: str
) -> None:
    """A single-account configuration (the default account) serves every agency."""
    async with Syndicator(
        {"acme": {"base_url": "http://acme.test", "token": "tok-default"}},
        state=state_url,
        transports={"acme": sandbox.transport()},
        adapters={"acme": AcmeAdapter},
    ) as s:
        report = await s.run([parse_listing(listing_data("D-1", agency="anyone"))])
    assert report.converged
    assert {r.principal for r in sandbox.requests} == {"default"}


async def test_busy_account_does_not_consume_another_accounts_budget(state_url: str) -> None:
    """Per-account limits: a 1-slot account never runs two requests at once, while another
    account runs several in parallel during the same apply."""
    acme, beta = AcmeSandbox(tokens=ACME_TOKENS, hold_seconds=0.01), AcmeSandbox(tokens=BETA_TOKENS)
    acme_cfg = _portal(ACME_TOKENS, AGENCIES["acme"])
    async with Syndicator(
        {"acme": acme_cfg, "beta": _portal(BETA_TOKENS, AGENCIES["beta"])},
        state=state_url,
        transports={"acme": acme.transport(), "beta": beta.transport()},
        adapters={"acme": AcmeAdapter, "beta": BetaAdapter},
        concurrency=16,
    ) as s:
        # acct-a gets a tight limit by its own adapter instance settings
        s.pool.setups["acme"] = s.pool.setups["acme"].__class__(
            "acme",
            AcmeAdapter,
            AcmeAdapter.settings_model(base_url="http://portal.test", max_concurrency=1),
        )
        listings = [parse_listing(listing_data(f"a-{n}", agency="ag-a")) for n in range(8)]
        listings += [parse_listing(listing_data(f"b-{n}", agency="ag-b")) for n in range(8)]
        report = await s.run(listings)
    assert report.converged
    assert acme.max_in_flight["acct-a"] == 1
    assert acme.max_in_flight["acct-b"] == 1  # same portal limit, but its own slot
    assert Counter(r.principal for r in acme.requests) == {"acct-a": 32, "acct-b": 32}


async def test_per_account_http_limits_are_independent(state_url: str) -> None:
    """Two accounts with a generous limit each reach parallelism independently."""
    acme = AcmeSandbox(tokens=ACME_TOKENS, hold_seconds=0.01)
    beta = AcmeSandbox(tokens=BETA_TOKENS)
    async with _syndicator(acme, beta, state_url, max_concurrency=4) as s:
        listings = [parse_listing(listing_data(f"a-{n}", agency="ag-a")) for n in range(8)]
        listings += [parse_listing(listing_data(f"b-{n}", agency="ag-b")) for n in range(8)]
        await s.run(listings)
    assert 1 < acme.max_in_flight["acct-a"] <= 4
    assert 1 < acme.max_in_flight["acct-b"] <= 4


class CrmAccounts:
    """An application's own account store: agencies can be added while it runs."""

    def __init__(self) -> None:
        self.accounts: dict[str, dict[str, Any]] = {}

    def route(self, portal: str, agency_ref: str) -> str | None:
        return agency_ref if agency_ref in self.accounts else None

    def account(self, portal: str, name: str) -> Mapping[str, Any] | None:
        return self.accounts.get(name)


async def test_account_provider_adds_agencies_without_restart(tmp_path: Path) -> None:
    """An agency added to the application's provider is served by the same Syndicator."""
    acme = AcmeSandbox(tokens={"tok-1": "crm-1", "tok-2": "crm-2"})
    crm = CrmAccounts()
    crm.accounts["ag-1"] = {"token": "tok-1"}
    async with Syndicator(
        {"acme": {"base_url": "http://acme.test"}},
        state=f"sqlite:///{tmp_path / 's.sqlite'}",
        transports={"acme": acme.transport()},
        adapters={"acme": AcmeAdapter},
        account_provider=crm,
    ) as s:
        first = await s.sync(parse_listing(listing_data("N-1", agency="ag-2")))
        assert first[0].outcome is Outcome.BLOCKED
        crm.accounts["ag-2"] = {"token": "tok-2"}
        second = await s.sync(parse_listing(listing_data("N-1", agency="ag-2")))
        assert second[0].outcome is Outcome.CONVERGED
        assert second[0].entry.account == "ag-2"
    assert acme.by_external_id("crm-2") == {"N-1": 1}
