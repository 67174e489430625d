"""`listsync plan`, `apply` and `status`.

Exit codes of `apply`: 0 every listing converged (or was unchanged); 1 some listing failed, was
blocked or invalid; 2 usage or configuration error; 130 / 143 stopped by SIGINT / SIGTERM after
finishing and recording the operations in flight (a re-run continues where it stopped).
Input is streamed (a file, or `-` for standard input): memory does not grow with the number of
listings.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from listsync.cli._outcomes import Problems, summary_table
from listsync.cli._plan_view import entry_text
from listsync.cli._progress import ProgressSink, make_progress
from listsync.cli._terminal import terminal
from listsync.errors import ConfigurationError, ListsyncError
from listsync.io import read_listings
from listsync.registry import Registry
from listsync.sync import (
    Action,
    EntryResult,
    ListingState,
    ReportWriter,
    RunReport,
    SourceItem,
    open_state_store,
)
from listsync.syndicator import Syndicator

__all__ = ["apply", "build_syndicator", "check_portals", "count_lines", "plan", "status"]

EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}

FileArg = Annotated[
    str, typer.Argument(help="Canonical listings, JSON Lines; - reads standard input.")
]
StateOpt = Annotated[
    str | None, typer.Option("--state", help="State store URL, e.g. sqlite:///state.sqlite.")
]
PortalOpt = Annotated[
    list[str] | None, typer.Option("--portal", "-p", help="Only these portals (repeatable).")
]


def fail(message: str, code: int = 2) -> typer.Exit:
    return terminal.fail(message, code)


def check_portals(portals: Iterable[str] | None, configured: Iterable[str] | None = None) -> None:
    """Exit 2 for a `--portal` that is not installed (or, given `configured`, not configured).

    The message lists the installed adapters (or the configured portals).
    """
    if not portals:
        return
    registry = Registry()
    installed = registry.names()
    for name in portals:
        if name not in installed:
            known = ", ".join(installed) or "none"
            raise fail(
                f"--portal {name}: no adapter of that name is installed (installed: {known})"
            )
        if configured is not None and name not in configured:
            known = ", ".join(sorted(configured)) or "none"
            raise fail(f"--portal {name}: not configured (configured portals: {known})")


def build_syndicator(state: str | None, **kwargs: Any) -> Syndicator:
    """A Syndicator from the global --config and the CLI options; config errors exit with 2."""
    try:
        return Syndicator.from_config(terminal.config, state=state, **kwargs)
    except ConfigurationError as exc:
        raise fail(str(exc)) from None


def count_lines(path: Path) -> int:
    """Lines in a file, counted without parsing (for progress totals)."""
    total = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            total += chunk.count(b"\n")
    return total


def _source(file: str) -> tuple[Iterator[SourceItem], int | None]:
    """The listings of FILE (`-`: standard input) and its line count when it is a file."""
    if file == "-":
        return read_listings("-"), None
    path = Path(file)
    if path.is_dir():
        raise fail(f"{file} is a directory")
    if not path.exists():
        raise fail(f"{file} does not exist")
    return read_listings(path), count_lines(path)


# -- plan ------------------------------------------------------------------------------------
def plan(
    file: FileArg,
    portal: PortalOpt = None,
    state: StateOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per entry.")] = False,
) -> None:
    """Show what `apply` would send, per listing and portal, with old -> new values per changed
    field (nothing is sent).

    Exit 0 when nothing is blocked, failed or invalid, 1 otherwise, 2 on usage/config errors.
    """
    check_portals(portal)
    source, _lines = _source(file)
    syndicator = build_syndicator(state)
    check_portals(portal, syndicator.portals)
    out = Console(highlight=False)
    counts: Counter[str] = Counter()
    try:
        for entry in syndicator.plan_stream(source, portals=portal):
            counts[entry.action.value] += 1
            if as_json:
                sys.stdout.write(json.dumps(entry.to_json(), ensure_ascii=False) + "\n")
            else:
                out.print(entry_text(entry), soft_wrap=True)
    except ConfigurationError as exc:
        raise fail(str(exc)) from None
    finally:
        asyncio.run(syndicator.aclose())
    if not as_json:
        out.print("\nPlan: " + ", ".join(f"{n} {a}" for a, n in sorted(counts.items())))
    bad = sum(counts[a.value] for a in (Action.BLOCKED, Action.INVALID, Action.FAILED))
    raise typer.Exit(1 if bad else 0)


# -- apply -----------------------------------------------------------------------------------
def apply(
    file: FileArg,
    *,
    portal: PortalOpt = None,
    state: StateOpt = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Listings in flight at once.")] = 32,
    report: Annotated[Path | None, typer.Option(help="Write a JSON report here.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; send nothing.")] = False,
    problems: Annotated[
        int, typer.Option("--problems", min=0, help="Problem listings shown after the table.")
    ] = 20,
) -> None:
    """Send every listing to its portals: only what changed since the last run.

    After the summary table, each failed, blocked or invalid listing is shown with its line,
    portal/account, canonical path and message. Exit 0 when everything converged, 1 when a
    listing failed or was blocked/invalid, 2 on usage/config errors, 130/143 when stopped by
    SIGINT/SIGTERM (in-flight work is recorded).
    """
    check_portals(portal)
    source, lines = _source(file)
    syndicator = build_syndicator(state, concurrency=concurrency)
    check_portals(portal, syndicator.portals)
    progress = make_progress(lines, portal)
    writer = ReportWriter(report) if report is not None else None
    shown = Problems(limit=problems)
    try:
        result, stopped_by = asyncio.run(
            _apply(
                syndicator, source, portal, progress, writer=writer, problems=shown, dry_run=dry_run
            )
        )
    except ConfigurationError as exc:
        raise fail(str(exc)) from None
    finally:
        progress.close()
    terminal.summarise()
    out = Console(highlight=False)
    out.print(summary_table(result))
    shown.print(out, report)
    if writer is not None:
        writer.close(result)
        terminal.note(f"report: {report}", event="report", path=str(report))
    if stopped_by is not None:
        terminal.note(
            f"stopped by {stopped_by.name}: in-flight operations were finished and recorded; "
            "run the same command again to continue.",
            event="stopped",
            style="yellow",
            signal=stopped_by.name,
        )
        raise typer.Exit(EXIT_SIGNAL[stopped_by])
    raise typer.Exit(0 if result.converged else 1)


async def _apply(
    syndicator: Syndicator,
    source: Iterable[SourceItem],
    portals: list[str] | None,
    progress: ProgressSink,
    *,
    writer: ReportWriter | None,
    problems: Problems,
    dry_run: bool,
) -> tuple[RunReport, signal.Signals | None]:
    loop = asyncio.get_running_loop()
    stopped: list[signal.Signals] = []

    def on_signal(sig: signal.Signals) -> None:
        if not stopped:
            terminal.note(
                f"{sig.name}: finishing in-flight operations, then stopping…",
                event="stopping",
                style="yellow",
            )
        stopped.append(sig)
        syndicator.stop()

    for sig in EXIT_SIGNAL:
        loop.add_signal_handler(sig, on_signal, sig)

    def on_result(result: EntryResult) -> None:
        progress.add(result)
        problems.add(result)
        if writer is not None:
            writer.add(result)

    try:
        result = await syndicator.run(
            progress.counted(source),
            portals=portals,
            on_result=on_result,
            keep_results=False,
            dry_run=dry_run,
        )
    finally:
        for sig in EXIT_SIGNAL:
            loop.remove_signal_handler(sig)
        await syndicator.aclose()
    return result, (stopped[0] if stopped else None)


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
        store = open_state_store(url)
    except ListsyncError as exc:
        raise fail(str(exc)) from None
    try:
        records = store.records(listing, portal=portal)
        audit = store.audit(listing, portal=portal) if listing else []
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
