"""What an adapter raises for one listing stays with that listing (the contract's error table).

A listing whose adapter raises `InvalidListingError` while planning is blocked, one whose adapter
raises anything else is failed, with the reason in the report and in `status`; the run goes on
and every other listing converges.
"""

from __future__ import annotations

from typing import Any

import pytest
from acme_portal import AcmeAdapter, AcmeSandbox, listing_data

from listsync.adapter import Operation, OperationContext, OperationResult, Prepared
from listsync.errors import FieldIssue, InvalidListingError
from listsync.model import Listing, parse_listing
from listsync.sync import BlockedEntry, FailedEntry, Outcome, PlannedEntry
from listsync.syndicator import SyncSyndicator, Syndicator

REFUSED = "L-REFUSED"
CRASHES = "L-CRASHES"
PLAN_BUG = "L-PLANBUG"


class Troubled(AcmeAdapter):
    """The acme adapter, with a rule refusing one listing and bugs for two others."""

    def prepare(self, listing: Listing) -> Prepared:
        if listing.external_ref == REFUSED:
            issue = FieldIssue(
                path="category",
                message="this portal cannot change the category",
                portal=self.name,
                rule="11",
            )
            raise InvalidListingError([issue], external_ref=listing.external_ref)
        if listing.external_ref == PLAN_BUG:
            raise ZeroDivisionError("division by zero")
        return super().prepare(listing)

    async def apply(self, op: Operation, ctx: OperationContext) -> OperationResult:
        if ctx.external_ref == CRASHES:
            raise RuntimeError("adapter bug while applying")
        return await super().apply(op, ctx)


def _syndicator(sandbox: AcmeSandbox, state_url: str) -> Syndicator:
    return Syndicator(
        {"acme": {"base_url": "http://acme.test", "token": "tok-default"}},
        state=state_url,
        transports={"acme": sandbox.transport()},
        adapters={"acme": Troubled},
    )


def _batch() -> list[Listing]:
    good = [parse_listing(listing_data(f"L-{i:03}")) for i in range(50)]
    troubled = [parse_listing(listing_data(ref)) for ref in (REFUSED, CRASHES, PLAN_BUG)]
    return good[:20] + troubled[:1] + good[20:35] + troubled[1:] + good[35:]


async def test_a_raising_adapter_blocks_or_fails_one_listing_and_the_run_goes_on(
    sandbox: AcmeSandbox, state_url: str
) -> None:
    """50 good listings converge around one refused while planning, one whose apply raises a
    RuntimeError and one whose prepare has a bug; each reason is in the report and status."""
    async with _syndicator(sandbox, state_url) as syndicator:
        report = await syndicator.run(_batch())
        assert report.totals == {"converged": 50, "blocked": 1, "failed": 2}
        by_ref = {r.entry.external_ref: r for r in report.results}
        refused = by_ref[REFUSED]
        assert refused.outcome is Outcome.BLOCKED
        assert [(i.path, i.rule) for i in refused.issues] == [("category", "11")]
        assert by_ref[CRASHES].error_class == "RuntimeError"
        assert by_ref[CRASHES].error_message == "adapter bug while applying"
        assert by_ref[PLAN_BUG].error_class == "ZeroDivisionError"
        report_json = {r.entry.external_ref: r.to_json() for r in report.results}
        assert report_json[CRASHES]["error"]["class"] == "RuntimeError"
        assert report_json[REFUSED]["issues"][0]["path"] == "category"

        (refused_state,) = await syndicator.status(REFUSED)
        assert refused_state.outcome is Outcome.BLOCKED
        assert refused_state.issues[0].path == "category"
        (crashed_state,) = await syndicator.status(CRASHES)
        assert crashed_state.outcome is Outcome.FAILED
        assert crashed_state.error_class == "RuntimeError"
        (bug_state,) = await syndicator.status(PLAN_BUG)
        assert bug_state.outcome is Outcome.FAILED
        assert bug_state.error_class == "ZeroDivisionError"
    sent = {ref for ref, count in sandbox.by_external_id().items() if count}
    assert REFUSED not in sent
    assert PLAN_BUG not in sent
    assert len(sent - {CRASHES}) == 50


async def test_plan_entries_say_which_kind_they_are(sandbox: AcmeSandbox, state_url: str) -> None:
    """Planning yields a blocked entry, a failed entry and planned ones; nothing is sent."""
    async with _syndicator(sandbox, state_url) as syndicator:
        plan = await syndicator.plan(_batch())
    kinds = {type(e).__name__ for e in plan}
    assert kinds == {"PlannedEntry", "BlockedEntry", "FailedEntry"}
    blocked = [e for e in plan if isinstance(e, BlockedEntry)]
    failed = [e for e in plan if isinstance(e, FailedEntry)]
    assert [e.external_ref for e in blocked] == [REFUSED]
    assert [(e.external_ref, e.error_class) for e in failed] == [(PLAN_BUG, "ZeroDivisionError")]
    assert all(e.operations for e in plan if isinstance(e, PlannedEntry))
    assert plan.to_json()["summary"] == {"create": 51, "blocked": 1, "failed": 1}
    assert sandbox.requests == []


@pytest.mark.parametrize("as_dict", [True, False])
def test_sync_syndicator_accepts_a_listing_or_its_dict(
    sandbox: AcmeSandbox, state_url: str, as_dict: bool
) -> None:
    """`SyncSyndicator.sync` pushes a listing given as a `Listing` or as its canonical dict."""
    data: dict[str, Any] = listing_data("L-DICT")
    listing: Any = data if as_dict else parse_listing(data)
    with SyncSyndicator(
        {"acme": {"base_url": "http://acme.test", "token": "tok-default"}},
        state=state_url,
        transports={"acme": sandbox.transport()},
        adapters={"acme": AcmeAdapter},
    ) as syndicator:
        (result,) = syndicator.sync(listing)
        assert result.outcome is Outcome.CONVERGED
        assert syndicator.validate(data) == []
        (planned,) = syndicator.plan([data])
    assert sandbox.by_external_id() == {"L-DICT": 1}
    assert planned.action.value == "nothing"


def test_an_invalid_dict_is_reported_not_raised(sandbox: AcmeSandbox, state_url: str) -> None:
    """A dict that is not a valid listing comes back as an invalid result, with its paths."""
    data: dict[str, Any] = listing_data("L-BROKEN")
    data["address"] = {"city": ""}
    with SyncSyndicator(
        {"acme": {"base_url": "http://acme.test", "token": "tok-default"}},
        state=state_url,
        transports={"acme": sandbox.transport()},
        adapters={"acme": AcmeAdapter},
    ) as syndicator:
        (result,) = syndicator.sync(data)
    assert result.outcome is Outcome.INVALID
    assert any(i.path.startswith("address") for i in result.issues)
    assert sandbox.requests == []
