"""OAuth2 client credentials: one token, reused, refreshed once, narrow scopes, no leaks."""

from __future__ import annotations

import asyncio
import importlib.util
import stat
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from listsync.adapter import OpKind, new_operation
from listsync.errors import (
    AuthenticationError,
    PermissionDeniedError,
    PortalBugError,
    PortalValidationError,
    RateLimitedError,
    RequestNotSentError,
)
from listsync.retry import observe
from listsync.sandbox import FaultConfig
from listsync.testing import Driver, ManualClock
from listsync_immowelt import ImmoweltAdapter
from listsync_immowelt.auth import token_cache_file, token_client_class
from listsync_immowelt.sandbox import SANDBOX_AUDIENCE, ImmoweltSandbox

from .conftest import AdapterFactory, make_listing, unchecked_projection, with_media

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
    driver = Driver(adapter)
    await driver.sync(with_media(make_listing(), "a.jpg"))
    await driver.sync(make_listing(living_area="90"))
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
        await Driver(reader).sync(make_listing())
    assert denied.value.scope == "clim:listings:create"
    assert "clim:listings:create" in str(denied.value)


async def test_wildcard_scopes_only_when_configured(
    make_adapter: AdapterFactory, sandbox: ImmoweltSandbox
) -> None:
    """Explicitly configured `:*` scopes are requested as given and authorise every call."""
    adapter = make_adapter(scopes=["clim:listings:*", "clim:medias:*"])
    await Driver(adapter).sync(with_media(make_listing(), "a.jpg"))
    token_call = next(r for r in sandbox.requests if r.path == "/oauth/token")
    assert token_call.body["scope"] == "clim:listings:* clim:medias:*"
    assert "DE-1001" in sandbox.listings()


async def test_token_expiring_mid_run_is_renewed_once_before_any_request_fails(
    make_adapter: AdapterFactory, sandbox: ImmoweltSandbox, clock: ManualClock
) -> None:
    """When the clock reaches the token's leeway, concurrent requests trigger exactly one token
    request (authlib's lock) and none of them is refused."""
    adapter = make_adapter(token_leeway=300)
    await Driver(adapter).sync(make_listing())
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
    await Driver(adapter).sync(make_listing())
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
        driver = Driver(adapter)
        await driver.sync(with_media(make_listing(), "a.jpg"))
        sandbox.expire_tokens()
        await driver.sync(make_listing(living_area="91"))
        refused = make_listing(living_area="91", agent={"phone": "(030) 1"})
        desired = unchecked_projection(adapter, refused)
        try:  # sent past `prepare`, which would block it: the sandbox refuses it
            await driver.apply(
                new_operation(OpKind.UPDATE, changes=desired.fields), desired, refused
            )
        except PortalValidationError as exc:
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


def _token_faults(fault: str, max_faults: int | None) -> FaultConfig:
    """Faults on the token endpoint only (the one POST of a read)."""
    if fault == "error":
        return FaultConfig(
            error_rate=1.0, error_statuses=(503,), methods=("POST",), max_faults=max_faults
        )
    return FaultConfig(rate_limit_rate=1.0, retry_after=0, methods=("POST",), max_faults=max_faults)


@pytest.mark.parametrize("fault", ["error", "rate_limit"])
async def test_token_endpoint_failure_is_retried_not_taken_for_a_token(
    make_adapter: AdapterFactory, sandbox: ImmoweltSandbox, fault: str
) -> None:
    """A 503 or 429 from the token endpoint is not a token: authlib would store its body as
    one (no access_token -> KeyError). It is a retryable, nothing-sent error and the next
    attempt fetches a real token."""
    sandbox.set_faults(_token_faults(fault, max_faults=1))
    adapter = make_adapter()
    assert await adapter.fetch("DE-1001", None) is None
    token_calls = [r for r in sandbox.requests if r.path == "/oauth/token"]
    assert [c.fault for c in token_calls] == [fault, None]


@pytest.mark.parametrize("fault", ["error", "rate_limit"])
async def test_a_failing_token_endpoint_is_tried_once_per_attempt_of_the_request(
    make_adapter: AdapterFactory, sandbox: ImmoweltSandbox, fault: str
) -> None:
    """A token endpoint that keeps failing costs one token request per attempt of the request
    it guards (3 attempts: 3 token requests, 2 retries), never a loop inside a loop; the
    error is a retryable one saying nothing was sent (or the rate limit), and the listings
    API saw no request."""
    sandbox.set_faults(_token_faults(fault, max_faults=None))
    adapter = make_adapter(max_attempts=3)
    expected = RequestNotSentError if fault == "error" else RateLimitedError
    with observe() as retries, pytest.raises(expected) as failed:
        await adapter.fetch("DE-1001", None)
    assert failed.value.portal == "immowelt"
    assert len([r for r in sandbox.requests if r.path == "/oauth/token"]) == 3
    assert [(r.what, r.attempts) for r in retries] == [
        ("GET /listings/DE-1001", 1),
        ("GET /listings/DE-1001", 2),
    ]
    assert [r for r in sandbox.requests if r.path.startswith("/v1/")] == []


class _TokenAnswers(httpx.AsyncBaseTransport):
    """The sandbox, except that the first token requests get `answers` (a response or an
    exception each) instead; counts the token requests."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, answers: list[httpx.Response | Exception]
    ) -> None:
        self.inner = inner
        self.answers = answers
        self.token_calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            self.token_calls += 1
            if self.answers:
                answer = self.answers.pop(0)
                if isinstance(answer, Exception):
                    raise answer
                return answer
        return await self.inner.handle_async_request(request)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(503, text="<html>down</html>"),
        httpx.ConnectError("refused"),
        httpx.ReadError("connection reset"),
    ],
    ids=["503-html", "connect-error", "read-error"],
)
async def test_a_create_whose_token_fetch_failed_is_sent_once(
    make_adapter: AdapterFactory,
    sandbox: ImmoweltSandbox,
    failure: httpx.Response | Exception,
) -> None:
    """A create whose token fetch failed (an error answer, or the connection to the token
    endpoint failing at any point) never reached the listings API, so it is retried like any
    request that was not sent, and the listing is created exactly once."""
    transport = _TokenAnswers(sandbox.transport(), [failure])
    adapter = make_adapter(transport=transport)
    await Driver(adapter).sync(make_listing())
    assert transport.token_calls == 2
    creates = [r for r in sandbox.requests if (r.method, r.path) == ("POST", "/v1/listings")]
    assert [r.status for r in creates] == [202]
    assert list(sandbox.listings()) == ["DE-1001"]


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (httpx.Response(200, text="<html><body>Wartungsarbeiten</body></html>"), "Wartungs"),
        (httpx.Response(200, content=b""), "an empty body"),
        (httpx.Response(200, text='{"access_tok'), '{"access_tok'),
        (httpx.Response(200, json=["a", "b"]), "not a JSON object"),
        (httpx.Response(200, json={"token_type": "Bearer", "tok": "x"}), "['tok', 'token_type']"),
        (httpx.Response(200, json={"access_token": "t", "expires_in": "soon"}), "expires_in"),
        (httpx.Response(401, text="<html>Unauthorized</html>"), "Unauthorized"),
    ],
    ids=["html", "empty", "truncated", "array", "no-access-token", "odd-expiry", "401-html"],
)
async def test_an_answer_that_is_not_a_token_is_a_portal_bug_not_a_crash(
    make_adapter: AdapterFactory, sandbox: ImmoweltSandbox, answer: httpx.Response, said: str
) -> None:
    """HTML, an empty or truncated body, or JSON of the wrong shape from the token endpoint
    is a one-line PortalBugError naming the status and what was wrong (never a
    JSONDecodeError, a KeyError or a "token" without access_token); it is not retried and the
    listings API sees nothing. The adapter fetches a real token on the next call."""
    transport = _TokenAnswers(sandbox.transport(), [answer])
    adapter = make_adapter(transport=transport)
    with pytest.raises(PortalBugError) as bad:
        await adapter.fetch("DE-1001", None)
    message = str(bad.value)
    assert f"token endpoint answered {answer.status_code}" in message
    assert said in message
    assert "\n" not in message
    assert bad.value.status_code == answer.status_code
    assert transport.token_calls == 1
    assert [r for r in sandbox.requests if r.path.startswith("/v1/")] == []
    assert await adapter.fetch("DE-1001", None) is None
    assert transport.token_calls == 2


async def test_token_cache_folder_is_private(make_adapter: AdapterFactory, tmp_path: Path) -> None:
    """A token cache folder the adapter creates is 0700 (the file in it 0600)."""
    cache = tmp_path / "tokens" / "immowelt.json"
    await make_adapter(token_cache_path=str(cache)).check()
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


@pytest.mark.parametrize("account", ["../../escaped", "/etc/passwd", "a/../../b", "..", "ä ö"])
async def test_token_cache_file_from_an_account_name_stays_in_its_folder(
    make_adapter: AdapterFactory, tmp_path: Path, account: str
) -> None:
    """With `token_cache_dir`, the token file is named after the account, sanitised and hashed:
    whatever the name, it is written inside that folder (created 0700, file 0600), and the
    next adapter of that account reads it back."""
    folder = tmp_path / "work" / "tokens"
    before = set(tmp_path.rglob("*"))
    await make_adapter(account=account, token_cache_dir=str(folder)).check()
    written = set(tmp_path.rglob("*")) - before
    files = [p for p in written if p.is_file()]
    assert len(files) == 1
    assert files[0].parent == folder
    assert files[0].name == token_cache_file(folder, account).name
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert not (tmp_path / "escaped").exists()
    assert not (tmp_path.parent / "escaped").exists()


def test_token_cache_names_tell_apart_names_that_sanitise_alike(tmp_path: Path) -> None:
    """`a/b`, `a_b` and `a b` read the same once sanitised, but get different files."""
    names = {token_cache_file(tmp_path, a).name for a in ("a/b", "a_b", "a b", "a.b")}
    assert len(names) == 4
    assert all(n.startswith("immowelt-a_b-") for n in names)


async def test_a_valid_token_is_handed_out_without_the_refresh_machinery(
    adapter: ImmoweltAdapter, sandbox: ImmoweltSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per request, a held token that is still valid is used as it is: no lock, no authlib
    refresh check (they cost more CPU than the rest of the auth flow). An expired one still
    goes through them, once for concurrent requests."""
    tokens = adapter.tokens
    first = await tokens.access_token()
    assert sandbox.token_requests == 1
    checks = 0
    ensure = tokens._client.ensure_active_token

    async def counted(token: object) -> None:
        nonlocal checks
        checks += 1
        await ensure(token)

    monkeypatch.setattr(tokens._client, "ensure_active_token", counted)
    assert [await tokens.access_token() for _ in range(5)] == [first] * 5
    assert checks == 0
    tokens._client.token["expires_at"] = 0
    renewed = await asyncio.gather(*(tokens.access_token() for _ in range(4)))
    assert len(set(renewed)) == 1
    assert renewed[0] != first
    assert sandbox.token_requests == 2
    assert checks >= 1
