"""Basic commands: `adapters`, `schema`, `validate`.

Exit codes: 0 success; 1 invalid listings (`validate`); 2 a usage or configuration error (an
unknown adapter, a missing file), printed as one line without a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from pydantic import BaseModel, SecretStr, ValidationError
from rich.console import Console
from rich.table import Table

from listsync.cli._terminal import terminal
from listsync.errors import (
    ConfigurationError,
    FieldIssue,
    InvalidListingError,
    ListsyncError,
    Severity,
)
from listsync.io import describe_issues, read_listings
from listsync.log import get_logger
from listsync.model import Listing, render_listing_json_schema
from listsync.registry import Registry

__all__ = ["adapters_command", "offline_adapter", "schema_command", "validate_command"]

log = get_logger(__name__)


def _fail(exc: ListsyncError | OSError) -> typer.Exit:
    """Print a one-line error (no traceback) and return the exit to raise."""
    text = str(exc) if isinstance(exc, ListsyncError) else f"{exc.strerror}: {exc.filename}"
    return terminal.fail(text)


# -- adapters -------------------------------------------------------------------------------


def adapters_command(
    name: Annotated[
        str | None, typer.Argument(help="One adapter (with --settings: its settings).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    matrix: Annotated[
        bool, typer.Option("--matrix", help="Print the feature matrix (markdown).")
    ] = False,
    settings: Annotated[
        bool,
        typer.Option(
            "--settings", help="Print NAME's settings and account fields: types, defaults, docs."
        ),
    ] = False,
) -> None:
    """List installed adapters with their capabilities, and plugins that failed to load."""
    registry = Registry()
    if name is not None:
        try:
            cls = registry.get(name)
        except ListsyncError as exc:
            raise _fail(exc) from None
        if settings:
            from listsync.cli._config import print_adapter_settings  # noqa: PLC0415

            print_adapter_settings(name, cls, as_json=as_json)
            return
    elif settings:
        raise terminal.fail("--settings needs an adapter NAME (see `listsync adapters`)")
    if matrix:
        from listsync.testing.matrix import render_matrix  # noqa: PLC0415  (kit loads lazily)

        typer.echo(render_matrix(registry), nl=False)
        return
    infos = [i for i in registry.adapters() if name is None or i.name == name]
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
    terminal.note(f"wrote {output}", event="wrote", path=str(output))


# -- validate -------------------------------------------------------------------------------


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
    terminal.note(
        f"{total} listing(s) checked: {total - invalid} valid, {invalid} invalid",
        event="validated",
        total=total,
        invalid=invalid,
    )
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
        issues = _prepared_issues(name, adapter, listing)
        blocking = blocking or any(i.severity is Severity.ERROR for i in issues)
        texts += describe_issues(line, issues, ref=listing.external_ref)
    if not blocking:  # warnings alone do not make a listing invalid
        for text in texts:
            terminal.note(text, event="warning")
        return []
    return texts


def _prepared_issues(name: str, adapter: Any, listing: Listing) -> list[FieldIssue]:
    """The portal's offline findings for `listing` (read adapters have none)."""
    if not hasattr(adapter, "prepare"):  # read adapters check nothing offline
        return []
    try:
        return list(adapter.prepare(listing).issues)
    except InvalidListingError as exc:
        return list(exc.issues)
    except Exception as exc:  # an adapter bug is reported for this listing, not a crash
        message = f"the {name} adapter failed: {type(exc).__name__}: {exc}"
        return [FieldIssue(path="", message=message, portal=name)]


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
