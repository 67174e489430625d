"""`listsync refresh FILE`: update the state store from the portals, send nothing.

Like `terraform refresh`: every listing of FILE that the state knows is read back from its
portal; what differs is put in the state (`drifted`: an apply then repairs it with the minimal
operations), a record the portal no longer has is forgotten (`gone`: an apply re-creates it),
and a listing without state found on the portal under its external_ref is adopted. The command
prints those (a table, or JSON with `--json`) and the orphans: records of the portal accounts
used whose external_ref FILE does not name. `--prune` withdraws the orphans (Hemnet:
unpublish; Immowelt: delete), and only that flag does.

Exit 0 unless something failed (1: a listing failed or its portal was unavailable), 2 on
usage/config errors, 130/143 when stopped by a signal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from listsync.cli._engine import (
    FileArg,
    GraceOpt,
    PortalOpt,
    ReportOpt,
    StateOpt,
    build_syndicator,
    check_portals,
    finish,
    print_orphans,
    read_source,
    run_or_fail,
    start_outputs,
)
from listsync.cli._outcomes import summary_table
from listsync.cli._plan_view import where
from listsync.cli._stopping import RunOutputs, RunStopper
from listsync.sync import FAILING_OUTCOMES, EntryResult, Outcome, RunReport

__all__ = ["drift_kind", "refresh"]

_DRIFT = frozenset({Outcome.DRIFTED, Outcome.GONE})


def refresh(
    file: FileArg,
    *,
    portal: PortalOpt = None,
    state: StateOpt = None,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Withdraw the orphans (Hemnet: unpublish; Immowelt: delete). Without it they "
            "are only reported.",
        ),
    ] = False,
    report: ReportOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print drift and orphans as one JSON object.")
    ] = False,
    concurrency: Annotated[int, typer.Option(min=1, help="Listings in flight at once.")] = 32,
    grace: GraceOpt = 10.0,
    problems: Annotated[
        int, typer.Option("--problems", min=0, help="Problem listings shown after the table.")
    ] = 20,
) -> None:
    """Update the state store from the portals for the listings in FILE (nothing is sent):
    print what drifted, what is gone, what was adopted, and the orphans (records of the
    accounts used that FILE does not name); --prune withdraws the orphans.

    Exit 0 unless a listing failed or its portal was unavailable (1); 2 on usage/config errors;
    130/143 when stopped by SIGINT/SIGTERM.
    """
    check_portals(portal)
    source, lines = read_source(file)
    syndicator = build_syndicator(state, concurrency=concurrency, grace=grace)
    check_portals(portal, syndicator.portals)
    outputs = start_outputs(lines, portal, report, problems, keep=lambda r: r.outcome in _DRIFT)

    def start(on_result: Callable[[EntryResult], None]) -> Awaitable[RunReport]:
        return syndicator.refresh(
            outputs.counted_input(source),
            portals=portal,
            on_result=on_result,
            keep_results=False,
            prune=prune,
        )

    with RunStopper(syndicator, flush=outputs.flush) as stopper:
        result = run_or_fail(syndicator, outputs, start, stopper)
        outputs.close_progress()
        if as_json:
            _print_json(result, outputs)
        else:
            _print_tables(result, outputs, prune=prune, report=report)
        finish(outputs, result, stopper)
    failed = sum(result.totals[o.value] for o in FAILING_OUTCOMES)
    raise typer.Exit(1 if failed else 0)


def drift_kind(result: EntryResult) -> tuple[str, str]:
    """(`drifted` | `gone` | `adopted` | `withdrawn` | the outcome, what differs) of a result."""
    if result.outcome is Outcome.GONE:
        return "gone", "no longer on the portal: an apply re-creates it"
    first = result.done[0] if result.done else ""
    if first == "adopted":
        return "adopted", f"remote id {result.remote_id}" if result.remote_id else ""
    if first.startswith("drifted: "):
        return "drifted", first.removeprefix("drifted: ")
    return result.outcome.value, "; ".join(result.done)


def _print_tables(result: RunReport, outputs: RunOutputs, *, prune: bool, report: Any) -> None:
    out = Console(highlight=False)
    out.print(summary_table(result, "refresh"))
    changed = sorted(outputs.kept, key=lambda r: (r.entry.external_ref, where(r.entry)))
    if changed:
        table = Table(title=f"drift: {len(changed)} listing(s) differ from the state store")
        for name in ("listing", "portal/account", "what", "details"):
            table.add_column(name)
        for r in changed:
            kind, details = drift_kind(r)
            table.add_row(r.entry.external_ref, where(r.entry), kind, details)
        out.print(table)
        out.print("The state store now holds what the portals hold; `apply` repairs the drift.")
    else:
        out.print("Drift: none (the portals hold what the state store says)")
    outputs.problems.print(out, report)
    if not result.interrupted:
        print_orphans(out, result.orphans, pruned=prune)


def _print_json(result: RunReport, outputs: RunOutputs) -> None:
    changes = []
    for r in outputs.kept:
        doc = r.to_json()
        doc["drift"], doc["details"] = drift_kind(r)
        changes.append(doc)
    payload = {
        "run_id": result.run_id,
        "drift": changes,
        "orphans": [o.to_json() for o in result.orphans],
        "summary": result.summary(),
        "interrupted": result.interrupted,
    }
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2, default=str) + "\n")
