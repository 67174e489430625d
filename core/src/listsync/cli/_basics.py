"""Basic commands: `adapters`, `schema`, `validate`, `sandbox serve`, and the global options.

Exit codes: 0 success; 1 invalid listings (`validate`); 2 a usage or configuration error (an
unknown adapter or sandbox, a missing file), printed as one line without a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import types
import typing
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import structlog
import typer
from pydantic import BaseModel, SecretStr, ValidationError
from rich.console import Console
from rich.table import Table

from listsync.cli import app
from listsync.errors import ConfigurationError, InvalidListingError, ListsyncError, Severity
from listsync.io import describe_issues, read_listings
from listsync.log import configure_logging
from listsync.model import Listing, render_listing_json_schema
from listsync.redact import MASK, is_secret_key
from listsync.registry import SANDBOX_GROUP, Registry
from listsync.sandbox import FaultConfig

__all__ = ["app", "sandbox_app"]

log = structlog.stdlib.get_logger(__name__)

sandbox_app = typer.Typer(help="Run a portal's sandbox (a stateful fake of its API).")
app.add_typer(sandbox_app, name="sandbox")


class LogFormatChoice(StrEnum):
    CONSOLE = "console"
    JSON = "json"


@app.callback()
def global_options(
    log_format: Annotated[
        LogFormatChoice, typer.Option("--log-format", help="Log lines as console text or JSON.")
    ] = LogFormatChoice.CONSOLE,
    log_level: Annotated[
        str, typer.Option("--log-level", help="Minimum log level (DEBUG, INFO, WARNING, ...).")
    ] = "WARNING",
) -> None:
    """Syndicate real-estate listings from your CRM to property portals."""
    configure_logging(format=log_format.value, level=log_level.upper())


def _fail(exc: ListsyncError | OSError) -> typer.Exit:
    """Print a one-line error (no traceback) and return the exit to raise."""
    text = str(exc) if isinstance(exc, ListsyncError) else f"{exc.strerror}: {exc.filename}"
    typer.echo(f"error: {text}", err=True)
    return typer.Exit(2)


# -- adapters -------------------------------------------------------------------------------


@app.command("adapters")
def adapters_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    matrix: Annotated[
        bool, typer.Option("--matrix", help="Print the feature matrix (markdown).")
    ] = False,
) -> None:
    """List installed adapters with their capabilities, and plugins that failed to load."""
    registry = Registry()
    if matrix:
        from listsync.testing.matrix import render_matrix  # noqa: PLC0415  (kit loads lazily)

        typer.echo(render_matrix(registry), nl=False)
        return
    infos = registry.adapters()
    if as_json:
        doc = {
            "adapters": [
                {
                    "name": info.name,
                    "capabilities": sorted(c.value for c in info.capabilities),
                    "distribution": info.distribution,
                    "version": info.version,
                    "class": f"{info.cls.__module__}.{info.cls.__qualname__}",
                }
                for info in infos
            ],
            "broken": [
                {"name": b.name, "target": b.target, "error": b.error} for b in registry.broken
            ],
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    console = Console(soft_wrap=True)
    table = Table(title="Installed adapters")
    for column in ("name", "capabilities", "distribution", "version"):
        table.add_column(column)
    for info in infos:
        caps = ", ".join(sorted(c.value for c in info.capabilities)) or "-"
        table.add_row(info.name, caps, info.distribution or "-", info.version or "-")
    console.print(table)
    for broken in registry.broken:
        console.print(f"[red]broken plugin[/red] {broken.name} ({broken.target}): {broken.error}")


# -- schema ---------------------------------------------------------------------------------


@app.command("schema")
def schema_command(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write here (e.g. schemas/listing.schema.json)."),
    ] = None,
) -> None:
    """Print the JSON Schema (draft 2020-12) of a canonical listing, or write it to a file."""
    text = render_listing_json_schema()
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _fail(exc) from None
    typer.echo(f"wrote {output}", err=True)


# -- validate -------------------------------------------------------------------------------


@app.command("validate")
def validate_command(
    file: Annotated[str, typer.Argument(help="A JSON Lines file of listings, or - for stdin.")],
    portal: Annotated[
        list[str] | None,
        typer.Option(
            "--portal",
            "-p",
            help="Also run this adapter's offline preflight on the listings that name it "
            "in `portals` (repeatable).",
        ),
    ] = None,
) -> None:
    """Check every line of FILE; print each problem as `line N: path: message`.

    Exits 0 when every listing is valid, 1 when any is not.
    """
    try:
        adapters = {name: offline_adapter(Registry().get(name)) for name in portal or ()}
    except ListsyncError as exc:
        raise _fail(exc) from None
    total, invalid = 0, 0
    try:
        for _line, problems in _problems(file, adapters):
            total += 1
            if problems:
                invalid += 1
                for text in problems:
                    typer.echo(text)
    except BrokenPipeError:  # e.g. `listsync validate ... | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1) from None
    except OSError as exc:
        raise _fail(exc) from None
    finally:
        _close_adapters(adapters)
    typer.echo(f"{total} listing(s) checked: {total - invalid} valid, {invalid} invalid", err=True)
    if invalid:
        raise typer.Exit(1)


def _problems(file: str, adapters: dict[str, Any]) -> Iterator[tuple[int, list[str]]]:
    """Per non-blank line, the problem texts that make it invalid (empty list: valid)."""
    for line, item in read_listings(file):
        if isinstance(item, InvalidListingError):
            yield line, list(describe_issues(line, item.issues, ref=item.external_ref))
            continue
        yield line, _preflight(line, item, adapters)


def _preflight(line: int, listing: Listing, adapters: dict[str, Any]) -> list[str]:
    texts: list[str] = []
    blocking = False
    for name, adapter in adapters.items():
        if name not in listing.portals:
            continue
        issues = adapter.preflight(listing)
        blocking = blocking or any(i.severity is Severity.ERROR for i in issues)
        texts += describe_issues(line, issues, ref=listing.external_ref)
    if not blocking:  # warnings alone do not make a listing invalid
        for text in texts:
            typer.echo(text, err=True)
        return []
    return texts


def _close_adapters(adapters: dict[str, Any]) -> None:
    async def close_all() -> None:
        for name, adapter in adapters.items():
            try:
                await adapter.aclose()
            except Exception:
                log.warning("adapter_close_failed", portal=name, exc_info=True)

    if adapters:
        asyncio.run(close_all())


# -- building an adapter for offline preflight ---------------------------------------------

OFFLINE_BASE_URL = "http://127.0.0.1:9"
"""The base URL an offline adapter gets (the discard port); its transport refuses anyway."""

_PLACEHOLDERS: dict[Any, Any] = {
    str: "placeholder",
    SecretStr: "placeholder",
    int: 1,
    float: 1.0,
    bool: False,
}


def offline_adapter(cls: type[Any]) -> Any:
    """An instance of adapter class `cls` that can run `preflight` and never touches a network.

    `preflight` is pure, but adapters are constructed with settings and an account. This builds
    both from the adapter's own `settings_model` and `account_model`: `base_url` is
    `OFFLINE_BASE_URL`, and every other required field (credentials included) gets a
    placeholder of its type (`"placeholder"`, 1, False, an empty tuple). The adapter's transport
    is an `httpx.MockTransport` that raises on any request, so an adapter that tried to talk to
    its portal here would fail loudly instead of leaking placeholder credentials.

    Raises:
        ConfigurationError: the adapter cannot be built this way; the message names it.
    """
    name = getattr(cls, "name", cls.__qualname__)
    try:
        settings = _placeholder_model(cls.settings_model, base_url=OFFLINE_BASE_URL)
        account = _placeholder_model(cls.account_model)
        return cls(settings, account, account_name="default", transport=_refusing_transport())
    except Exception as exc:  # any failure of third-party code becomes one clear error
        raise ConfigurationError(
            f"cannot build adapter {name!r} for offline preflight: {type(exc).__name__}: {exc}",
            key=f"portals.{name}",
        ) from None


def _placeholder_model(model: type[BaseModel], **given: Any) -> BaseModel:
    data = dict(given)
    for field_name, info in model.model_fields.items():
        if info.is_required() and field_name not in data:
            data[field_name] = _placeholder(info.annotation)
    try:
        return model.model_validate(data)
    except ValidationError:  # placeholders broke a constraint: skip validation, it is offline
        return model.model_construct(**data)


def _placeholder(annotation: Any) -> Any:
    if annotation in _PLACEHOLDERS:
        return _PLACEHOLDERS[annotation]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _placeholder(options[0]) if options else None
    if origin is typing.Annotated:
        return _placeholder(typing.get_args(annotation)[0])
    if origin in (tuple, list, frozenset, set):
        return ()
    if origin is dict:
        return {}
    return "placeholder"


def _refusing_transport() -> httpx.MockTransport:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("offline: preflight must not send requests", request=request)

    return httpx.MockTransport(refuse)


# -- sandbox serve --------------------------------------------------------------------------


@sandbox_app.command("serve")
def sandbox_serve_command(
    name: Annotated[str, typer.Argument(help="The sandbox, e.g. hemnet, immowelt or booli.")],
    *,
    port: Annotated[int, typer.Option("--port", help="TCP port; 0 picks a free one.")] = 0,
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    account: Annotated[str, typer.Option("--account", help="Account to print.")] = "default",
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help="Print the sandbox's fake credentials.")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the fault injection.")] = 0,
    error_rate: Annotated[float, typer.Option("--error-rate", help="Share of 5xx.")] = 0.0,
    rate_limit_rate: Annotated[
        float, typer.Option("--rate-limit-rate", help="Share of 429.")
    ] = 0.0,
    drop_rate: Annotated[float, typer.Option("--drop-rate", help="Commit-then-drop.")] = 0.0,
    latency_ms: Annotated[float, typer.Option("--latency-ms", help="Added latency.")] = 0.0,
) -> None:
    """Serve a portal sandbox over HTTP until interrupted (Ctrl+C).

    Prints the base URL and the portals.NAME settings (as TOML) an adapter needs to reach it.
    Credentials are masked unless --show-secrets: they are fake, sandbox-only values, but
    should still not land in shared terminal logs by default.
    """
    try:
        cls = Registry(SANDBOX_GROUP).get(name)
        faults = FaultConfig(
            seed=seed,
            error_rate=error_rate,
            rate_limit_rate=rate_limit_rate,
            drop_rate=drop_rate,
            latency_ms=latency_ms,
        )
    except ListsyncError as exc:
        raise _fail(exc) from None
    except ValueError as exc:  # pydantic's ValidationError of the fault options
        typer.echo(f"error: invalid fault options: {exc}", err=True)
        raise typer.Exit(2) from None
    sandbox = cls(faults=faults)
    with sandbox.serve(host=host, port=port) as base_url:
        typer.echo(f"sandbox {name} listening on {base_url}")
        settings = sandbox.client_settings(base_url, account)
        for text in sandbox_settings_lines(name, settings, show_secrets=show_secrets):
            typer.echo(text)
        typer.echo("Press Ctrl+C to stop.", err=True)
        wait_for_interrupt()
    typer.echo(f"sandbox {name} stopped", err=True)


def sandbox_settings_lines(
    name: str, settings: dict[str, Any], *, show_secrets: bool = False
) -> Iterator[str]:
    """The sandbox's client settings as a `[portals.NAME]` TOML table, secrets masked."""
    yield ""
    yield "# listsync.toml"
    yield f"[portals.{name}]"
    for key, value in settings.items():
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        secret = isinstance(value, SecretStr) or is_secret_key(key)
        shown = MASK if secret and not show_secrets and raw else raw
        yield f"{key} = {_toml_value(shown)}"
    if not show_secrets:
        yield "# secrets masked; run with --show-secrets to print the sandbox's fake credentials"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string


def wait_for_interrupt() -> None:
    """Block until Ctrl+C (SIGINT) or SIGTERM."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
