"""Unit tests of the kit's helpers: canonical paths, secret detection, scripted faults."""

from __future__ import annotations

import socket

import httpx
import pytest

from listsync.sandbox import FaultConfig
from listsync.testing import NetworkBlockedError, block_network, find_secrets, is_canonical_path


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
