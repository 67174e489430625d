"""The sandbox base: request log, deterministic fault injection, in process and over loopback."""

from __future__ import annotations

import httpx
import pytest

from listsync.sandbox import FaultConfig, ResponseDroppedError

from .conftest import ItemsSandbox


def client(sandbox: ItemsSandbox) -> httpx.AsyncClient:
    """A plain httpx client on the sandbox's in-process transport."""
    return httpx.AsyncClient(
        transport=sandbox.transport(),
        base_url="http://items.test",
        headers={"Authorization": "Bearer key-7"},
    )


async def test_request_log_records_principal_body_and_status(sandbox: ItemsSandbox) -> None:
    """Each handled request is logged with the credential that made it, its body and status."""
    async with client(sandbox) as http:
        await http.post("/items", json={"title": "Villa"}, params={"lang": "sv"})
        await http.get("/items/9")
    post, get = sandbox.requests
    assert (post.method, post.path, post.principal, post.body, post.status) == (
        "POST", "/items", "key-7", {"title": "Villa"}, 201
    )  # fmt: skip
    assert post.query == {"lang": "sv"}
    assert (get.status, get.is_write, get.fault) == (404, False, None)
    assert sandbox.write_requests() == [post]


async def faults_seen(seed: int) -> list[tuple[str | None, int]]:
    """(fault, status) of 40 GETs against a fresh sandbox with mixed faults and `seed`."""
    sandbox = ItemsSandbox(
        faults=FaultConfig(seed=seed, error_rate=0.3, rate_limit_rate=0.2, retry_after=2)
    )
    sandbox.items["1"] = {}
    async with client(sandbox) as http:
        for _ in range(40):
            await http.get("/items/1")
    return [(r.fault, r.status) for r in sandbox.requests]


async def test_faults_are_deterministic_under_a_seed() -> None:
    """The same seed gives the same sequence of faults and statuses; another seed differs."""
    first, again, other = await faults_seen(7), await faults_seen(7), await faults_seen(8)
    assert first == again
    assert first != other
    kinds = {fault for fault, _ in first}
    assert kinds == {None, "error", "rate_limit"}
    assert {status for fault, status in first if fault == "error"} <= {500, 502, 503}


async def test_set_faults_restarts_the_sequence(sandbox: ItemsSandbox) -> None:
    """`set_faults` with the same seed replays the same faults from the start."""
    faults = FaultConfig(seed=3, error_rate=0.5)
    sandbox.items["1"] = {}
    runs = []
    async with client(sandbox) as http:
        for _ in range(2):
            sandbox.set_faults(faults)
            sandbox.requests.clear()
            for _ in range(20):
                await http.get("/items/1")
            runs.append([r.status for r in sandbox.requests])
    assert runs[0] == runs[1]


async def test_injected_5xx_is_not_handled(sandbox: ItemsSandbox) -> None:
    """An injected server error answers in the portal's format and changes no state."""
    sandbox.set_faults(FaultConfig(error_rate=1.0, error_statuses=(502,)))
    async with client(sandbox) as http:
        response = await http.post("/items", json={"title": "x"})
    assert response.status_code == 502
    assert response.json()["errors"][0]["type"] == "injected"
    assert sandbox.items == {}
    assert sandbox.write_requests() == []
    (entry,) = sandbox.requests
    assert (entry.fault, entry.status, entry.principal) == ("error", 502, "key-7")


async def test_injected_429_carries_retry_after(sandbox: ItemsSandbox) -> None:
    """A rate-limit fault answers 429 with the configured Retry-After."""
    sandbox.set_faults(FaultConfig(rate_limit_rate=1.0, retry_after=1.5))
    async with client(sandbox) as http:
        response = await http.get("/items/1")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1.5"


async def test_latency_is_added_before_handling() -> None:
    """Configured latency is waited (through `Sandbox.sleep`) once per request."""
    waits: list[float] = []

    class Observed(ItemsSandbox):
        async def sleep(self, seconds: float) -> None:
            waits.append(seconds)

    sandbox = Observed(faults=FaultConfig(latency_ms=25))
    async with client(sandbox) as http:
        await http.get("/items/1")
        await http.get("/items/1")
    assert waits == [0.025, 0.025]


async def test_commit_then_drop_in_process_raises_read_error(sandbox: ItemsSandbox) -> None:
    """A dropped response surfaces as httpx.ReadError while the write is kept and logged."""
    sandbox.set_faults(FaultConfig(drop_rate=1.0))
    async with client(sandbox) as http:
        with pytest.raises(httpx.ReadError) as caught:
            await http.post("/items", json={"title": "x"})
    assert isinstance(caught.value.__cause__, ResponseDroppedError)
    assert sandbox.items == {"1": {"title": "x"}}
    (entry,) = sandbox.write_requests()
    assert (entry.fault, entry.status) == ("drop", 201)


async def test_reads_are_never_dropped(sandbox: ItemsSandbox) -> None:
    """Commit-then-drop applies to writes only: a GET is answered normally."""
    sandbox.items["1"] = {"a": 1}
    sandbox.set_faults(FaultConfig(drop_rate=1.0))
    async with client(sandbox) as http:
        response = await http.get("/items/1")
    assert response.json() == {"a": 1}


async def test_excluded_paths_and_methods_are_never_faulted(sandbox: ItemsSandbox) -> None:
    """`exclude_paths` and `methods` keep chosen requests free of faults."""
    sandbox.set_faults(FaultConfig(error_rate=1.0, methods=("POST",), exclude_paths=("/items",)))
    async with client(sandbox) as http:
        assert (await http.post("/items", json={})).status_code == 201
        assert (await http.get("/items/1")).status_code == 200


async def test_max_faults_stops_injection(sandbox: ItemsSandbox) -> None:
    """After `max_faults` injected faults the sandbox answers normally."""
    sandbox.items["1"] = {}
    sandbox.set_faults(FaultConfig(error_rate=1.0, max_faults=2))
    async with client(sandbox) as http:
        statuses = [(await http.get("/items/1")).status_code for _ in range(4)]
    assert statuses[2:] == [200, 200]
    assert all(s >= 500 for s in statuses[:2])


def test_serve_over_loopback_and_stop(sandbox: ItemsSandbox) -> None:
    """`serve()` answers on 127.0.0.1, records principals, and stops when the block ends."""
    with sandbox.serve() as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=base_url, headers={"Authorization": "Bearer k1"}) as http:
            created = http.post("/items", json={"title": "x"})
            assert created.status_code == 201
            sandbox.set_faults(FaultConfig(drop_rate=1.0))
            dropped = http.post("/items", json={"title": "y"})
    assert dropped.status_code == 500  # over loopback, uvicorn answers the lost response
    assert sandbox.items == {"1": {"title": "x"}, "2": {"title": "y"}}
    assert [r.principal for r in sandbox.write_requests()] == ["k1", "k1"]
    with pytest.raises(httpx.ConnectError), httpx.Client() as http:
        http.get(f"{base_url}/items/1")


def test_serve_can_run_twice(sandbox: ItemsSandbox) -> None:
    """A sandbox can be served, stopped and served again (no leaked thread or port)."""
    for _ in range(2):
        with sandbox.serve() as base_url, httpx.Client(base_url=base_url) as http:
            assert http.get("/items/1").status_code == 404
