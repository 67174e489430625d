"""`listsync plan` and `apply`, and what the run commands share (`refresh`, `state`).

Exit codes of `apply`: 0 every listing converged (or was unchanged); 1 some listing failed, was
unavailable, blocked or invalid; 2 usage or configuration error; 130 / 143 stopped by SIGINT /
SIGTERM (`_stopping.py`: every listing recorded; a re-run continues where it stopped).
Input is streamed (a file, or `-` for standard input): memory does not grow with the number of
listings. `plan` opens the state store read-only: it never creates a state file or folder.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from listsync.cli._outcomes import summary_table
from listsync.cli._plan_view import entry_text
from listsync.cli._stopping import EXIT_SIGNAL, RunOutputs, RunStopper, run_until_done
from listsync.cli._terminal import terminal
from listsync.errors import ConfigurationError
from listsync.io import read_listings
from listsync.registry import Registry
from listsync.sync import Action, EntryResult, Orphan, RunReport, SourceItem
from listsync.syndicator import Syndicator

__all__ = [
    "FileArg",
    "GraceOpt",
    "PortalOpt",
    "ReportOpt",
    "StateOpt",
    "apply",
    "build_syndicator",
    "check_portals",
    "count_lines",
    "fail",
    "finish",
    "plan",
    "print_orphans",
    "read_source",
    "run_or_fail",
    "start_outputs",
    "store_missing",
]

FileArg = Annotated[
    str, typer.Argument(help="Canonical listings, JSON Lines; - reads standard input.")
]
StateOpt = Annotated[
    str | None, typer.Option("--state", help="State store URL, e.g. sqlite:///state.sqlite.")
]
PortalOpt = Annotated[
    list[str] | None, typer.Option("--portal", "-p", help="Only these portals (repeatable).")
]
ReportOpt = Annotated[
    Path | None,
    typer.Option(help="Write a JSON report here (valid JSON whatever ends the run)."),
]
GraceOpt = Annotated[
    float,
    typer.Option(
        "--grace",
        min=0,
        help="After a stop signal, seconds requests already sent may take before they are "
        "cancelled.",
    ),
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


def store_missing(syndicator: Syndicator) -> str | None:
    """`no state store at PATH yet` when the syndicator's store was opened read-only and its
    file does not exist (nothing was ever applied with it); None otherwise."""
    store = syndicator.store
    if getattr(store, "exists", True):
        return None
    return f"no state store at {getattr(store, 'path', '?')} yet"


def count_lines(path: Path) -> int:
    """Lines in a file, counted without parsing (for progress totals)."""
    total = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            total += chunk.count(b"\n")
    return total


def read_source(file: str) -> tuple[Iterator[SourceItem], int | None]:
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
    source, _lines = read_source(file)
    syndicator = build_syndicator(state, read_only=True)
    check_portals(portal, syndicator.portals)
    missing = store_missing(syndicator)
    if missing:
        terminal.note(f"{missing}: every listing is planned as new", event="no_state")
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
    report: ReportOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; send nothing.")] = False,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh",
            help="Read every listing the state knows back from its portal first, and apply "
            "against what is really there (drift repaired, a vanished record re-created).",
        ),
    ] = False,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Afterwards withdraw the records of the accounts used that FILE does not name "
            "(Hemnet: unpublish; Immowelt: delete).",
        ),
    ] = False,
    adopt: Annotated[
        bool,
        typer.Option(
            "--adopt/--no-adopt",
            help="Look a listing without state up on its portal before creating it and adopt "
            "the record found (default). --no-adopt skips the look-up (see docs/operations.md).",
        ),
    ] = True,
    grace: GraceOpt = 10.0,
    problems: Annotated[
        int, typer.Option("--problems", min=0, help="Problem listings shown after the table.")
    ] = 20,
    via: Annotated[
        str,
        typer.Option(
            "--via",
            help="local (default), or celery: chunks applied by `listsync worker` processes "
            "(pip install listsync[celery]; docs/scaling.md).",
        ),
    ] = "local",
) -> None:
    """Send every listing to its portals: only what changed since the last run.

    After the summary table, each failed, blocked or invalid listing is shown with its line,
    portal/account, canonical path and message; listings a portal account could not take
    (unavailable) are one line per account. Exit 0 when everything converged, 1 when a listing
    failed, was unavailable, blocked or invalid, 2 on usage/config errors, 130/143 when stopped
    by SIGINT/SIGTERM (everything recorded; a second signal exits at once).
    """
    if via != "local":
        from listsync.cli._workers import apply_via  # noqa: PLC0415  (celery only if asked)

        flags = {
            "--dry-run": dry_run,
            "--refresh": refresh,
            "--prune": prune,
            "--no-adopt": not adopt,
        }
        unsupported = [name for name, given in flags.items() if given]
        unsupported += ["--state"] * (state is not None)
        apply_via(
            via, file, portal=portal, report=report, problems=problems, unsupported=unsupported
        )
    check_portals(portal)
    source, lines = read_source(file)
    syndicator = build_syndicator(state, concurrency=concurrency, grace=grace)
    check_portals(portal, syndicator.portals)
    outputs = start_outputs(lines, portal, report, problems)

    def start(on_result: Callable[[EntryResult], None]) -> Awaitable[RunReport]:
        return syndicator.run(
            outputs.counted_input(source),
            portals=portal,
            on_result=on_result,
            keep_results=False,
            dry_run=dry_run,
            refresh=refresh,
            prune=prune,
            adopt=adopt,
        )

    with RunStopper(syndicator, flush=outputs.flush) as stopper:
        result = run_or_fail(syndicator, outputs, start, stopper)
        outputs.close_progress()
        out = Console(highlight=False)
        out.print(summary_table(result))
        outputs.problems.print(out, report)
        if prune or result.orphans:
            print_orphans(out, result.orphans, pruned=prune)
        finish(outputs, result, stopper)
    raise typer.Exit(0 if result.converged else 1)


def start_outputs(
    lines: int | None, portals: list[str] | None, report: Path | None, problems: int, **kw: Any
) -> RunOutputs:
    """The run's outputs; a report file that cannot be made is a usage error."""
    try:
        return RunOutputs.start(lines, portals, report, problems=problems, **kw)
    except OSError as exc:
        raise fail(f"--report {report}: {exc.strerror or exc}") from None


def run_or_fail(
    syndicator: Syndicator,
    outputs: RunOutputs,
    start: Callable[[Callable[[EntryResult], None]], Awaitable[RunReport]],
    stopper: RunStopper,
) -> RunReport:
    """`run_until_done` with the collector set for a batch run (`batch_collector`); a
    configuration or state store error exits 2 with one line (the report file, if any, is
    closed first, as interrupted)."""
    try:
        with batch_collector():
            return run_until_done(syndicator, outputs, start, stopper)
    except ConfigurationError as exc:
        raise fail(str(exc)) from None


YOUNGEST_THRESHOLD = 10_000
"""Allocations between two collections of the youngest generation during a run (Python's
default is 700)."""


@contextmanager
def batch_collector() -> Iterator[None]:
    """Python's garbage collector set for a batch run, and set back afterwards.

    A run holds 64 listings in flight, each with its projection, operations, requests and
    answers, and their objects live for a few requests. With the default thresholds
    (700, 10, 10) most of them outlive a collection of the youngest generation and are
    promoted, and the full collections also walk the ≈ 80,000 objects made at start-up
    (modules, models, their schemas). In `apply_throughput.py --listings 1500` that was ≈ 600
    collections and ≈ 0.85 s of a 7.3 s CPU run. Here the start-up objects are frozen out of
    the collector's walks (`gc.freeze`), and the youngest generation is collected every
    `YOUNGEST_THRESHOLD` allocations: ≈ 10 collections, ≈ 0.05 s, the same peak memory (most
    of a run's objects are freed by reference counting; the collector only finds cycles).

    Only the CLI does this: an application that embeds listsync keeps its own settings.
    """
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNGEST_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def finish(outputs: RunOutputs, result: RunReport, stopper: RunStopper) -> None:
    """Close the report (noted), and exit 130/143 when a signal stopped the run."""
    path = outputs.close_report(result)
    if path is not None:
        terminal.note(f"report: {path}", event="report", path=str(path))
    if stopper.signal is not None:
        terminal.note(
            f"stopped by {stopper.signal.name}: every listing was recorded; "
            "run the same command again to continue.",
            event="stopped",
            style="yellow",
            signal=stopper.signal.name,
        )
        raise typer.Exit(EXIT_SIGNAL[stopper.signal])


def print_orphans(out: Console, orphans: list[Orphan], *, pruned: bool) -> None:
    """The orphans table (records of the accounts used that the input does not name)."""
    if not orphans:
        out.print("Orphans: none (every record of the accounts used is in the input)")
        return
    table = Table(title=f"orphans: {len(orphans)} record(s) on the portals not in the input")
    for name in ("portal/account", "external_ref", "remote id", "withdrawn"):
        table.add_column(name)
    for o in orphans:
        withdrawn = "yes" if o.withdrawn else ("no" if pruned else "-")
        table.add_row(f"{o.portal}/{o.account}", o.external_ref or "(none)", o.remote_id, withdrawn)
    out.print(table)
    if not pruned:
        out.print(
            "Withdraw them with --prune (Hemnet: unpublish; Immowelt: delete); only records "
            "with an external_ref can be withdrawn."
        )
