"""The embedding API, async and through the blocking facade."""

from __future__ import annotations

from pathlib import Path

from acme_portal import AcmeAdapter, AcmeSandbox, listing_data

import listsync
from listsync.model import parse_listing
from listsync.sync import Action, Outcome
from listsync.syndicator import SyncSyndicator, Syndicator


async def test_async_validate_plan_apply_status(
    syndicator: Syndicator, sandbox: AcmeSandbox
) -> None:
    """validate → plan → apply → status, all async, with the plan as data."""
    good = parse_listing(listing_data("E-1"))
    assert [i.severity.value for i in syndicator.validate(good)] == []
    bad = listing_data("E-2", price=None)
    assert [i.path for i in syndicator.validate(bad)] == ["asking_price"]
    assert {i.path for i in syndicator.validate({"external_ref": "x"})} >= {"agency", "address"}

    plan = await syndicator.plan([good, parse_listing(bad)])
    assert [e.action for e in plan] == [Action.CREATE, Action.BLOCKED]
    assert plan.to_json()["summary"] == {"create": 1, "blocked": 1}
    assert sandbox.requests == []  # planning sends nothing

    report = await syndicator.apply(plan)
    assert report.totals == {"converged": 1, "blocked": 1}
    (state,) = await syndicator.status("E-1")
    assert state.outcome is Outcome.CONVERGED
    assert state.remote_id is not None
    assert state.is_visible is True
    trail = await syndicator.audit("E-1")
    assert next(a.operation for a in trail) == "create"


async def test_sync_pushes_one_listing_now(syndicator: Syndicator, sandbox: AcmeSandbox) -> None:
    """`sync(listing)` plans and applies one listing; a second call sends nothing."""
    (result,) = await syndicator.sync(parse_listing(listing_data("E-1")))
    assert result.outcome is Outcome.CONVERGED
    writes = len(sandbox.write_requests())
    (again,) = await syndicator.sync(parse_listing(listing_data("E-1")))
    assert again.outcome is Outcome.UNCHANGED
    assert len(sandbox.write_requests()) == writes


def test_sync_facade_from_config(tmp_path: Path, sandbox: AcmeSandbox) -> None:
    """SyncSyndicator works without an event loop (a Django view), built from a TOML file."""
    config = tmp_path / "listsync.toml"
    config.write_text(
        f'[state]\nurl = "sqlite:///{tmp_path / "s.sqlite"}"\n'
        '[portals.acme]\nbase_url = "http://acme.test"\ntoken = "tok-default"\n'
    )
    with SyncSyndicator.from_config(
        config, transports={"acme": sandbox.transport()}, adapters={"acme": AcmeAdapter}
    ) as crm:
        listing = parse_listing(listing_data("S-1"))
        assert crm.validate(listing) == []
        plan = crm.plan([listing])
        assert plan.counts() == {"create": 1}
        report = crm.apply(plan)
        assert report.converged
        assert [r.outcome for r in crm.sync(listing)] == [Outcome.UNCHANGED]
        (state,) = crm.status("S-1")
        assert state.status is not None
        assert state.status.value == "live"
    assert sandbox.by_external_id() == {"S-1": 1}


def test_public_exports() -> None:
    """The embedding API is importable from the package root."""
    assert listsync.Syndicator is Syndicator
    assert "Syndicator" in listsync.__all__
