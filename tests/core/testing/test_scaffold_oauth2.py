"""The scaffold's OAuth2 auth (authlib): the token endpoint's URL, scopes and audience come from
the settings; a 5xx or 429 from it is retried by the one retry policy as part of the request it
guards; a refusal is an AuthenticationError naming the portal. Run in a subprocess pytest on the
generated (not installed) package, as its author would."""

from __future__ import annotations

import pytest

from listsync.scaffold import AuthKind, generate

from .conftest import run_pytest

TESTS = """
import asyncio

import httpx
import pytest

from listsync.errors import AuthenticationError, RateLimitedError, TransientError
from listsync.retry import observe
from listsync_gate import GateAccount, GateAdapter, GateSettings
from listsync_gate.sandbox import GateSandbox

BASE = "http://gate.sandbox.invalid"


class TokenEndpoint(httpx.AsyncBaseTransport):
    # Answers the next token requests with `answers`, records where token requests went.
    def __init__(self, inner, answers=()):
        self.inner = inner
        self.answers = list(answers)
        self.token_hosts = []

    async def handle_async_request(self, request):
        if request.url.path.endswith("/token"):
            self.token_hosts.append(request.url.host)
            if self.answers:
                status, headers = self.answers.pop(0)
                return httpx.Response(status, headers=headers, text="busy")
        return await self.inner.handle_async_request(request)

    async def aclose(self):
        await self.inner.aclose()


def adapter(sandbox, transport, **settings):
    table = sandbox.client_settings(BASE)
    account = GateAccount(client_id=table["client_id"], client_secret=table["client_secret"])
    options = {"max_attempts": 3, "max_retry_wait": 1.0, **settings}
    return GateAdapter(GateSettings(base_url=BASE, **options), account, transport=transport)


def check(sandbox, transport, **settings):
    async def go():
        made = adapter(sandbox, transport, **settings)
        try:
            with observe() as retries:
                await made.check()
            return retries
        finally:
            await made.aclose()

    return asyncio.run(go())


UNAVAILABLE = [
    ((503, {}), "RequestNotSentError"),
    ((429, {"Retry-After": "0"}), "RateLimitedError"),
]


@pytest.mark.parametrize(("answer", "error"), UNAVAILABLE)
def test_an_unavailable_token_endpoint_is_retried(answer, error):
    sandbox = GateSandbox()
    transport = TokenEndpoint(sandbox.transport(), [answer])
    retries = check(sandbox, transport)
    assert [(r.error, r.attempts) for r in retries] == [(error, 1)]
    assert len(transport.token_hosts) == 2


def test_a_token_endpoint_that_stays_down_fails_after_max_attempts():
    sandbox = GateSandbox()
    transport = TokenEndpoint(sandbox.transport(), [(503, {})] * 10)
    with pytest.raises(TransientError, match="gate"):
        check(sandbox, transport)
    assert len(transport.token_hosts) == 3


def test_a_long_retry_after_is_not_waited_for():
    sandbox = GateSandbox()
    transport = TokenEndpoint(sandbox.transport(), [(429, {"Retry-After": "3600"})] * 10)
    with pytest.raises(RateLimitedError) as caught:
        check(sandbox, transport)
    assert caught.value.retry_after == 3600
    assert len(transport.token_hosts) == 1


def test_token_url_scopes_and_audience_come_from_the_settings():
    sandbox = GateSandbox()
    transport = TokenEndpoint(sandbox.transport())
    check(
        sandbox,
        transport,
        token_url="http://login.gate.invalid/oauth/token",
        scopes=("listings:write", "media:write"),
        audience="https://api.gate.example",
    )
    assert transport.token_hosts == ["login.gate.invalid"]
    [sent] = sandbox.auth.token_requests
    assert sent["scope"] == "listings:write media:write"
    assert sent["audience"] == "https://api.gate.example"
    assert sent["grant_type"] == "client_credentials"


def test_refused_client_credentials_are_an_authentication_error():
    sandbox = GateSandbox()
    table = sandbox.client_settings(BASE)

    async def go():
        account = GateAccount(client_id=table["client_id"], client_secret="wrong-secret-value")
        made = GateAdapter(GateSettings(base_url=BASE), account, transport=sandbox.transport())
        try:
            await made.check()
        finally:
            await made.aclose()

    with pytest.raises(AuthenticationError, match="gate: token request refused") as caught:
        asyncio.run(go())
    assert table["client_secret"] not in str(caught.value)
"""


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> str:
    dist = generate("gate", auth=AuthKind.OAUTH2, output=tmp_path_factory.mktemp("oauth2"))
    (dist / "tests/test_token.py").write_text(TESTS, encoding="utf-8")
    result = run_pytest(
        ["tests/test_token.py"], cwd=dist, env={"PYTHONPATH": f"{dist / 'src'}:{dist / 'tests'}"}
    )
    return result.stdout + result.stderr


def test_generated_oauth2_auth_behaves(outcome: str) -> None:
    """Every check on the generated OAuth2 auth passes."""
    assert "6 passed" in outcome, outcome[-4000:]
