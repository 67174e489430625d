"""A 429 pauses the whole portal account (issue 15): after one `429 Retry-After: 3` early in a
`listsync apply`, the sandbox's request log (arrival times) shows no new request of that
account inside the window except those already in flight, the refused request is sent again
only after it, and the run converges."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from listsync.sandbox import FaultConfig, RecordedRequest

from ._support import Served, compare, reference, run_cli, snapshot, writes

pytestmark = pytest.mark.slow

RETRY_AFTER = 3.0
IN_FLIGHT = 0.25
"""Requests arriving this long after the 429 count as sent before the client saw it."""
RATE = 0.05
NTH = range(25, 45)
"""The one 429 hits one of these eligible requests (0-based): early, while listings of that
account are being written concurrently."""
API_ONLY = {"hemnet": (), "immowelt": ("/oauth/token", "/_")}
"""Paths never answered 429 and not counted as the account's requests: Immowelt's token
endpoint, presigned uploads (`/_upload`) and the CRM's media mirror (`/_mirror`)."""


def seed_hitting(nth: range, rate: float) -> int:
    """The first fault seed whose first draw below `rate` is one of the `nth` draws (the
    sandbox draws once per eligible request, so that request gets the 429)."""
    for seed in range(10_000):
        rng = random.Random(seed)
        first = next(i for i in range(10_000) if rng.random() < rate)
        if first in nth:
            return seed
    raise AssertionError("no seed found")


def one_429(portal: str) -> FaultConfig:
    return FaultConfig(
        seed=seed_hitting(NTH, RATE),
        rate_limit_rate=RATE,
        retry_after=RETRY_AFTER,
        max_faults=1,
        exclude_paths=API_ONLY[portal],
    )


def account_requests(portals: Served, portal: str) -> list[RecordedRequest]:
    """The portal API requests of the (only) account, in arrival order."""
    skip = API_ONLY[portal]
    found = [
        r for r in portals.sandboxes[portal].requests if not (skip and r.path.startswith(skip))
    ]
    return sorted(found, key=lambda r: r.at)


def test_a_429_pauses_the_account_for_its_retry_after(
    served: Callable[..., Served], make_listings: Callable[[int], Path], tmp_path: Path
) -> None:
    """Each portal answers one request 429 `Retry-After: 3` early in the run. Per portal: no
    request of the account arrives between 0.25 s and 3 s after the 429, the refused request
    is sent again after the window, and the run exits 0 with exactly what a run without the
    429 leaves (nothing duplicated, lost or extra); a further run writes nothing."""
    listings = make_listings(60)
    expected = reference(listings, tmp_path)
    portals = served()
    for name, sandbox in portals.sandboxes.items():
        sandbox.set_faults(one_429(name))
    code, err = run_cli(portals.apply_cmd(listings), tmp_path)
    assert code == 0, err[-2000:]
    assert "Traceback" not in err

    for name in portals.sandboxes:
        log = account_requests(portals, name)
        (refused,) = [r for r in log if r.fault == "rate_limit"]
        assert refused.status == 429
        start = refused.at
        before = [r for r in log if r.at < start]
        inside = [r for r in log if start + IN_FLIGHT < r.at < start + RETRY_AFTER]
        after = [r for r in log if r.at >= start + RETRY_AFTER]
        assert before, f"{name}: the 429 should come after the run started"
        assert after, f"{name}: the run should go on after the window"
        assert inside == [], (
            f"{name}: {len(inside)} requests inside the window, first "
            f"{inside[0].method} {inside[0].path} at +{inside[0].at - start:.2f} s"
        )
        resent = [r for r in after if (r.method, r.path) == (refused.method, refused.path)]
        assert resent, f"{name}: {refused.method} {refused.path} was not sent again"
        print(
            f"\n{name}: 429 on {refused.method} {refused.path} at request {log.index(refused)}; "
            f"{sum(start < r.at <= start + IN_FLIGHT for r in log)} in flight, "
            f"next at +{after[0].at - start:.2f} s"
        )

    found = compare(expected, snapshot(portals.sandboxes))
    assert (found["duplicates"], found["lost"], found["extra"]) == (0, 0, 0), found
    before_writes = writes(portals.sandboxes)
    code, err = run_cli(portals.apply_cmd(listings), tmp_path)
    assert code == 0, err[-2000:]
    assert writes(portals.sandboxes) == before_writes


def test_a_429_from_immowelt_s_token_endpoint_pauses_the_account(
    served: Callable[..., Served], make_listings: Callable[[int], Path], tmp_path: Path
) -> None:
    """The first token request of the run answered 429 `Retry-After: 3`: no request of the
    account (token endpoint included) arrives between 0.25 s and 3 s after it; the run
    converges."""
    listings = make_listings(60)
    portals = served()
    sandbox = portals.sandboxes["immowelt"]
    sandbox.set_faults(
        FaultConfig(
            rate_limit_rate=1.0, retry_after=RETRY_AFTER, max_faults=1, exclude_paths=("/v1", "/_")
        )
    )
    code, err = run_cli(portals.apply_cmd(listings, "--portal", "immowelt"), tmp_path)
    assert code == 0, err[-2000:]
    log = sorted((r for r in sandbox.requests if not r.path.startswith("/_")), key=lambda r: r.at)
    (refused,) = [r for r in log if r.fault == "rate_limit"]
    assert refused.path.endswith("/token")
    inside = [r for r in log if refused.at + IN_FLIGHT < r.at < refused.at + RETRY_AFTER]
    early_tokens = [r for r in log if r.path.endswith("/token") and r is not refused]
    assert inside == [], f"{len(inside)} requests inside the window"
    assert all(r.at >= refused.at + RETRY_AFTER for r in early_tokens)
