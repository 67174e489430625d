"""Hemnet API keys: expiry window, rotation, concurrency, the credential store, secrecy."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from listsync.adapter import Operation, OpKind
from listsync.errors import AuthenticationError, RequestNotSentError
from listsync.retry import observe
from listsync.testing import Driver
from listsync_hemnet import HemnetAccount, HemnetAdapter
from listsync_hemnet.sandbox import HemnetSandbox

from .conftest import BASE_URL, DAY, AdapterFactory, FakeClock, make_listing, split_settings


def _key_posts(sandbox: HemnetSandbox) -> list[object]:
    return [r for r in sandbox.requests if r.method == "POST" and r.path == "/keys"]


async def test_key_expiring_during_a_run_is_rotated_without_a_failed_request(
    sandbox: HemnetSandbox,
    clock: FakeClock,
    make_adapter: AdapterFactory,
    stored: list[tuple[str, str, dict[str, str]]],
) -> None:
    """Inside the window the adapter creates a new key, hands it to the credential store,
    uses it for the next request, revokes the old one, and never logs the token."""
    old = sandbox.add_account("default")
    adapter = await make_adapter(rotate_within_hours=24, revoke_old=True)
    driver = Driver(adapter)
    with capture_logs() as logs:
        await driver.sync(make_listing())
        clock.advance(180 * DAY - 12 * 3600)  # the key now expires in about 12 hours
        await driver.sync(make_listing(asking_price={"amount": "4750000", "currency": "SEK"}))
    assert [r.status for r in sandbox.requests if r.status >= 400] == []
    assert len(_key_posts(sandbox)) == 1
    [(portal, account, secrets)] = stored
    assert (portal, account) == ("hemnet", "default")
    new = sandbox.add_account("default")
    assert secrets == {"token": new["token"], "key_id": new["key_id"]}
    assert new["key_id"] != old["key_id"]
    patch = next(r for r in sandbox.requests if r.method == "PATCH")
    assert patch.principal == new["key_id"]
    states = {k["id"]: k["state"] for k in sandbox.key_views()}
    assert states == {old["key_id"]: "revoked", new["key_id"]: "active"}
    assert any(e["event"] == "hemnet_key_rotated" for e in logs)
    text = repr(logs)
    assert old["token"] not in text
    assert new["token"] not in text


async def test_concurrent_requests_rotate_once(
    sandbox: HemnetSandbox,
    clock: FakeClock,
    make_adapter: AdapterFactory,
    stored: list[tuple[str, str, dict[str, str]]],
) -> None:
    """Twenty requests that all find the key due share one rotation and all succeed."""
    adapter = await make_adapter(rotate_within_hours=24)
    driver = Driver(adapter)
    await driver.sync(make_listing())
    clock.advance(180 * DAY - 3600)
    records = await asyncio.gather(
        *(adapter.fetch("obj-1001", driver.remote_id) for _ in range(20))
    )
    assert all(r is not None and r.remote_id == driver.remote_id for r in records)
    assert len(_key_posts(sandbox)) == 1
    assert len(stored) == 1
    assert [r.status for r in sandbox.requests if r.status >= 400] == []


async def test_a_request_sent_with_a_replaced_key_is_retried_with_the_new_one(
    sandbox: HemnetSandbox, clock: FakeClock, make_adapter: AdapterFactory
) -> None:
    """A 401 for a token that was already replaced is retried once with the current token,
    without another rotation."""
    adapter = await make_adapter(rotate_within_hours=24)
    old = adapter.keys.token
    await adapter.check()
    clock.advance(180 * DAY - 3600)
    new = await adapter.keys.fresh_token()
    assert new.get_secret_value() != old.get_secret_value()
    retry = await adapter.keys.after_unauthorized(old)
    assert retry is not None
    assert retry.get_secret_value() == new.get_secret_value()
    assert len(_key_posts(sandbox)) == 1


async def test_an_expired_key_that_cannot_be_replaced_is_an_authentication_error(
    sandbox: HemnetSandbox, make_adapter: AdapterFactory
) -> None:
    """A 401 for the current key has it checked again (`GET /keys/{id}`); refused there too,
    the caller gets AuthenticationError naming the account, without the token, and no new
    key is asked for with the refused one."""
    creds = sandbox.add_account("agency-b")
    adapter = await make_adapter("agency-b")
    await adapter.check()
    sandbox.expire_key("agency-b")
    with pytest.raises(AuthenticationError) as info:
        await adapter.check()
    assert "agency-b" in str(info.value)
    assert creds["token"] not in str(info.value)
    checks = [r for r in sandbox.requests if r.path.startswith("/keys/")]
    assert [r.status for r in checks[-1:]] == [401]
    with pytest.raises(AuthenticationError):
        await adapter.check()
    assert _key_posts(sandbox) == []


async def test_check_refuses_a_revoked_key(
    sandbox: HemnetSandbox, make_adapter: AdapterFactory
) -> None:
    """`check()` calls GET /keys and maps Hemnet's 401 to AuthenticationError."""
    adapter = await make_adapter()
    await adapter.check()
    assert sandbox.requests[-1].path == "/keys"
    sandbox.revoke_key()
    with pytest.raises(AuthenticationError):
        await adapter.check()


async def test_key_id_is_found_through_the_key_list(
    sandbox: HemnetSandbox, make_adapter: AdapterFactory
) -> None:
    """Without a configured key id the manager picks its own key from GET /keys."""
    adapter = await make_adapter(key_id=None)
    await adapter.check()
    assert adapter.keys.key_id == sandbox.add_account("default")["key_id"]


async def test_default_store_writes_a_private_file_that_the_next_start_uses(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Without a callback the new key goes to a 0600 JSON file, and a new adapter for the same
    account starts from that file instead of the configured (now revoked) token."""
    sandbox = HemnetSandbox(clock=clock)
    path = tmp_path / "creds" / "hemnet-default.json"
    settings, account = split_settings(sandbox.client_settings(BASE_URL))
    account = account.model_copy(
        update={"credential_file": path, "rotate_within_hours": 24.0, "revoke_old": True}
    )
    first = HemnetAdapter(settings, account, transport=sandbox.transport(), clock=clock)
    await first.check()
    clock.advance(180 * DAY - 3600)
    await first.check()
    await first.aclose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert saved["token"] == sandbox.add_account("default")["token"]
    second = HemnetAdapter(settings, account, transport=sandbox.transport(), clock=clock)
    try:
        await second.check()
    finally:
        await second.aclose()
    assert sandbox.requests[-1].principal == saved["key_id"]


async def test_a_stale_credential_file_never_overrides_a_newly_configured_token(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A key file left by a rotation of ANOTHER configured token (e.g. an old one the operator
    replaced) is ignored: the adapter starts from the configured token, not the stale file."""
    sandbox = HemnetSandbox(clock=clock)
    path = tmp_path / "hemnet-default.json"
    path.write_text(json.dumps({"token": "stale.revoked-token", "key_id": "k-stale"}))
    settings, account = split_settings(sandbox.client_settings(BASE_URL))
    account = account.model_copy(update={"credential_file": path})
    adapter = HemnetAdapter(settings, account, transport=sandbox.transport(), clock=clock)
    try:
        await adapter.check()
    finally:
        await adapter.aclose()
    assert sandbox.requests[-1].principal == sandbox.add_account("default")["key_id"]


def test_account_settings_keep_the_token_secret() -> None:
    """The token is a SecretStr: it never shows in the settings' repr."""
    account = HemnetAccount(token=SecretStr("abc.def-secret"))
    assert "def-secret" not in repr(account)


async def test_a_key_file_from_another_portal_environment_is_ignored(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A rotated key recorded for the same configured token but another base URL (e.g. a
    previous sandbox or the test environment) does not override the configured token."""
    from listsync_hemnet.auth import token_origin

    sandbox = HemnetSandbox(clock=clock)
    path = tmp_path / "hemnet-default.json"
    settings, account = split_settings(sandbox.client_settings(BASE_URL))
    elsewhere = token_origin(account.token, "http://127.0.0.1:1/other")
    path.write_text(json.dumps({"token": "old.rotated", "key_id": "k-old", "origin": elsewhere}))
    account = account.model_copy(update={"credential_file": path})
    adapter = HemnetAdapter(settings, account, transport=sandbox.transport(), clock=clock)
    try:
        await adapter.check()
    finally:
        await adapter.aclose()
    assert sandbox.requests[-1].principal == sandbox.add_account("default")["key_id"]


def _key_checks(sandbox: HemnetSandbox, key_id: str) -> int:
    return sum(1 for r in sandbox.requests if r.method == "GET" and r.path == f"/keys/{key_id}")


async def test_a_key_far_from_expiry_is_checked_once_not_before_every_request(
    sandbox: HemnetSandbox, clock: FakeClock, make_adapter: AdapterFactory
) -> None:
    """A whole listing's life sends one `GET /keys/{id}`; when the expiry comes within the
    rotation window the key is checked again and rotated, then the new key is not checked."""
    key_id = sandbox.add_account("default")["key_id"]
    adapter = await make_adapter(rotate_within_hours=24)
    driver = Driver(adapter)
    await driver.sync(make_listing())
    await driver.sync(make_listing(asking_price={"amount": "4750000", "currency": "SEK"}))
    assert len(sandbox.requests) > 8
    assert _key_checks(sandbox, key_id) == 1
    clock.advance(180 * DAY - 12 * 3600)  # now inside the window
    await adapter.check()
    assert _key_checks(sandbox, key_id) == 2
    assert len(_key_posts(sandbox)) == 1
    new_id = sandbox.add_account("default")["key_id"]
    await driver.sync(make_listing())
    assert _key_checks(sandbox, key_id) == 2
    assert _key_checks(sandbox, new_id) == 0  # its expiry came with it


class _KeysDown(httpx.AsyncBaseTransport):
    """The sandbox, except that `GET /keys/{id}` answers 503 (the first `failures` times)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, failures: int = 1_000) -> None:
        self._inner = inner
        self.failures = failures
        self.checks = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.startswith("/keys/"):
            self.checks += 1
            if self.checks <= self.failures:
                body = {"errors": [{"type": "GenericError", "message": "down"}]}
                return httpx.Response(503, json=body, request=request)
        return await self._inner.handle_async_request(request)


def _adapter_over(
    transport: httpx.AsyncBaseTransport, sandbox: HemnetSandbox, clock: FakeClock
) -> HemnetAdapter:
    settings, account = split_settings(sandbox.client_settings(BASE_URL))
    settings = settings.model_copy(update={"max_attempts": 3})
    return HemnetAdapter(
        settings, account, transport=transport, credential_store=_store_nothing, clock=clock
    )


async def _store_nothing(portal: str, account: str, secrets: object) -> None:
    return None


async def test_a_failing_key_check_is_one_attempt_of_the_request_it_guards(
    sandbox: HemnetSandbox, clock: FakeClock
) -> None:
    """With the key check down, a request makes `max_attempts` attempts, each with one key
    check (3, not 3 x 3), the request itself is never sent, and the retries counted are the
    request's own."""
    transport = _KeysDown(sandbox.transport())
    adapter = _adapter_over(transport, sandbox, clock)
    try:
        with observe() as retries, pytest.raises(RequestNotSentError) as info:
            await adapter.check()
    finally:
        await adapter.aclose()
    assert transport.checks == 3
    assert [r.what for r in retries] == ["GET /keys", "GET /keys"]
    assert not any(r.path == "/keys" for r in sandbox.requests)
    assert "503" in str(info.value) or info.value.status_code == 503


async def test_a_create_whose_key_check_failed_is_sent_once_the_check_passes(
    sandbox: HemnetSandbox, clock: FakeClock
) -> None:
    """A key check that fails before a POST means the POST was not sent: the HTTP layer may
    send it again (not an unknown outcome), and exactly one listing is created."""
    transport = _KeysDown(sandbox.transport(), failures=1)
    adapter = _adapter_over(transport, sandbox, clock)
    try:
        driver = Driver(adapter, recover=False)
        listing = make_listing(status="draft", media=[], showings=[])
        desired = driver.desired(listing)
        create = Operation(kind=OpKind.CREATE, payload=dict(desired.fields), refs=desired.refs)
        with observe() as retries:
            result = await driver.apply(create, desired, listing)
    finally:
        await adapter.aclose()
    assert result.remote_id
    assert transport.checks == 2
    assert [r.error for r in retries] == ["RequestNotSentError"]
    assert len(sandbox.listings()) == 1


def test_a_failed_key_check_names_the_portal_once() -> None:
    """The not-sent error of a failed key check wraps the cause's own words, not its whole
    message: "hemnet account 'a': cannot connect ...", never "hemnet: hemnet: ..."."""
    from listsync.errors import TransientError
    from listsync_hemnet.auth import _not_sent

    cause = TransientError("cannot connect for GET /keys/k1", portal="hemnet", account="a")
    text = str(_not_sent(cause))
    assert text.count("hemnet") == 1, text
    assert "cannot connect for GET /keys/k1" in text
