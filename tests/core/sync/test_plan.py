"""The planner's entries, read from a JSON Lines file."""

from __future__ import annotations

import json
from pathlib import Path

from acme_portal import listing_data

from listsync.adapter import Projection, TargetState
from listsync.io import read_listings
from listsync.sync import Action, ListingState, Planner
from listsync.syndicator import Syndicator


def test_every_entry_carries_its_input_line(syndicator: Syndicator, tmp_path: Path) -> None:
    """Planned, blocked, invalid and removal entries name the line they were read from, as an
    editor counts lines (blank ones included); entries of a listing passed directly name none."""
    sent = Projection(external_ref="P-3", fields={"price": 1}, target=TargetState.PUBLISHED)
    syndicator.store.save(ListingState("acme", "default", "P-3", remote_id="r-3").with_sent(sent))
    lines = [
        json.dumps(listing_data("P-1")),
        "",
        json.dumps(listing_data("P-2", portals=("acme", "nowhere"))),
        '{"external_ref": "P-bad"}',
        json.dumps(listing_data("P-3", portals=())),
    ]
    source = tmp_path / "listings.jsonl"
    source.write_text("\n".join(lines) + "\n")
    planner = Planner(syndicator.pool, syndicator.store)

    entries = [
        (e.line, e.external_ref, e.portal, e.action) for e in planner.stream(read_listings(source))
    ]

    assert entries == [
        (1, "P-1", "acme", Action.CREATE),
        (3, "P-2", "acme", Action.CREATE),
        (3, "P-2", "nowhere", Action.BLOCKED),
        (4, "P-bad", None, Action.INVALID),
        (5, "P-3", "acme", Action.DELETE),
    ]
    listing = next(item for _, item in read_listings(source))
    assert [e.line for e in planner.stream([listing])] == [None]
