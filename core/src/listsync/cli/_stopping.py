"""Stopping a run on SIGINT (Ctrl+C) or SIGTERM, and the run's outputs whatever ends it.

- **First signal**: one line on standard error, then `Syndicator.stop()`: no new operation
  starts, retry waits and requests not sent yet end at once, requests already sent get the
  syndicator's `grace` seconds and are then cancelled; every listing is recorded (interrupted
  ones keep their journal) and the command exits 130 (SIGINT) or 143 (SIGTERM).
- **Second signal** (either kind): the process exits at once with the first signal's code
  (`os._exit`), after flushing the report's lines and the standard streams. Nothing is lost that
  the next run needs: each operation is journalled before it is sent and recorded in one
  SQLite transaction after its answer, so a transaction cut short is rolled back and the next
  run recovers the journalled operations from the portal (as after a SIGKILL).

The handlers are plain `signal.signal` handlers, so a second signal is handled even while the
event loop is busy. `RunOutputs` is the progress display, the problem list and the `--report`
file of one run; it always closes the report (a whole JSON document), on a stop and on errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self

from listsync.cli._outcomes import Problems
from listsync.cli._progress import ProgressSink, make_progress
from listsync.cli._terminal import terminal
from listsync.sync import EntryResult, ReportWriter, RunReport, SourceItem
from listsync.syndicator import Syndicator

__all__ = ["EXIT_SIGNAL", "RunOutputs", "RunStopper", "run_until_done"]

EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}

_SHOW_CURSOR = b"\x1b[?25h"  # the progress display hides it; an os._exit must not leave it so


class RunStopper:
    """Installs the SIGINT/SIGTERM handlers for the length of a `with` block.

    Args:
        syndicator: stopped by the first signal.
        flush: called (errors ignored) before a second signal exits the process.
    """

    def __init__(self, syndicator: Syndicator, *, flush: Callable[[], None] | None = None) -> None:
        self.syndicator = syndicator
        self.signal: signal.Signals | None = None
        self._flush = flush
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[signal.Signals, Any] = {}

    @property
    def exit_code(self) -> int | None:
        """130 / 143 once a signal came, else None."""
        return None if self.signal is None else EXIT_SIGNAL[self.signal]

    def __enter__(self) -> Self:
        for sig in EXIT_SIGNAL:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        sig = signal.Signals(signum)
        if self.signal is not None:
            self._exit_now(sig)
        self.signal = sig
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._stop)  # printed and stopped between two callbacks
        else:
            self._note()  # not running (yet): `watch` stops the run when it starts

    def _note(self) -> None:
        sig = self.signal
        assert sig is not None  # noqa: S101  (only called after a signal)
        grace = self.syndicator.grace
        terminal.note(
            f"{sig.name}: stopping: nothing new is sent, requests already sent get {grace:g} s; "
            f"press Ctrl+C or send {sig.name} again to exit at once",
            event="stopping",
            style="yellow",
            signal=sig.name,
            grace=grace,
        )

    def _stop(self) -> None:
        self._note()
        self.syndicator.stop()

    async def watch(self) -> None:
        """Run alongside the run (cancel it when the run ends): stops the run if a signal came
        before it started, and stops again what the syndicator starts after the signal (its
        orphan listing and prune phase are separate runs), until cancelled."""
        self._loop = asyncio.get_running_loop()
        try:
            if self.signal is not None:
                self.syndicator.stop()
            while True:
                await asyncio.sleep(0.2)
                if self.signal is not None:
                    self.syndicator.stop()
        finally:
            self._loop = None

    def _exit_now(self, sig: signal.Signals) -> None:
        code = EXIT_SIGNAL[self.signal or sig]
        if self._flush is not None:
            with contextlib.suppress(Exception):
                self._flush()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        text = (
            f"{sig.name} again: exiting now; run the same command again, it recovers what was "
            "in flight"
        )
        if terminal.json:
            line = json.dumps(
                {"event": "exiting", "level": "warning", "message": text, "exit_code": code}
            )
        else:
            line = text
        with contextlib.suppress(OSError):
            if terminal.err.is_terminal:  # below the progress bars, cursor shown again
                os.write(2, _SHOW_CURSOR + b"\n")
            os.write(2, (line + "\n").encode())
        os._exit(code)


@dataclass
class RunOutputs:
    """Where one run's results go: progress, the problem list, the `--report` file, and a
    fallback report counted here (written if the run ends without one, e.g. on an error)."""

    progress: ProgressSink
    problems: Problems
    writer: ReportWriter | None = None
    counted: RunReport = field(default_factory=lambda: RunReport("-", keep_results=False))
    kept: list[EntryResult] = field(default_factory=list)
    keep: Callable[[EntryResult], bool] | None = None

    @classmethod
    def start(
        cls,
        lines: int | None,
        portals: Collection[str] | None,
        report: Path | None,
        *,
        problems: int,
        keep: Callable[[EntryResult], bool] | None = None,
    ) -> Self:
        writer = ReportWriter(report) if report is not None else None
        return cls(make_progress(lines, portals), Problems(limit=problems), writer, keep=keep)

    def counted_input(self, items: Iterable[SourceItem]) -> Iterator[SourceItem]:
        return self.progress.counted(items)

    def add(self, result: EntryResult) -> None:
        self.progress.add(result)
        self.problems.add(result)
        self.counted.add(result)
        if self.keep is not None and self.keep(result):
            self.kept.append(result)
        if self.writer is not None:
            self.writer.add(result)

    def flush(self) -> None:
        """The report's lines so far onto disk (before a second signal's exit)."""
        if self.writer is not None:
            self.writer.flush()

    def close_progress(self) -> None:
        self.progress.close()
        terminal.summarise()

    def close_report(self, report: RunReport | None) -> Path | None:
        """Write the whole report file (`report`, or what was counted here, as interrupted)."""
        writer, self.writer = self.writer, None
        if writer is None:
            return None
        if report is None:
            report = self.counted
            report.interrupted = True
        writer.close(report)
        return writer.path


def run_until_done(
    syndicator: Syndicator,
    outputs: RunOutputs,
    start: Callable[[Callable[[EntryResult], None]], Awaitable[RunReport]],
    stopper: RunStopper,
) -> RunReport:
    """Run `start(on_result)` to its end under `stopper`, then close the syndicator.

    On any exception the progress display is stopped and the report closed (as interrupted)
    before it propagates.
    """

    async def watched() -> RunReport:
        watcher = asyncio.create_task(stopper.watch())
        try:
            return await start(outputs.add)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await syndicator.aclose()

    try:
        return asyncio.run(watched())
    except BaseException:
        outputs.close_progress()
        outputs.close_report(None)
        raise
