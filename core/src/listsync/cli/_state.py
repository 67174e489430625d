"""`listsync status` and `listsync state forget`: what the state store knows, and making it
forget a listing.

`status` opens the store read-only: a store that does not exist is one line on standard error
(`no state store at PATH yet`) and an empty answer with exit 0 (nothing was applied with it;
`--json` prints `{"records": []}`); it never creates a state file or folder. A damaged store is
one line and exit 2.

`state forget REF` makes the store forget a listing on some or all of its portal accounts
(the audit trail keeps a `forget` entry): the next apply looks it up on the portal and adopts
it, or creates it. It holds the store's writer lease (an apply running on the same store makes
it exit 2 naming that run) and never creates a store; exit 1 when nothing matched.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from listsync.cli._engine import StateOpt, build_syndicator, check_portals, fail, store_missing
from listsync.cli._terminal import terminal
from listsync.errors import ListsyncError
from listsync.sync import ListingState, StateKey, open_state_store
from listsync.syndicator import Syndicator

__all__ = ["state_forget", "status"]


# -- status ----------------------------------------------------------------------------------
def status(
    *,
    listing: Annotated[str | None, typer.Option("--listing", "-l", help="One listing.")] = None,
    portal: Annotated[str | None, typer.Option("--portal", "-p", help="One portal.")] = None,
    state: StateOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    limit: Annotated[int, typer.Option(help="Rows shown in the table.")] = 200,
) -> None:
    """Per listing and portal account: portal state, visibility/approval, last error (with
    canonical field paths) and, with --listing, the audit trail."""
    from listsync.config import load_config  # noqa: PLC0415

    check_portals([portal] if portal else None)
    try:
        url = state or load_config(terminal.config).state_url
        store = open_state_store(url, create=False)
    except ListsyncError as exc:
        raise fail(str(exc)) from None
    try:
        if not getattr(store, "exists", True):
            terminal.note(
                f"no state store at {getattr(store, 'path', url)} yet (nothing applied with it)",
                event="no_state",
            )
            if as_json:
                sys.stdout.write(json.dumps({"records": []}, indent=2) + "\n")
            return
        try:
            records = list(store.records(listing, portal=portal))
            audit = store.audit(listing, portal=portal) if listing else []
        except ListsyncError as exc:  # a damaged page shows on reading
            raise fail(str(exc)) from None
        if as_json:
            payload: dict[str, Any] = {"records": [_state_json(s) for s in records]}
            if listing:
                payload["audit"] = [_audit_json(a) for a in audit]
            sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
            return
        _print_status(records, audit, limit)
    finally:
        store.close()


def _state_json(s: ListingState) -> dict[str, Any]:
    return {
        "external_ref": s.external_ref,
        "portal": s.portal,
        "account": s.account or None,
        "remote_id": s.remote_id,
        "status": s.status.value if s.status else None,
        "is_visible": s.is_visible,
        "is_approved": s.is_approved,
        "approval_url": s.approval_url,
        "outcome": s.outcome.value if s.outcome else None,
        "error": {"class": s.error_class, "message": s.error_message} if s.error_class else None,
        "issues": [i.model_dump(mode="json", exclude_none=True) for i in s.issues],
        "attempts": s.attempts,
        "updated_at": s.updated_at.isoformat(),
    }


def _audit_json(a: Any) -> dict[str, Any]:
    return {
        "at": a.at.isoformat(),
        "run_id": a.run_id,
        "portal": a.key.portal,
        "account": a.key.account,
        "operation": a.operation,
        "outcome": a.outcome,
        "request_id": a.request_id,
        "message": a.message,
    }


def _flag(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _print_status(records: Iterable[ListingState], audit: list[Any], limit: int) -> None:
    out = Console(highlight=False)
    table = Table(title="listsync status")
    for name in (
        "account",
        "portal",
        "listing",
        "status",
        "visible",
        "approved",
        "outcome",
        "last error / issues",
    ):
        table.add_column(name)
    rows = sorted(records, key=lambda s: (s.account, s.portal, s.external_ref))
    for s in rows[:limit]:
        problem = "; ".join(str(i) for i in s.issues) or (s.error_message or "")
        table.add_row(
            s.account or "(no account)",
            s.portal,
            s.external_ref,
            s.status.value if s.status else "-",
            _flag(s.is_visible),
            _flag(s.is_approved),
            s.outcome.value if s.outcome else "-",
            problem,
        )
    out.print(table)
    if len(rows) > limit:
        out.print(f"… {len(rows) - limit} more (use --listing, --portal or --json)")
    if audit:
        trail = Table(title="audit trail")
        for name in ("at", "run", "portal", "account", "operation", "outcome", "request id"):
            trail.add_column(name)
        for a in audit:
            trail.add_row(
                a.at.isoformat(timespec="seconds"),
                a.run_id or "",
                a.key.portal,
                a.key.account,
                a.operation,
                a.outcome,
                a.request_id or "",
            )
        out.print(trail)


# -- state forget ----------------------------------------------------------------------------
def state_forget(
    ref: Annotated[str, typer.Argument(help="The listing's external_ref.")],
    *,
    portal: Annotated[str | None, typer.Option("--portal", "-p", help="Only this portal.")] = None,
    account: Annotated[
        str | None, typer.Option("--account", "-a", help="Only this account.")
    ] = None,
    state: StateOpt = None,
) -> None:
    """Forget what the state store knows of listing REF (on every portal account, or those
    given): the next apply looks it up on the portal and adopts it, or creates it.

    Nothing is sent to a portal. Exit 0 when something was forgotten, 1 when nothing matched,
    2 on usage/config errors or when a run holds the store.
    """
    check_portals([portal] if portal else None)
    syndicator = build_syndicator(state, read_only=True)
    try:
        missing = store_missing(syndicator)
        if missing:
            terminal.note(f"{missing}: nothing to forget", event="no_state")
            raise typer.Exit(1)
        keys = _forget(syndicator, ref, portal, account)
    finally:
        asyncio.run(syndicator.aclose())
    if not keys:
        only = "".join(
            f" {what} {value}"
            for what, value in (("on portal", portal), ("account", account))
            if value
        )
        terminal.note(
            f"nothing to forget: the state store knows nothing of {ref}{only}", event="forget"
        )
        raise typer.Exit(1)
    for key in keys:
        typer.echo(f"forgot {key.external_ref} on {key.portal}/{key.account}")
    terminal.note(
        "the next apply looks it up on the portal and adopts it, or creates it",
        event="forgotten",
        count=len(keys),
    )


def _known(state: ListingState) -> bool:
    """True when the state knows something to forget (a record, what was sent, a result)."""
    return bool(state.remote_id or state.sent_json or state.outcome or state.item_ids)


def _forget(
    syndicator: Syndicator, ref: str, portal: str | None, account: str | None
) -> list[StateKey]:
    """Forget `ref` on each matching portal account the store knows something of (a record
    forgotten already is left alone), under the store's writer lease; a store error, or a run
    holding the lease, exits 2 with one line."""
    store = syndicator.store

    async def forget_each(keys: list[StateKey]) -> list[StateKey]:
        done: list[StateKey] = []
        for key in keys:
            done += await syndicator.forget(ref, portal=key.portal, account=key.account)
        return done

    try:
        with store.writer("forget"):
            keys = [
                s.key
                for s in store.records(ref, portal=portal)
                if (account is None or s.account == account) and _known(s)
            ]
            return asyncio.run(forget_each(keys)) if keys else []
    except ListsyncError as exc:
        raise fail(str(exc)) from None
