"""How `apply` (and `demo`) show a run's outcome: the summary table, then every problem.

The table counts outcomes per portal and account; lines that are not valid listings never
reached a portal and are counted in one row of their own (`(input)`). After it, each failed,
blocked or invalid listing gets one line: its input line, where, its external_ref, and each
canonical path with its message (capped; the rest are in the report).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from listsync.cli._plan_view import where
from listsync.errors import Severity
from listsync.sync import FAILING_OUTCOMES, EntryResult, Outcome, RunReport

__all__ = ["INPUT_ROW", "Problems", "summary_table"]

INPUT_ROW = "(input)"
"""The summary table's portal cell for lines that are not valid listings."""

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


def summary_table(report: RunReport) -> Table:
    """Outcomes per portal and account; invalid input lines in their own `(input)` row."""
    columns = [o.value for o in _SHOWN if report.totals.get(o.value)] or [Outcome.CONVERGED.value]
    table = Table(title=f"listsync apply (run {report.run_id})")
    for name in ("portal", "account", *columns):
        table.add_column(name, justify="right" if name in columns else "left")
    rows = sorted(report.counts.items(), key=lambda kv: (kv[0][0] == "-", kv[0]))
    for (portal, account), counts in rows:
        cells = [str(counts.get(c, 0) or "") for c in columns]
        if portal == "-":
            table.add_row(INPUT_ROW, "", *cells)
        else:
            table.add_row(portal, account if account != "-" else "(no account)", *cells)
    return table


@dataclass
class Problems:
    """The failed, blocked and invalid results of a run, kept up to `limit` for display."""

    limit: int = 20
    shown: list[EntryResult] = field(default_factory=list)
    more: int = 0

    def add(self, result: EntryResult) -> None:
        if result.outcome not in FAILING_OUTCOMES:
            return
        if len(self.shown) < self.limit:
            self.shown.append(result)
        else:
            self.more += 1

    def print(self, console: Console, report_path: Path | None) -> None:
        """One block per problem listing, then `… N more in <report>`."""
        if not self.shown:
            return
        console.print(Text("Problems:", style="bold"))
        for result in sorted(self.shown, key=_order):
            for line in problem_lines(result):
                console.print(line, soft_wrap=True, highlight=False)
        if self.more:
            where_ = str(report_path) if report_path else "the report (use --report FILE)"
            console.print(f"… {self.more} more in {where_}", highlight=False)


def _order(result: EntryResult) -> tuple[int, str, str]:
    entry = result.entry
    return (entry.line or 0, entry.portal or "", entry.external_ref)


def problem_lines(result: EntryResult) -> Iterator[Text]:
    """`line N hemnet/acme REF blocked: path: message`, one line per error issue."""
    entry = result.entry
    head = Text()
    if entry.line is not None and entry.portal is not None:
        head.append(f"line {entry.line} ")
    head.append(where(entry))
    head.append(f" {entry.external_ref} ")
    head.append(result.outcome.value, style="red")
    issues = [i for i in (result.issues or entry.issues) if i.severity is Severity.ERROR]
    if not issues:
        detail = result.error_message or entry.describe() or result.error_class or ""
        if result.error_class and result.error_message:
            detail = f"{result.error_class}: {result.error_message}"
        yield head.append(f": {detail}")
        return
    for issue in issues:
        line = head.copy()
        rule = f" (rule {issue.rule})" if issue.rule else ""
        line.append(": ")
        line.append(issue.path, style="bold")
        line.append(f": {issue.message}{rule}")
        yield line
