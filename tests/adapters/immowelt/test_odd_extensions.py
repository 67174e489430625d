"""Odd `extensions.immowelt` values: the listing is blocked with an issue, the run goes on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from listsync.errors import Severity
from listsync.io import read_listings
from listsync.sync import Action
from listsync.syndicator import Syndicator
from listsync_immowelt._sandbox_rules import validate_listing
from listsync_immowelt.mapping import to_immowelt_payload
from listsync_immowelt.rules import check_all
from listsync_immowelt.sandbox import ImmoweltSandbox

from .conftest import BASE_LISTING, BASE_URL, deep_merge, make_listing


@pytest.fixture
async def syndicator(sandbox: ImmoweltSandbox, tmp_path: Path) -> AsyncIterator[Syndicator]:
    async with Syndicator(
        {"immowelt": sandbox.client_settings(BASE_URL)},
        state=f"sqlite:///{tmp_path / 'state.sqlite'}",
        transports={"immowelt": sandbox.transport()},
    ) as s:
        yield s


def _line(ref: str, **overrides: Any) -> str:
    data = deep_merge(BASE_LISTING, {"external_ref": ref, "marketing_key": None, **overrides})
    return json.dumps(data)


async def test_a_listing_with_an_odd_extension_is_blocked_and_the_others_planned(
    syndicator: Syndicator, sandbox: ImmoweltSandbox, tmp_path: Path
) -> None:
    """An array for `estateSubTypes` in one listing of a file blocks that listing at the
    extension's path; the planner goes on and plans the good listings around it."""
    odd = {"immowelt": {"data": {"estateSubTypes": ["PENTHOUSE"]}}}
    source = tmp_path / "listings.jsonl"
    lines = [_line("DE-1"), _line("DE-2", extensions=odd), _line("DE-3")]
    source.write_text("\n".join(lines) + "\n")

    entries = list(syndicator.plan_stream(read_listings(source)))

    assert [(e.external_ref, e.action) for e in entries] == [
        ("DE-1", Action.CREATE),
        ("DE-2", Action.BLOCKED),
        ("DE-3", Action.CREATE),
    ]
    assert [(i.path, i.severity, i.rule) for i in entries[1].issues] == [
        ("extensions.immowelt.data.estateSubTypes", Severity.ERROR, "rule-06")
    ]
    assert sandbox.requests == []


# Where the rules read a vocabulary field: the type each takes.
_READ: dict[str, type] = {
    "estateSubTypes": dict,
    "distributionType": str,
    "distributionSubType": str,
    "projectEstateType": str,
    "projectEstateSubType": str,
    "projectDistributionType": str,
    "projectDistributionSubType": str,
}
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 10)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "RENT", "CLASSIC", "NEW_BUILD_UNIT", "HOUSE", "NEW_HOME", "STORE"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["apartment", "house", "trading", "x"]), children)
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(st.sampled_from(sorted(_READ)), _JSON, min_size=1))
def test_no_extension_value_makes_a_rule_raise(data: dict[str, Any]) -> None:
    """Whatever JSON an extension puts where the rules read a vocabulary field, neither the
    offline rules nor the sandbox's raise, and a value of the wrong type is an error at its
    own JSON pointer on both sides."""
    listing = make_listing(extensions={"immowelt": {"data": data}})
    payload = to_immowelt_payload(listing, software_name="x", external_customer_id="c")

    offline = {i.portal_field for i in check_all(payload, listing) if i.severity is Severity.ERROR}
    online = {e["name"] for e in validate_listing(payload)}

    for name, value in data.items():
        if value is not None and not isinstance(value, _READ[name]):
            assert f"/data/{name}" in offline & online
