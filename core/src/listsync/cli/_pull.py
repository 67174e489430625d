"""`listsync pull PORTAL`: read listings from a read adapter as JSON Lines.

Works with any installed adapter that declares `Capability.SEARCH`; nothing here knows a
portal. Listings go to stdout, one `Listing.model_dump_json()` per line; progress and errors
go to stderr. Exit codes: 0 done, 1 the portal failed, 2 a usage or configuration error.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from listsync.adapter import Capability
from listsync.cli._terminal import terminal
from listsync.config import DEFAULT_ACCOUNT, load_config, parse_portal_config
from listsync.errors import ConfigurationError, ListsyncError
from listsync.registry import Registry

__all__ = ["parse_query", "pull"]

_PLAIN_EVERY = 500


def parse_query(pairs: list[str] | None) -> dict[str, str]:
    """`["q=nacka", "minRooms=2"]` -> `{"q": "nacka", "minRooms": "2"}`.

    Raises:
        ConfigurationError: a pair without `=`, an empty key or a key given twice.
    """
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigurationError(f"expected key=value, got {pair!r}", key="--query")
        if key in out:
            raise ConfigurationError(f"{key!r} is given twice", key="--query")
        out[key] = value
    return out


def _load_adapter(portal: str, config: Path | None, account: str | None) -> Any:
    registry = Registry()
    if portal not in registry.names():
        known = ", ".join(registry.names()) or "none"
        raise ConfigurationError(f"no adapter named {portal!r} is installed (installed: {known})")
    cls = registry.get(portal)
    if Capability.SEARCH not in getattr(cls, "capabilities", frozenset()):
        raise ConfigurationError(f"adapter {portal!r} cannot search", key=f"portals.{portal}")
    table = load_config(config, known_portals=registry.names()).portals.get(portal)
    if table is None:
        raise ConfigurationError("no settings for this portal", key=f"portals.{portal}")
    portal_config = parse_portal_config(portal, table, cls.settings_model, cls.account_model)
    name = account or (
        DEFAULT_ACCOUNT
        if DEFAULT_ACCOUNT in portal_config.accounts or len(portal_config.accounts) != 1
        else next(iter(portal_config.accounts))
    )
    if name not in portal_config.accounts:
        raise ConfigurationError("no such account", key=f"portals.{portal}.accounts.{name}")
    return cls(portal_config.settings, portal_config.accounts[name], account_name=name)


async def _pull(
    adapter: Any,
    query: Mapping[str, str],
    *,
    sold: bool,
    limit: int | None,
    out: TextIO,
    progress: Progress | None,
) -> int:
    written = 0
    task = progress.add_task(f"pulling from {adapter.name}", total=None) if progress else None
    try:
        async for listing in adapter.search(query, sold=sold):
            out.write(listing.model_dump_json() + "\n")
            written += 1
            if progress is not None and task is not None:
                progress.update(task, completed=written)
            elif written % _PLAIN_EVERY == 0:
                terminal.note(f"pulled {written} listings", event="progress", pulled=written)
            if limit is not None and written >= limit:
                break
    finally:
        await adapter.aclose()
    return written


def _run(adapter: Any, query: dict[str, str], *, sold: bool, limit: int | None) -> int:
    console = terminal.err
    if not console.is_terminal or terminal.json:
        return asyncio.run(
            _pull(adapter, query, sold=sold, limit=limit, out=sys.stdout, progress=None)
        )
    columns = (SpinnerColumn(), TextColumn("{task.description}: {task.completed} listings"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=False) as progress:
        return asyncio.run(
            _pull(adapter, query, sold=sold, limit=limit, out=sys.stdout, progress=progress)
        )


def pull(
    portal: Annotated[str, typer.Argument(help="A read adapter, e.g. one `adapters` lists.")],
    sold: Annotated[bool, typer.Option("--sold", help="Sold objects instead of listings.")] = False,
    query: Annotated[
        list[str] | None,
        typer.Option("--query", "-q", help="A search parameter as key=value (repeatable)."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Write at most this many listings.")
    ] = None,
    account: Annotated[str | None, typer.Option("--account", help="The account to use.")] = None,
) -> None:
    """Search PORTAL and write canonical listings as JSON Lines to stdout."""
    try:
        params = parse_query(query)
        adapter = _load_adapter(portal, terminal.config, account)
    except ConfigurationError as exc:
        raise terminal.fail(str(exc)) from None
    try:
        written = _run(adapter, params, sold=sold, limit=limit)
    except ConfigurationError as exc:
        raise terminal.fail(str(exc)) from None
    except ListsyncError as exc:
        raise terminal.fail(str(exc), 1) from None
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say
        raise typer.Exit(0) from None
    except KeyboardInterrupt:
        raise terminal.fail("interrupted", 130) from None
    terminal.summarise()
    terminal.note(f"pulled {written} listings from {portal}", event="pulled", count=written)
