"""The BooliSandbox enforces Booli's documented rules, in plain text."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from listsync.errors import ConfigurationError
from listsync.sandbox import FaultConfig
from listsync_booli.auth import BooliSigningAuth
from listsync_booli.sandbox import BooliSandbox

from .conftest import ALL_SWEDEN

ACCEPT = {"Accept": "application/vnd.booli-v2+json"}
NOW = 1_800_000_000.0


@pytest.fixture
def clocked() -> BooliSandbox:
    return BooliSandbox(clock=lambda: NOW, listings=50, sold=20)


def signer(sandbox: BooliSandbox, *, at: float = NOW, unique: str | None = None) -> httpx.Auth:
    values = sandbox.client_settings("http://x")
    options = {"nonce": lambda: unique} if unique else {}
    return BooliSigningAuth(
        SecretStr(values["caller_id"]), SecretStr(values["api_key"]), clock=lambda: at, **options
    )


@pytest.fixture
async def raw(clocked: BooliSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=clocked.transport(), base_url="http://x") as client:
        yield client


def test_dataset_is_deterministic_and_large_enough() -> None:
    """The default dataset has >= 2,000 objects, identical for the same seed."""
    one, two = BooliSandbox(), BooliSandbox()
    assert len(one.data["listings"]) + len(one.data["sold"]) >= 2000
    assert one.data == two.data
    kinds = {o["objectType"] for o in one.data["listings"]}
    assert kinds == {"Villa", "Lägenhet", "Radhus", "Kedjehus", "Parhus", "Fritidshus", "Gård",
                     "Tomt/Mark"}  # fmt: skip
    assert all("soldPrice" in o and "soldDate" in o for o in one.data["sold"])


async def test_signed_search_answers_the_envelope(
    clocked: BooliSandbox, raw: httpx.AsyncClient
) -> None:
    """A correctly signed search returns totalCount, count, limit, offset and the objects."""
    response = await raw.get(
        "/listings", params={**ALL_SWEDEN, "limit": "10"}, headers=ACCEPT, auth=signer(clocked)
    )
    body = response.json()
    assert response.status_code == 200
    assert (body["totalCount"], body["count"], body["limit"], body["offset"]) == (50, 10, 10, 0)
    assert len(body["listings"]) == 10
    assert clocked.requests[-1].principal == "listsync-default"


@pytest.mark.parametrize(("skew", "status"), [(-301, 403), (299, 200), (400, 403)])
async def test_stale_time_is_refused(
    clocked: BooliSandbox, raw: httpx.AsyncClient, skew: float, status: int
) -> None:
    """`time` more than 300 s from the sandbox clock is a 403."""
    response = await raw.get(
        "/listings", params=ALL_SWEDEN, headers=ACCEPT, auth=signer(clocked, at=NOW + skew)
    )
    assert response.status_code == status
    if status == 403:
        assert response.text.startswith("FAILURE_TIME_OUT_OF_RANGE")


async def test_a_reused_unique_is_refused(clocked: BooliSandbox, raw: httpx.AsyncClient) -> None:
    """The same nonce twice: the replay gets 403."""
    auth = signer(clocked, unique="r" * 16)
    first = await raw.get("/listings", params=ALL_SWEDEN, headers=ACCEPT, auth=auth)
    again = await raw.get("/listings", params=ALL_SWEDEN, headers=ACCEPT, auth=auth)
    assert (first.status_code, again.status_code) == (200, 403)
    assert again.text.startswith("FAILURE_UNIQUE_REUSED")


async def test_missing_signature_is_refused(raw: httpx.AsyncClient) -> None:
    """Without callerId/time/unique/hash Booli says FAILURE_MISSING_PARAM."""
    response = await raw.get("/listings", params=ALL_SWEDEN, headers=ACCEPT)
    assert response.status_code == 403
    assert response.text.startswith("FAILURE_MISSING_PARAM")


@pytest.mark.parametrize("accept", ["*/*", "text/html"])
async def test_accept_header_is_required(
    clocked: BooliSandbox, raw: httpx.AsyncClient, accept: str
) -> None:
    """Without the JSON (v2) media type in Accept the answer is 406."""
    response = await raw.get(
        "/listings", params=ALL_SWEDEN, headers={"Accept": accept}, auth=signer(clocked)
    )
    assert response.status_code == 406


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_only_get_is_allowed(
    clocked: BooliSandbox, raw: httpx.AsyncClient, method: str
) -> None:
    """Any other method is a 405 in plain text."""
    response = await raw.request(method, "/listings", headers=ACCEPT, auth=signer(clocked))
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


@pytest.mark.parametrize(("limit", "status"), [("500", 200), ("501", 400), ("0", 400)])
async def test_limit_is_at_most_500(
    clocked: BooliSandbox, raw: httpx.AsyncClient, limit: str, status: int
) -> None:
    """A limit above 500 is refused with 400."""
    params = {**ALL_SWEDEN, "limit": limit}
    response = await raw.get("/listings", params=params, headers=ACCEPT, auth=signer(clocked))
    assert response.status_code == status


async def test_a_location_is_required(clocked: BooliSandbox, raw: httpx.AsyncClient) -> None:
    """A search without a location is a 400 FAILURE_MISSING_PARAM."""
    response = await raw.get("/sold", params={"limit": "5"}, headers=ACCEPT, auth=signer(clocked))
    assert response.status_code == 400
    assert response.text.startswith("FAILURE_MISSING_PARAM")


async def test_injected_faults_are_plain_text(
    clocked: BooliSandbox, raw: httpx.AsyncClient
) -> None:
    """Shared fault injection answers in Booli's plain-text format."""
    clocked.set_faults(FaultConfig(error_rate=1.0, seed=1))
    response = await raw.get("/listings", params=ALL_SWEDEN, headers=ACCEPT, auth=signer(clocked))
    assert response.status_code in {500, 502, 503}
    assert response.text.startswith("FAILURE_")
    assert response.headers["content-type"].startswith("text/plain")


async def test_areas_and_filters(clocked: BooliSandbox, raw: httpx.AsyncClient) -> None:
    """/areas finds municipalities, and areaId selects the objects within one."""
    areas = await raw.get("/areas", params={"q": "nacka"}, headers=ACCEPT, auth=signer(clocked))
    (nacka,) = areas.json()["areas"]
    assert nacka["name"] == "Nacka"
    params = {"areaId": str(nacka["booliId"]), "limit": "500"}
    found = await raw.get("/listings", params=params, headers=ACCEPT, auth=signer(clocked))
    objects = found.json()["listings"]
    assert objects == clocked.matching(params)
    assert all(o["location"]["region"]["municipalityName"] == "Nacka" for o in objects)


def test_accounts_have_their_own_callers() -> None:
    """add_account registers a second caller with its own key."""
    sandbox = BooliSandbox(listings=1, sold=1, callers=("a",))
    b = sandbox.add_account("b")
    assert sandbox.client_settings("http://x", "b")["caller_id"] == b["caller_id"] == "listsync-b"
    assert b["api_key"] != sandbox.client_settings("http://x", "a")["api_key"]


def test_fixed_credentials_file_survives_a_restart(tmp_path: Path) -> None:
    """`with_credentials` writes the fake caller to a 0600 file on first use; a new sandbox
    from the same file accepts exactly those values (the old random ones are gone) and
    `client_settings` prints them; a file of another sandbox is refused in one line."""
    path = tmp_path / "creds" / "booli.json"
    first = BooliSandbox.with_credentials(path, accounts=("default", "agency-b"), listings=5)
    assert BooliSandbox.supports_credentials_file()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    saved = json.loads(path.read_text())
    assert saved["sandbox"] == "booli"
    assert saved["accounts"]["agency-b"] == {
        "caller_id": first.client_settings("http://x", "agency-b")["caller_id"],
        "api_key": first.client_settings("http://x", "agency-b")["api_key"],
    }

    fresh = BooliSandbox(listings=5)
    random_key = fresh.client_settings("http://x")["api_key"]
    second = BooliSandbox.with_credentials(path, accounts=("default",), listings=5)
    for account in ("default", "agency-b"):
        settings = second.client_settings("http://x", account)
        assert {k: settings[k] for k in ("caller_id", "api_key")} == saved["accounts"][account]
    assert second.client_settings("http://x")["api_key"] != random_key
    assert json.loads(path.read_text()) == saved  # nothing new to add: unchanged


async def test_loaded_credentials_sign_and_old_ones_do_not(tmp_path: Path) -> None:
    """A search signed with the file's key is answered; one signed with the sandbox's earlier
    random key is refused with 403."""
    sandbox = BooliSandbox(clock=lambda: NOW, listings=5, sold=1)
    old = sandbox.client_settings("http://x")
    sandbox.load_credentials("default", {"caller_id": "listsync-default", "api_key": "k" * 40})
    new = sandbox.client_settings("http://x")
    async with httpx.AsyncClient(transport=sandbox.transport(), base_url="http://x") as client:
        for values, status in ((new, 200), (old, 403)):
            auth = BooliSigningAuth(
                SecretStr(values["caller_id"]), SecretStr(values["api_key"]), clock=lambda: NOW
            )
            answer = await client.get("/listings", params=ALL_SWEDEN, headers=ACCEPT, auth=auth)
            assert answer.status_code == status


@pytest.mark.parametrize(
    "values",
    [{"caller_id": "x"}, {"caller_id": "", "api_key": "k"}, {"api_key": "k"}],
)
def test_malformed_credentials_are_refused(values: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="must be a non-empty string"):
        BooliSandbox(listings=1, sold=1).load_credentials("default", values)


def test_a_caller_id_of_another_account_is_refused(tmp_path: Path) -> None:
    sandbox = BooliSandbox(listings=1, sold=1, callers=("default", "b"))
    taken = sandbox.client_settings("http://x", "b")["caller_id"]
    with pytest.raises(ValueError, match="another account"):
        sandbox.load_credentials("default", {"caller_id": taken, "api_key": "k"})
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"sandbox": "hemnet", "accounts": {}}))
    with pytest.raises(ConfigurationError, match="another sandbox"):
        BooliSandbox.with_credentials(path, listings=1, sold=1)
