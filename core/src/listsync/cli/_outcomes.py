"""How `apply`, `refresh` (and `demo`) show a run's outcome: the summary table, then problems.

The table counts outcomes per portal and account; lines that are not valid listings never
reached a portal and are counted in one row of their own (`(input)`). After it, each failed,
blocked or invalid listing gets one line: its input line, where, its external_ref, and each
canonical path with its message (capped; the rest are in the report). Listings a portal
account could not take (`unavailable`: the portal was down, its breaker open) are one line per
account with their count, not one line each: in an outage they are all alike.
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

__all__ = ["INPUT_ROW", "Problems", "problem_lines", "summary_table", "unavailable_line"]

INPUT_ROW = "(input)"
"""The summary table's portal cell for lines that are not valid listings."""

_SHOWN = (
    Outcome.CONVERGED,
    Outcome.UNCHANGED,
    Outcome.BLOCKED,
    Outcome.FAILED,
    Outcome.UNAVAILABLE,
    Outcome.INVALID,
    Outcome.INTERRUPTED,
    Outcome.SKIPPED,
    Outcome.PLANNED,
    Outcome.DRIFTED,
    Outcome.GONE,
)


def summary_table(report: RunReport, command: str = "apply") -> Table:
    """Outcomes per portal and account; invalid input lines in their own `(input)` row."""
    columns = [o.value for o in _SHOWN if report.totals.get(o.value)] or [Outcome.CONVERGED.value]
    table = Table(title=f"listsync {command} (run {report.run_id})")
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
    """The failed, blocked and invalid results of a run, kept up to `limit` for display;
    `unavailable` ones counted per portal account (the first of each kept)."""

    limit: int = 20
    shown: list[EntryResult] = field(default_factory=list)
    more: int = 0
    unavailable: dict[tuple[str, str], tuple[EntryResult, int]] = field(default_factory=dict)

    def add(self, result: EntryResult) -> None:
        if result.outcome not in FAILING_OUTCOMES:
            return
        if result.outcome is Outcome.UNAVAILABLE:
            key = (result.entry.portal or "-", result.entry.account or "")
            first, count = self.unavailable.get(key, (result, 0))
            self.unavailable[key] = (first, count + 1)
            return
        if len(self.shown) < self.limit:
            self.shown.append(result)
        else:
            self.more += 1

    def __bool__(self) -> bool:
        return bool(self.shown or self.unavailable)

    def print(self, console: Console, report_path: Path | None) -> None:
        """One block per problem listing, one line per unavailable account, then `… N more
        in <report>`."""
        if not self:
            return
        console.print(Text("Problems:", style="bold"))
        for _key, (first, count) in sorted(self.unavailable.items()):
            lines = problem_lines(first) if count == 1 else iter([unavailable_line(first, count)])
            for line in lines:
                console.print(line, soft_wrap=True, highlight=False)
        for result in sorted(self.shown, key=_order):
            for line in problem_lines(result):
                console.print(line, soft_wrap=True, highlight=False)
        if self.more:
            where_ = str(report_path) if report_path else "the report (use --report FILE)"
            console.print(f"… {self.more} more in {where_}", highlight=False)


def _order(result: EntryResult) -> tuple[int, str, str]:
    entry = result.entry
    return (entry.line or 0, entry.portal or "", entry.external_ref)


def unavailable_line(first: EntryResult, count: int) -> Text:
    """`hemnet/acme: 14 listings unavailable (first REF): Class: message; the next run
    retries them` for the `count` listings one portal account could not take."""
    line = Text(f"{where(first.entry)}: ")
    line.append(f"{count} listings unavailable", style="red")
    line.append(f" (first {first.entry.external_ref}): ")
    detail = first.error_message or first.error_class or "portal unavailable"
    if first.error_class and first.error_message:
        detail = f"{first.error_class}: {first.error_message}"
    line.append(f"{detail}; nothing half-sent, the next run retries them")
    return line


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
