"""Progress display for batch runs: rich bars on a terminal, plain lines otherwise (stderr)."""

from __future__ import annotations

from collections import Counter
from contextlib import suppress
from typing import Any

from rich.console import Console

from listsync.sync import FAILING_OUTCOMES, EntryResult, Outcome

__all__ = ["ProgressSink", "RichProgress", "err", "make_progress"]

err = Console(stderr=True)


class ProgressSink:
    """Plain progress lines (not a terminal): one per portal every `every` results."""

    def __init__(self, total_lines: int, every: int = 500) -> None:
        self.total_lines = total_lines
        self.every = every
        self.read = 0
        self.counts: dict[str, Counter[str]] = {}

    def advance_input(self) -> None:
        self.read += 1

    def add(self, result: EntryResult) -> None:
        portal = result.entry.portal or "(invalid)"
        counts = self.counts.setdefault(portal, Counter())
        counts[_bucket(result.outcome)] += 1
        if sum(counts.values()) % self.every == 0:
            self._line(portal)

    def _line(self, portal: str) -> None:
        c = self.counts[portal]
        err.print(
            f"{portal}: {c['done']} done, {c['failed']} failed, {c['skipped']} skipped "
            f"({self.read}/{self.total_lines} lines read)",
            highlight=False,
        )

    def close(self) -> None:
        for portal in sorted(self.counts):
            self._line(portal)


def _bucket(outcome: Outcome) -> str:
    if outcome in FAILING_OUTCOMES:
        return "failed"
    if outcome in (Outcome.SKIPPED, Outcome.INTERRUPTED):
        return "skipped"
    return "done"


class RichProgress(ProgressSink):
    """Rich progress bars on a terminal: input read (with ETA) and one row per portal."""

    def __init__(self, total_lines: int) -> None:
        super().__init__(total_lines)
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
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=False,
        )
        self._input = self._progress.add_task("listings", total=total_lines, detail="", rate="")
        self._tasks: dict[str, Any] = {}
        self._progress.start()

    def advance_input(self) -> None:
        super().advance_input()
        self._progress.update(self._input, completed=self.read)

    def add(self, result: EntryResult) -> None:
        portal = result.entry.portal or "(invalid)"
        counts = self.counts.setdefault(portal, Counter())
        counts[_bucket(result.outcome)] += 1
        task = self._tasks.get(portal)
        if task is None:
            task = self._tasks[portal] = self._progress.add_task(
                portal, total=self.total_lines or None, detail="", rate=""
            )
        done = sum(counts.values())
        speed = self._progress.tasks[task].speed
        self._progress.update(
            task,
            completed=done,
            detail=f"done {counts['done']} failed {counts['failed']} skipped {counts['skipped']}",
            rate=f"{speed:.0f}/s" if speed else "",
        )

    def close(self) -> None:
        with suppress(Exception):
            self._progress.stop()


def make_progress(total_lines: int) -> ProgressSink:
    return RichProgress(total_lines) if err.is_terminal else ProgressSink(total_lines)
