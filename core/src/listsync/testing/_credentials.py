"""Credential checks: refused, unauthorized (401) and expired credentials."""

from __future__ import annotations

from typing import Any

import httpx

from listsync.errors import AuthenticationError
from listsync.sandbox import Sandbox
from listsync.testing._base import ConformanceBase, run
from listsync.testing._driver import ConformanceError
from listsync.testing._fixtures import ManualClock

__all__ = ["CredentialChecks"]


class CredentialChecks(ConformanceBase):
    """An adapter renews what it can and reports the rest as `AuthenticationError`."""

    def test_refused_credentials_raise_authentication_error(self) -> None:
        """Wrong credentials give an AuthenticationError naming the portal, without retries
        and without the credential in the message."""
        sandbox = self.make_sandbox()
        good = self.settings_table(sandbox)
        table = self.spoiled_table(sandbox)
        secrets = [*self.secret_values(good), *self.secret_values(table)]
        if not secrets:
            raise ConformanceError(
                f"{self.portal}: the account model declares no SecretStr credential "
                "(or the sandbox's client_settings() gives none)"
            )

        async def scenario() -> BaseException | None:
            async with self._adapter(sandbox, table=table) as adapter:
                try:
                    await self._exercise(adapter, sandbox)
                except Exception as exc:
                    return exc
            return None

        error = run(scenario())
        if not isinstance(error, AuthenticationError):
            raise ConformanceError(
                f"with refused credentials the adapter must raise AuthenticationError, got "
                f"{type(error).__name__ if error else 'success'}: {error}"
            )
        self._check_clear_error(error, secrets)
        refused = [r for r in sandbox.requests if r.status in (401, 403)]
        if len(refused) > 2:
            raise ConformanceError(
                f"refused credentials were sent {len(refused)} times; an adapter may refresh "
                "once, then it must raise AuthenticationError"
            )

    def test_unauthorized_response_refreshes_or_raises(self) -> None:
        """A 401 (in the portal's own format) leads to a credential refresh that succeeds, or
        to a clear AuthenticationError; never to another kind of error."""
        sandbox = self.make_sandbox()
        table = self.settings_table(sandbox)

        async def scenario() -> tuple[Any, BaseException | None]:
            transport = _Unauthorized(sandbox, sandbox.transport())
            async with self._adapter(sandbox, transport=transport, table=table) as adapter:
                state = await self._prepare(adapter, sandbox)
                transport.armed = 1
                try:
                    await self._idempotent_call(adapter, state)
                except Exception as exc:
                    return transport, exc
            return transport, None

        transport, error = run(scenario())
        if transport.armed:
            raise ConformanceError("the check's request never reached the sandbox")
        if error is None:
            return
        if not isinstance(error, AuthenticationError):
            raise ConformanceError(
                f"a 401 must lead to a credential refresh or AuthenticationError, got "
                f"{type(error).__name__}: {error}"
            )
        self._check_clear_error(error, self.secret_values(table))

    def test_expired_credentials_refresh_or_raise(self) -> None:
        """When the sandbox's clock passes every credential's lifetime, the adapter renews
        its credentials or raises a clear AuthenticationError."""
        clock = ManualClock()
        sandbox = self.make_sandbox(clock=clock)
        table = self.settings_table(sandbox)

        async def scenario() -> BaseException | None:
            async with self._adapter(sandbox, table=table) as adapter:
                state = await self._prepare(adapter, sandbox)
                clock.advance(self.credential_lifetime + 60)
                try:
                    await self._idempotent_call(adapter, state)
                except Exception as exc:
                    return exc
            return None

        error = run(scenario())
        if error is not None:
            if not isinstance(error, AuthenticationError):
                raise ConformanceError(
                    f"expired credentials must be renewed or reported as AuthenticationError, "
                    f"got {type(error).__name__}: {error}"
                )
            self._check_clear_error(error, self.secret_values(table))


class _Unauthorized(httpx.AsyncBaseTransport):
    """Answers the next `armed` requests with the sandbox's own 401, passes the rest through."""

    def __init__(self, sandbox: Sandbox, inner: httpx.AsyncBaseTransport) -> None:
        self.sandbox = sandbox
        self.inner = inner
        self.armed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.armed:
            return await self.inner.handle_async_request(request)
        self.armed -= 1
        app = self.sandbox.fault_response(401, {})
        return await httpx.ASGITransport(app=app).handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
