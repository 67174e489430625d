"""The Booli adapter against the sandbox: searches, single objects, faults, secrets."""

from __future__ import annotations

import logging

import pytest
from structlog.testing import capture_logs

from listsync.adapter import Capability, ReadAdapter
from listsync.errors import PortalBugError
from listsync.registry import SANDBOX_GROUP, Registry
from listsync.sandbox import FaultConfig
from listsync_booli import BooliAdapter
from listsync_booli.errors import InvalidQueryError
from listsync_booli.sandbox import BooliSandbox

from .conftest import ALL_SWEDEN, AdapterFactory


def test_registered_under_its_name_with_read_capabilities() -> None:
    """Entry points `booli` load the adapter and the sandbox; the names agree."""
    registry = Registry()
    registry.check_name("booli")
    assert registry.get("booli") is BooliAdapter
    assert Registry(SANDBOX_GROUP).get("booli") is BooliSandbox
    assert BooliAdapter.capabilities == {Capability.READ, Capability.SEARCH}


async def test_adapter_implements_the_read_protocol(
    sandbox: BooliSandbox, make_adapter: AdapterFactory
) -> None:
    """The adapter satisfies ReadAdapter (and, read-only, has no prepare or preflight)."""
    adapter = make_adapter(sandbox)
    assert isinstance(adapter, ReadAdapter)
    assert not hasattr(adapter, "prepare")
    assert not hasattr(adapter, "preflight")


async def test_search_returns_every_object_once(
    shared_sandbox: BooliSandbox, make_adapter: AdapterFactory
) -> None:
    """All 2,000 listings come back exactly once, in the sandbox's order."""
    adapter = make_adapter(shared_sandbox)
    refs = [listing.external_ref async for listing in adapter.search(ALL_SWEDEN)]
    expected = [f"booli-{o['booliId']}" for o in shared_sandbox.matching(ALL_SWEDEN)]
    assert len(expected) == 2000
    assert refs == expected
    assert adapter.skipped == []


async def test_sold_search_with_filters(
    sandbox: BooliSandbox, make_adapter: AdapterFactory
) -> None:
    """A filtered /sold search yields sold listings matching the sandbox's own filter."""
    adapter = make_adapter(sandbox, page_size=7)
    query = {"q": "län", "objectType": "villa,radhus", "minSoldPrice": "2000000"}
    got = [listing async for listing in adapter.search(query, sold=True)]
    expected = sandbox.matching(query, sold=True)
    assert [g.extensions["booli"]["booliId"] for g in got] == [o["booliId"] for o in expected]
    assert got
    assert all(g.sale is not None and g.status.value == "sold" for g in got)


async def test_invalid_query_sends_nothing(
    sandbox: BooliSandbox, make_adapter: AdapterFactory
) -> None:
    """An invalid query raises at once, before any request."""
    adapter = make_adapter(sandbox)
    with pytest.raises(InvalidQueryError):
        adapter.search({"q": "x", "limit": "501"})
    assert sandbox.requests == []


async def test_get_by_booli_id(sandbox: BooliSandbox, make_adapter: AdapterFactory) -> None:
    """get() finds an object by `123` or `booli-123` and returns None for unknown ids."""
    adapter = make_adapter(sandbox)
    obj = sandbox.data["sold"][3]
    found = await adapter.get(f"booli-{obj['booliId']}", sold=True)
    assert found is not None
    assert found.extensions["booli"]["pageviews"] > 0
    assert await adapter.get(str(obj["booliId"])) is None
    assert await adapter.get("not-an-id") is None


@pytest.mark.usefixtures("no_backoff")
async def test_search_survives_503_and_429(
    sandbox: BooliSandbox, make_adapter: AdapterFactory
) -> None:
    """With 5xx and 429 injected, every object still comes back exactly once."""
    sandbox.set_faults(FaultConfig(error_rate=0.2, rate_limit_rate=0.15, retry_after=0.01, seed=5))
    adapter = make_adapter(sandbox, page_size=50, max_attempts=12)
    refs = [listing.external_ref async for listing in adapter.search(ALL_SWEDEN)]
    assert len(refs) == len(set(refs)) == len(sandbox.matching(ALL_SWEDEN))
    faults = {r.fault for r in sandbox.requests}
    assert {"error", "rate_limit"} <= faults


@pytest.mark.parametrize(("delta", "where"), [(120, "start"), (-120, "start"), (80, "end"),
                                              (-80, "end")])  # fmt: skip
async def test_result_set_changing_mid_run(
    sandbox: BooliSandbox, make_adapter: AdapterFactory, delta: int, where: str
) -> None:
    """Objects present for the whole run come back once, when the total grows or shrinks."""
    before = sandbox.ids()
    sandbox.resize_after(2, delta, where=where)  # type: ignore[arg-type]
    adapter = make_adapter(sandbox, page_size=100)
    refs = [listing.extensions["booli"]["booliId"] async for listing in adapter.search(ALL_SWEDEN)]
    assert len(refs) == len(set(refs))
    assert before - set(sandbox.removed_ids) <= set(refs)
    assert set(refs) <= before | set(sandbox.added_ids)
    if where == "end" and delta > 0:
        assert set(sandbox.added_ids) <= set(refs)


async def test_overstated_total_stops_on_the_empty_page(make_adapter: AdapterFactory) -> None:
    """A totalCount larger than the result set ends at the first empty page."""
    sandbox = BooliSandbox(listings=250, sold=0, overstate_total=1000)
    adapter = make_adapter(sandbox, page_size=100, page_overlap=0)
    refs = [listing async for listing in adapter.search(ALL_SWEDEN)]
    assert len(refs) == 250
    assert len(sandbox.requests) == 4


async def test_page_cap_stops_a_runaway_search(
    sandbox: BooliSandbox, make_adapter: AdapterFactory
) -> None:
    """More pages than max_pages raise PortalBugError instead of looping."""
    adapter = make_adapter(sandbox, page_size=10, max_pages=3)
    with pytest.raises(PortalBugError, match="did not end after 3 pages"):
        _ = [listing async for listing in adapter.search(ALL_SWEDEN)]


async def test_unmappable_objects_are_skipped_and_reported(
    sandbox: BooliSandbox, make_adapter: AdapterFactory
) -> None:
    """An object the canonical model cannot hold is logged and counted, the rest still flow."""
    del sandbox.data["listings"][1]["location"]["address"]["streetAddress"]
    sandbox.data["listings"][1]["location"]["address"]["city"] = "Nacka"
    adapter = make_adapter(sandbox)
    with capture_logs() as logs:
        got = [listing async for listing in adapter.search(ALL_SWEDEN)]
    assert len(got) == len(sandbox.data["listings"]) - 1
    (skipped,) = [e for e in logs if e["event"] == "booli_object_skipped"]
    assert skipped["booli_id"] == sandbox.data["listings"][1]["booliId"]
    assert len(adapter.skipped) == 1


@pytest.mark.usefixtures("no_backoff")
async def test_logs_and_errors_hold_no_credentials(
    sandbox: BooliSandbox, make_adapter: AdapterFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither structlog events, any stdlib log line nor errors contain key, hash or callerId.

    Requests go through PortalHttp's own redacted `http_request` line; httpx's client (whose
    INFO line holds the whole signed URL) is not in the path, so it logs nothing."""
    sandbox.set_faults(FaultConfig(error_rate=0.2, rate_limit_rate=0.15, retry_after=0, seed=2))
    adapter = make_adapter(sandbox, page_size=100, max_attempts=12)
    secrets = sandbox.client_settings("http://x")
    caplog.set_level(logging.DEBUG)
    with capture_logs() as logs:
        _ = [listing async for listing in adapter.search(ALL_SWEDEN)]
    sent = [r.query for r in sandbox.requests if r.fault is None]
    forbidden = {secrets["caller_id"], secrets["api_key"]}
    forbidden |= {q["hash"] for q in sent} | {q["unique"] for q in sent}
    text = repr(logs) + "\n".join(r.getMessage() for r in caplog.records)
    assert any(e["event"] == "http_request" for e in logs)
    assert not [r for r in caplog.records if r.name.startswith("httpx")]
    assert not [s for s in forbidden if s in text]
    sandbox.set_faults(FaultConfig())
    sandbox.add_account("other")
    adapter.client.cache.clear()
    bad = make_adapter(sandbox, "other")
    sandbox._callers.pop("listsync-other")
    with pytest.raises(Exception) as caught:  # noqa: PT011  (any error; its text is checked)
        await bad.check()
    assert "listsync-other" not in str(caught.value)
