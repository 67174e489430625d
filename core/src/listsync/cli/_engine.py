"""`listsync plan`, `apply` and `status` (and `demo`, in `_demo`).

Exit codes of `apply`: 0 every listing converged (or was unchanged); 1 some listing failed, was
blocked or invalid; 2 usage or configuration error; 130 / 143 stopped by SIGINT / SIGTERM after
finishing and recording the operations in flight (a re-run continues where it stopped).
Input is streamed: memory does not grow with the number of listings.
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

from listsync.cli import app
from listsync.cli._progress import ProgressSink, err, make_progress
from listsync.errors import ConfigurationError, ListsyncError
from listsync.io import read_listings
from listsync.sync import (
    EntryResult,
    ListingState,
    Outcome,
    PlanEntry,
    ReportWriter,
    RunReport,
    SourceItem,
    open_state_store,
)
from listsync.sync._plan import SYMBOLS, Action
from listsync.syndicator import Syndicator

__all__ = ["app", "build_syndicator", "count_lines", "summary_table"]

EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML file (default ./listsync.toml).")
]
StateOpt = Annotated[
    str | None, typer.Option("--state", help="State store URL, e.g. sqlite:///state.sqlite.")
]
PortalOpt = Annotated[
    list[str] | None, typer.Option("--portal", "-p", help="Only these portals (repeatable).")
]
LogFormatOpt = Annotated[str, typer.Option("--log-format", help="console or json.")]
LogLevelOpt = Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING, ERROR.")]


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def setup_logging(fmt: str, level: str) -> None:
    from listsync.log import configure_logging  # noqa: PLC0415  (only commands that log need it)

    if fmt not in ("console", "json"):
        raise fail(f"--log-format must be console or json, not {fmt!r}")
    try:
        configure_logging(format=fmt, level=level)  # type: ignore[arg-type]  # checked above
    except ValueError as exc:
        raise fail(str(exc)) from None


def build_syndicator(config: Path | None, state: str | None, **kwargs: Any) -> Syndicator:
    """A Syndicator from the CLI options; configuration errors exit with 2."""
    try:
        return Syndicator.from_config(config, state=state, **kwargs)
    except ConfigurationError as exc:
        raise fail(str(exc)) from None


def count_lines(path: Path) -> int:
    """Lines in a file, counted without parsing (for progress totals)."""
    total = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            total += chunk.count(b"\n")
    return total


def _source(file: Path) -> Iterator[SourceItem]:
    if not file.exists():
        raise fail(f"{file} does not exist")
    return read_listings(file)


# -- plan ------------------------------------------------------------------------------------
@app.command()
def plan(
    file: Annotated[Path, typer.Argument(help="Canonical listings, JSON Lines.")],
    portal: PortalOpt = None,
    config: ConfigOpt = None,
    state: StateOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per entry.")] = False,
) -> None:
    """Show what `apply` would send, per listing and portal (nothing is sent).

    Exit 0 when nothing is blocked or invalid, 1 otherwise, 2 on usage/config errors.
    """
    source = _source(file)
    syndicator = build_syndicator(config, state)
    out = Console(highlight=False)
    counts: Counter[str] = Counter()
    try:
        for entry in syndicator.plan_stream(source, portals=portal):
            counts[entry.action.value] += 1
            if as_json:
                sys.stdout.write(json.dumps(entry.to_json(), ensure_ascii=False) + "\n")
            else:
                out.print(_plan_line(entry))
    finally:
        asyncio.run(syndicator.aclose())
    if not as_json:
        out.print("\nPlan: " + ", ".join(f"{n} {a}" for a, n in sorted(counts.items())))
    bad = counts[Action.BLOCKED.value] + counts[Action.INVALID.value]
    raise typer.Exit(1 if bad else 0)


def _plan_line(entry: PlanEntry) -> str:
    symbol, style = SYMBOLS[entry.action]
    where = f"{entry.portal}/{entry.account}" if entry.account else (entry.portal or "-")
    text = entry.describe() or "no changes"
    return f"[{style}]{symbol} {entry.action.value:<8}[/] {entry.external_ref} {where}: {text}"


# -- apply -----------------------------------------------------------------------------------
@app.command()
def apply(
    file: Annotated[Path, typer.Argument(help="Canonical listings, JSON Lines.")],
    *,
    portal: PortalOpt = None,
    config: ConfigOpt = None,
    state: StateOpt = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Listings in flight at once.")] = 32,
    report: Annotated[Path | None, typer.Option(help="Write a JSON report here.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; send nothing.")] = False,
    log_format: LogFormatOpt = "console",
    log_level: LogLevelOpt = "WARNING",
) -> None:
    """Send every listing to its portals: only what changed since the last run.

    Exit 0 when everything converged, 1 when a listing failed or was blocked/invalid, 2 on
    usage/config errors, 130/143 when stopped by SIGINT/SIGTERM (in-flight work is recorded).
    """
    setup_logging(log_format, log_level)
    source = _source(file)
    syndicator = build_syndicator(config, state, concurrency=concurrency)
    progress = make_progress(count_lines(file))
    writer = ReportWriter(report) if report is not None else None
    try:
        result, stopped_by = asyncio.run(
            _apply(syndicator, source, portal, progress, writer, dry_run=dry_run)
        )
    except ConfigurationError as exc:
        raise fail(str(exc)) from None
    finally:
        progress.close()
    Console(highlight=False).print(summary_table(result))
    if writer is not None:
        writer.close(result)
        err.print(f"report: {report}")
    if stopped_by is not None:
        err.print(
            f"[yellow]stopped by {stopped_by.name}:[/] in-flight operations were finished and "
            "recorded; run the same command again to continue."
        )
        raise typer.Exit(EXIT_SIGNAL[stopped_by])
    raise typer.Exit(0 if result.converged else 1)


async def _apply(
    syndicator: Syndicator,
    source: Iterable[SourceItem],
    portals: list[str] | None,
    progress: ProgressSink,
    writer: ReportWriter | None,
    *,
    dry_run: bool,
) -> tuple[RunReport, signal.Signals | None]:
    loop = asyncio.get_running_loop()
    stopped: list[signal.Signals] = []

    def on_signal(sig: signal.Signals) -> None:
        if not stopped:
            err.print(f"\n[yellow]{sig.name}: finishing in-flight operations, then stopping…[/]")
        stopped.append(sig)
        syndicator.stop()

    for sig in EXIT_SIGNAL:
        loop.add_signal_handler(sig, on_signal, sig)

    def on_result(result: EntryResult) -> None:
        progress.add(result)
        if writer is not None:
            writer.add(result)

    def counted(items: Iterable[SourceItem]) -> Iterator[SourceItem]:
        for item in items:
            progress.advance_input()
            yield item

    try:
        result = await syndicator.run(
            counted(source),
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


def summary_table(report: RunReport) -> Table:
    """Outcomes per portal and account."""
    columns = [o.value for o in _SHOWN if report.totals.get(o.value)] or [Outcome.CONVERGED.value]
    table = Table(title=f"listsync apply (run {report.run_id})")
    for name in ("portal", "account", *columns):
        table.add_column(name, justify="right" if name in columns else "left")
    for (portal, account), counts in sorted(report.counts.items()):
        cells = [str(counts.get(c, 0) or "") for c in columns]
        table.add_row(portal, account, *cells)
    return table


_SHOWN = (
    Outcome.CONVERGED,
    Outcome.UNCHANGED,
    Outcome.BLOCKED,
    Outcome.FAILED,
    Outcome.INVALID,
    Outcome.INTERRUPTED,
    Outcome.SKIPPED,
    Outcome.PLANNED,
)


# -- status ----------------------------------------------------------------------------------
@app.command()
def status(
    *,
    listing: Annotated[str | None, typer.Option("--listing", "-l", help="One listing.")] = None,
    portal: Annotated[str | None, typer.Option("--portal", "-p", help="One portal.")] = None,
    config: ConfigOpt = None,
    state: StateOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    limit: Annotated[int, typer.Option(help="Rows shown in the table.")] = 200,
) -> None:
    """Per listing and portal account: portal state, visibility/approval, last error (with
    canonical field paths) and, with --listing, the audit trail."""
    from listsync.config import load_config  # noqa: PLC0415

    try:
        url = state or load_config(config).state_url
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


from listsync.cli import _demo  # noqa: E402, F401  (registers `demo`)
