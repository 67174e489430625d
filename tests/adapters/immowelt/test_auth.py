"""OAuth2 client credentials: one token, reused, refreshed once, narrow scopes, no leaks."""

from __future__ import annotations

import asyncio
import importlib.util
import stat
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from listsync.errors import AuthenticationError, PermissionDeniedError
from listsync.testing import ManualClock
from listsync_immowelt import ImmoweltAdapter
from listsync_immowelt.auth import token_client_class
from listsync_immowelt.sandbox import SANDBOX_AUDIENCE, ImmoweltSandbox

from .conftest import AdapterFactory, Syncer, make_listing, with_media

ALL_NARROW = (
    "clim:listings:create clim:listings:read clim:listings:update "
    "clim:listings:delete clim:medias:create"
)


def test_authlib_client_is_built_on_httpx_not_httpx2() -> None:
    """authlib's AsyncOAuth2Client subclasses httpx.AsyncClient (httpx2 must not be installed)."""
    assert issubclass(token_client_class(), httpx.AsyncClient)
    assert importlib.util.find_spec("httpx2") is None


async def test_one_token_serves_a_whole_lifecycle(
    adapter: ImmoweltAdapter, sandbox: ImmoweltSandbox
) -> None:
    """The token is fetched once, as a JSON body with audience and the narrow scopes, and
    every later request reuses it."""
    syncer = Syncer(adapter)
    await syncer.sync(with_media(make_listing(), "a.jpg"))
    await syncer.sync(make_listing(living_area="90"))
    assert sandbox.token_requests == 1
    token_calls = [r for r in sandbox.requests if r.path == "/oauth/token"]
    assert len(token_calls) == 1
    body = token_calls[0].body
    assert token_calls[0].headers["content-type"].startswith("application/json")
    assert body["grant_type"] == "client_credentials"
    assert body["audience"] == SANDBOX_AUDIENCE
    assert body["scope"] == ALL_NARROW
    assert "*" not in body["scope"]


async def test_operations_setting_narrows_scopes_and_missing_scope_is_named(
    make_adapter: AdapterFactory, sandbox: ImmoweltSandbox
) -> None:
    """A read-only installation requests only the read scope; a create then fails with a
    PermissionDeniedError naming the missing scope."""
    reader = make_adapter(operations=["read"])
    assert await reader.fetch("DE-1001", None) is None
    token_call = next(r for r in sandbox.requests if r.path == "/oauth/token")
    assert token_call.body["scope"] == "clim:listings:read"
    with pytest.raises(PermissionDeniedError) as denied:
        await Syncer(reader).sync(make_listing())
    assert denied.value.scope == "clim:listings:create"
    assert "clim:listings:create" in str(denied.value)


async def test_wildcard_scopes_only_when_configured(
    make_adapter: AdapterFactory, sandbox: ImmoweltSandbox
) -> None:
    """Explicitly configured `:*` scopes are requested as given and authorise every call."""
    adapter = make_adapter(scopes=["clim:listings:*", "clim:medias:*"])
    await Syncer(adapter).sync(with_media(make_listing(), "a.jpg"))
    token_call = next(r for r in sandbox.requests if r.path == "/oauth/token")
    assert token_call.body["scope"] == "clim:listings:* clim:medias:*"
    assert "DE-1001" in sandbox.listings()


async def test_token_expiring_mid_run_is_renewed_once_before_any_request_fails(
    make_adapter: AdapterFactory, sandbox: ImmoweltSandbox, clock: ManualClock
) -> None:
    """When the clock reaches the token's leeway, concurrent requests trigger exactly one token
    request (authlib's lock) and none of them is refused."""
    adapter = make_adapter(token_leeway=300)
    await Syncer(adapter).sync(make_listing())
    clock.advance(86400 - 200)  # inside the leeway, not yet expired on the portal
    found = await asyncio.gather(*(adapter.fetch("DE-1001", None) for _ in range(6)))
    assert all(record is not None for record in found)
    assert sandbox.token_requests == 2
    assert [r for r in sandbox.requests if r.status == 401] == []


async def test_revoked_token_gets_one_refresh_and_the_request_succeeds(
    adapter: ImmoweltAdapter, sandbox: ImmoweltSandbox
) -> None:
    """A token the portal stops accepting (401) is renewed once for many concurrent requests,
    which are retried and succeed."""
    await Syncer(adapter).sync(make_listing())
    sandbox.expire_tokens()
    found = await asyncio.gather(*(adapter.fetch("DE-1001", None) for _ in range(5)))
    assert all(record is not None for record in found)
    assert sandbox.token_requests == 2


async def test_token_is_persisted_and_reused_by_the_next_run(
    make_adapter: AdapterFactory, sandbox: ImmoweltSandbox, tmp_path: Path
) -> None:
    """With `token_cache_path` the token survives the adapter (file mode 0600) and the next
    adapter uses it without a token request."""
    cache = tmp_path / "immowelt-token.json"
    first = make_adapter(token_cache_path=str(cache))
    await first.check()
    assert cache.is_file()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    second = make_adapter(token_cache_path=str(cache))
    assert await second.fetch("DE-1001", None) is None
    assert sandbox.token_requests == 1


async def test_expired_cached_token_is_renewed_once_for_concurrent_requests(
    make_adapter: AdapterFactory, sandbox: ImmoweltSandbox, clock: ManualClock, tmp_path: Path
) -> None:
    """A cached token that expired between runs is replaced by one token request, however many
    requests find it expired together."""
    cache = tmp_path / "token.json"
    await make_adapter(token_cache_path=str(cache)).check()
    clock.advance(2 * 86400)
    later = make_adapter(token_cache_path=str(cache))
    found = await asyncio.gather(*(later.fetch(f"X-{i}", None) for i in range(5)))
    assert found == [None] * 5
    assert sandbox.token_requests == 2
    assert [r for r in sandbox.requests if r.status == 401] == []


async def test_wrong_secret_is_an_authentication_error_without_the_secret(
    make_adapter: AdapterFactory,
) -> None:
    """A refused client secret raises AuthenticationError whose message hides the secret."""
    adapter = make_adapter(client_secret="not-the-right-secret-123")
    with pytest.raises(AuthenticationError) as refused:
        await adapter.check()
    assert "invalid_client" in str(refused.value)
    assert "not-the-right-secret-123" not in str(refused.value)


async def test_no_token_or_secret_in_logs_or_errors(
    make_adapter: AdapterFactory, sandbox: ImmoweltSandbox
) -> None:
    """Across a lifecycle, a refresh and a refused request, no log line or error message
    contains the access token or the client secret; every request carries a User-Agent."""
    adapter = make_adapter()
    messages: list[str] = []
    with capture_logs() as logs:
        syncer = Syncer(adapter)
        await syncer.sync(with_media(make_listing(), "a.jpg"))
        sandbox.expire_tokens()
        await syncer.sync(make_listing(living_area="91"))
        try:
            await syncer.sync(make_listing(living_area="91", agent={"phone": "(030) 1"}))
        except Exception as exc:
            messages.append(str(exc))
    tokens = {
        r.headers["authorization"].split(" ", 1)[1]
        for r in sandbox.requests
        if r.headers.get("authorization", "").startswith("Bearer ")
    }
    secrets = {*tokens, ImmoweltSandbox.DEFAULT_SECRET}
    assert len(tokens) == 2
    assert messages
    text = repr(logs) + "".join(messages)
    assert not [s for s in secrets if s in text]
    assert all(r.headers.get("user-agent", "").startswith("listsync/") for r in sandbox.requests)


@pytest.mark.parametrize("fault", ["error", "rate_limit"])
async def test_token_endpoint_failure_is_retried_not_taken_for_a_token(
    make_adapter: AdapterFactory, sandbox: ImmoweltSandbox, fault: str
) -> None:
    """A 503 or 429 from the token endpoint is not a token: authlib would store its body as
    one (no access_token -> KeyError). It is a retryable, nothing-sent error and the next
    attempt fetches a real token."""
    from listsync.sandbox import FaultConfig

    rates = {"error_rate": 1.0} if fault == "error" else {"rate_limit_rate": 1.0}
    sandbox.set_faults(
        FaultConfig(**rates, error_statuses=(503,), retry_after=0, methods=("POST",), max_faults=1)
    )
    adapter = make_adapter()
    assert await adapter.fetch("DE-1001", None) is None
    token_calls = [r for r in sandbox.requests if r.path == "/oauth/token"]
    assert [c.fault for c in token_calls] == [fault, None]
