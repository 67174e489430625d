"""Progress display for batch runs: rich bars on a terminal, plain lines otherwise (stderr).

One bar for the input (lines read; invalid lines are counted there, not under a portal) and one
per portal, whose total is the number of listings routed to that portal so far (it grows while
the input is read), so a finished run ends every bar at 100 %. Bars and log lines share the
terminal's console, so a log line is printed above the bars instead of through them. With
`--log-format json` the plain lines are JSON objects.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from contextlib import suppress
from typing import Any

from listsync.cli._terminal import terminal
from listsync.model import Listing
from listsync.sync import FAILING_OUTCOMES, EntryResult, Outcome, SourceItem

__all__ = ["ProgressSink", "RichProgress", "make_progress"]


_BUCKETS = ("done", "blocked", "failed", "interrupted", "skipped")
"""What a portal's bar and line count, as the run's summary table shows them apart."""


def _bucket(outcome: Outcome) -> str:
    if outcome in (Outcome.BLOCKED, Outcome.INVALID):
        return "blocked"
    if outcome in FAILING_OUTCOMES:
        return "failed"
    if outcome is Outcome.INTERRUPTED:
        return "interrupted"
    if outcome is Outcome.SKIPPED:
        return "skipped"
    return "done"


class ProgressSink:
    """Plain progress lines (not a terminal): one per portal every `every` results.

    Args:
        total_lines: input lines, when known (None for standard input).
        portals: the portals this run is restricted to (None: every portal a listing names).
    """

    def __init__(
        self, total_lines: int | None, portals: Collection[str] | None = None, every: int = 500
    ) -> None:
        self.total_lines = total_lines
        self.only = set(portals) if portals else None
        self.every = every
        self.read = 0
        self.invalid = 0
        self.routed: Counter[str] = Counter()
        self.counts: dict[str, Counter[str]] = {}

    def counted(self, items: Iterable[SourceItem]) -> Iterator[SourceItem]:
        """Pass the input through, counting lines read and listings routed to each portal."""
        for item in items:
            listing = item[1] if isinstance(item, tuple) else item
            self.read += 1
            if isinstance(listing, Listing):
                for portal in listing.portals:
                    if self.only is None or portal in self.only:
                        self.routed[portal] += 1
            else:
                self.invalid += 1
            self.advance_input()
            yield item

    def advance_input(self) -> None:
        """Called after each input line is read."""

    def add(self, result: EntryResult) -> None:
        portal = result.entry.portal
        if portal is None:  # an invalid line: counted with the input
            return
        counts = self.counts.setdefault(portal, Counter())
        counts[_bucket(result.outcome)] += 1
        if sum(counts.values()) % self.every == 0:
            self._line(portal)

    def _line(self, portal: str) -> None:
        c = self.counts[portal]
        total = max(self.routed[portal], sum(c.values()))
        terminal.note(
            f"{portal}: {sum(c.values())}/{total} listings: "
            + ", ".join(f"{c[k]} {k}" for k in _BUCKETS),
            event="progress",
            portal=portal,
            total=total,
            done=c["done"],
            blocked=c["blocked"],
            failed=c["failed"],
            interrupted=c["interrupted"],
            skipped=c["skipped"],
        )

    def close(self) -> None:
        if self.invalid:
            terminal.note(
                f"input: {self.read} lines read, {self.invalid} not valid listings",
                event="progress_input",
                read=self.read,
                invalid=self.invalid,
            )
        for portal in sorted(self.counts):
            self._line(portal)


class RichProgress(ProgressSink):
    """Rich progress bars on a terminal: input read (with ETA) and one row per portal."""

    def __init__(self, total_lines: int | None, portals: Collection[str] | None = None) -> None:
        super().__init__(total_lines, portals)
        from rich.progress import (  # noqa: PLC0415  (terminal only)
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=terminal.err,
            transient=False,
        )
        self._input = self._progress.add_task("listings", total=total_lines, detail="")
        self._tasks: dict[str, Any] = {}
        self._progress.start()

    def advance_input(self) -> None:
        detail = f"invalid {self.invalid}" if self.invalid else ""
        self._progress.update(self._input, completed=self.read, detail=detail)
        for portal, task in self._tasks.items():
            self._progress.update(task, total=self._total(portal))

    def _total(self, portal: str) -> int:
        return max(self.routed[portal], sum(self.counts.get(portal, Counter()).values()))

    def add(self, result: EntryResult) -> None:
        portal = result.entry.portal
        if portal is None:
            return
        counts = self.counts.setdefault(portal, Counter())
        counts[_bucket(result.outcome)] += 1
        task = self._tasks.get(portal)
        if task is None:
            task = self._tasks[portal] = self._progress.add_task(portal, total=1, detail="")
        self._progress.update(
            task,
            total=self._total(portal),
            completed=sum(counts.values()),
            detail=" ".join(f"{k} {counts[k]}" for k in _BUCKETS if counts[k] or k == "done"),
        )

    def close(self) -> None:
        """Settle every bar at its final count (100 % for a finished run), then stop."""
        with suppress(Exception):
            self._progress.update(self._input, total=self.read, completed=self.read)
            for portal, task in self._tasks.items():
                done = sum(self.counts[portal].values())
                self._progress.update(task, total=max(done, 1), completed=done)
            self._progress.stop()


def make_progress(total_lines: int | None, portals: Collection[str] | None = None) -> ProgressSink:
    """Bars on a terminal (console log format), plain (or JSON) lines otherwise."""
    if terminal.err.is_terminal and not terminal.json:
        return RichProgress(total_lines, portals)
    return ProgressSink(total_lines, portals)
