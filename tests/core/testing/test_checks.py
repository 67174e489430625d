"""Unit tests of the kit's helpers: canonical paths, secret detection, scripted faults, the
shape of `prepare()` answers."""

from __future__ import annotations

import re
import socket

import httpx
import pytest

from listsync.adapter import FieldIssue, Prepared, Projection, Severity
from listsync.sandbox import FaultConfig
from listsync.testing import (
    ConformanceError,
    NetworkBlockedError,
    block_network,
    check_prepared,
    find_secrets,
    is_canonical_path,
)


@pytest.mark.parametrize(
    "path",
    [
        "address.postal_code",
        "media[2].url",
        "description.sv",
        "asking_price",
        "<listing>",
        "rent.base.amount",
        "extensions.hemnet.anything",
        "showings[0].start",
    ],
)
def test_canonical_paths_are_recognised(path: str) -> None:
    """Paths naming fields of the canonical model are canonical."""
    assert is_canonical_path(path)


@pytest.mark.parametrize(
    "path",
    ["postCode", "address.postCode", "media.url[2]", "description.swedish", "media[x].url", ""],
)
def test_portal_paths_are_not_canonical(path: str) -> None:
    """Portal field names and malformed paths are not canonical."""
    assert not is_canonical_path(path)


def test_find_secrets_names_the_kind_never_the_value() -> None:
    """Known credentials, Bearer tokens, JWTs and signatures are found and described."""
    texts = [
        "token s3cr3t-value here",
        "Authorization: Bearer abcdefghijklmnop",
        "eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl",
        "GET /x?hash=" + "a" * 40,
        "Authorization: Bearer ***",
    ]
    found = find_secrets(texts, ["s3cr3t-value"])
    assert len(found) == 4
    assert not any("s3cr3t" in item for item in found)


def test_block_network_refuses_and_restores() -> None:
    """Inside the block, connecting fails and is recorded; afterwards sockets work again."""
    original = socket.socket.connect
    with block_network() as attempts, pytest.raises(NetworkBlockedError):
        socket.create_connection(("127.0.0.1", 9))
    assert attempts
    assert socket.socket.connect is original


async def test_scripted_faults_hit_only_the_armed_requests() -> None:
    """An armed 429 reaches exactly the next matching request; the rest run clean."""
    from listsync.testing import ScriptedFaults
    from listsync_hemnet.sandbox import HemnetSandbox

    sandbox = HemnetSandbox()
    transport = ScriptedFaults(sandbox, sandbox.transport())
    transport.arm(
        FaultConfig(rate_limit_rate=1.0, retry_after=7), count=1, methods=frozenset({"GET"})
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://h") as client:
        first, second = await client.get("/keys"), await client.get("/keys")
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "7"
    assert second.status_code != 429


def _projection() -> Projection:
    return Projection(external_ref="r-1", fields={"price": 1})


def _issue(severity: Severity) -> FieldIssue:
    return FieldIssue(path="asking_price", message="too low", rule="R1", severity=severity)


def test_check_prepared_accepts_what_prepared_of_builds() -> None:
    """`Prepared.of` answers pass: a projection with warnings, none with an error."""
    warned = Prepared.of([_issue(Severity.WARNING)], _projection())
    blocked = Prepared.of([_issue(Severity.ERROR)], _projection())
    assert check_prepared(warned, "s") is warned
    assert check_prepared(blocked, "s").projection is None


@pytest.mark.parametrize(
    ("answer", "complaint"),
    [
        ([], "must return listsync.adapter.Prepared, got list"),
        (Prepared((_issue(Severity.ERROR),), _projection()), "still returned a projection"),
        (Prepared((), None), "returned no Projection"),
        (Prepared([_issue(Severity.ERROR)], None), "must be a tuple of FieldIssue"),  # type: ignore[arg-type]
    ],
)
def test_check_prepared_names_what_is_wrong(answer: object, complaint: str) -> None:
    """A prepare() answer that breaks the contract is reported with what is wrong."""
    with pytest.raises(ConformanceError, match=re.escape(complaint)):
        check_prepared(answer, "sample #0")
