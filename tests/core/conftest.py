"""Fixtures for the core foundation tests: a tiny sandbox, clients for it, retry observation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import httpx
import pytest
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from typing_extensions import override

from listsync.errors import PortalError
from listsync.http import PortalHttp, error_from_status
from listsync.http import Response as PortalAnswer
from listsync.retry import RetryEvent, observe
from listsync.sandbox import FaultConfig, Sandbox


class ItemsSandbox(Sandbox):
    """A minimal portal: items created by POST, read by GET, replaced by PUT.

    Requests authenticate with `Authorization: Bearer <key>`; the key is the principal.
    It also tracks how many requests are inside a handler at once.
    """

    name: ClassVar[str] = "items"

    def __init__(self, *, faults: FaultConfig | None = None, **options: Any) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.handler_delay = float(options.pop("handler_delay", 0.0))
        super().__init__(faults=faults, **options)

    @override
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/items", self._create, methods=["POST"]),
            Route("/items/{item_id}", self._get, methods=["GET"]),
            Route("/items/{item_id}", self._put, methods=["PUT"]),
        ]

    @override
    def principal(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        return header.removeprefix("Bearer ") or None

    @override
    def client_settings(self, base_url: str, account: str = "default") -> dict[str, Any]:
        return {"base_url": base_url, "token": f"key-{account}"}

    @override
    def fault_response(self, status: int, headers: Any) -> Response:
        return JSONResponse(
            {"errors": [{"type": "injected", "message": f"fault {status}"}]},
            status,
            {**dict(headers), "X-Request-Id": "req-fault"},
        )

    async def _enter(self) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.handler_delay:
            await asyncio.sleep(self.handler_delay)
        self.in_flight -= 1

    async def _create(self, request: Request) -> Response:
        await self._enter()
        body = await request.json()
        item_id = str(len(self.items) + 1)
        self.items[item_id] = body
        return JSONResponse({"id": item_id, **body}, 201)

    async def _get(self, request: Request) -> Response:
        await self._enter()
        item = self.items.get(request.path_params["item_id"])
        if item is None:
            return JSONResponse({"errors": [{"type": "not_found"}]}, 404)
        return JSONResponse(item)

    async def _put(self, request: Request) -> Response:
        await self._enter()
        self.items[request.path_params["item_id"]] = await request.json()
        return JSONResponse({}, 200)


def map_items_error(response: PortalAnswer) -> PortalError:
    """The test portal's error mapper: status-code based, with its request id."""
    return error_from_status(
        response,
        portal="items",
        message=f"HTTP {response.status}",
        request_id=response.headers.get("x-request-id"),
    )


def make_http(
    sandbox: ItemsSandbox | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    base_url: str = "http://items.test",
    **kwargs: Any,
) -> PortalHttp:
    """A PortalHttp for the items portal, in process unless a transport or URL says otherwise."""
    if transport is None and sandbox is not None:
        transport = sandbox.transport()
    kwargs.setdefault("retry_backoff", 0.0)  # no sleeping between attempts in tests
    return PortalHttp(
        portal="items",
        account="default",
        base_url=base_url,
        error_mapper=map_items_error,
        transport=transport,
        headers={"Authorization": "Bearer key-default"},
        **kwargs,
    )


@pytest.fixture
def sandbox() -> ItemsSandbox:
    """A fresh items sandbox without faults."""
    return ItemsSandbox()


@pytest.fixture
def retries() -> Iterator[list[RetryEvent]]:
    """Every retry the HTTP layer schedules, with the wait the policy chose."""
    with observe() as seen:
        yield seen


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Undo `configure_logging`: root handlers, levels and structlog's configuration."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    names = ("httpx", "httpcore", "hpack", "stevedore", "uvicorn.access")
    saved_levels = {name: logging.getLogger(name).level for name in names}
    try:
        yield
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()


@pytest.fixture
async def served(sandbox: ItemsSandbox) -> AsyncIterator[str]:
    """The sandbox served over loopback; yields its base URL."""
    with sandbox.serve() as base_url:
        yield base_url
