"""Stopping a run promptly, from the embedding API (the CLI's signals call the same `stop`)."""

from __future__ import annotations

from acme_portal import AcmeSandbox, listing_data

from listsync.model import parse_listing
from listsync.syndicator import Syndicator


async def test_a_stop_before_the_run_has_started_still_stops_it(
    syndicator: Syndicator, sandbox: AcmeSandbox
) -> None:
    """`stop()` called while the run is still starting (no engine yet) stops that run as soon
    as it starts: nothing is sent, and the next run goes ahead normally."""
    listings = [parse_listing(listing_data(f"L-{i}")) for i in range(5)]
    syndicator.stop()
    report = await syndicator.run(listings)
    assert report.interrupted
    assert sandbox.write_requests() == []
    again = await syndicator.run(listings)
    assert again.totals == {"converged": 5}


async def test_forget_leaves_records_that_hold_nothing_alone(syndicator: Syndicator) -> None:
    """Forgetting a listing twice forgets it once: the second call finds nothing to forget."""
    listing = parse_listing(listing_data("L-F"))
    assert (await syndicator.run([listing])).converged
    assert len(await syndicator.forget("L-F")) == 1
    assert await syndicator.forget("L-F") == []
    (state,) = await syndicator.status("L-F")
    assert state.remote_id is None
    assert state.outcome is None
