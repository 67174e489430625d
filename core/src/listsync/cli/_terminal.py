"""What the command writes for a person on standard error, and how it logs.

One `Terminal` per process (`terminal`): the global options set its log format and level; every
command writes notes and errors through it. Log lines go through the same rich console as the
progress bars, so a line is printed above the bars instead of splitting one. In console format,
a warning that repeats (same event, portal, account and error kind) is printed once and counted;
`summarise()` prints one line per kind with its count at the end. With `--log-format json`,
every line on standard error is a JSON object: log lines, notes, errors and progress alike.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import typer
from rich.console import Console
from rich.text import Text

from listsync.log import configure_logging, line_formatter

__all__ = ["ConsoleLogHandler", "RepeatCounter", "Terminal", "terminal"]

LogFormat = Literal["console", "json"]
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass
class RepeatCounter:
    """Counts warnings by (event, portal, account, error kind); the first of each is shown."""

    counts: Counter[tuple[str, ...]] = field(default_factory=Counter)

    def first(self, record: logging.LogRecord) -> bool:
        """True when `record` should be printed (not a repeat of a warning already shown)."""
        if record.levelno < logging.WARNING or not isinstance(record.msg, dict):
            return True
        event = record.msg
        kind = event.get("error_class") or event.get("error_kind") or ""
        key = (
            str(event.get("event", "")),
            str(event.get("portal") or "-"),
            str(event.get("account") or "-"),
            str(kind),
        )
        self.counts[key] += 1
        return self.counts[key] == 1

    def lines(self) -> list[str]:
        """One line per repeated kind: `event portal/account (kind): N times`."""
        out = []
        for (event, portal, account, kind), n in sorted(self.counts.items()):
            if n > 1:
                what = f" ({kind})" if kind else ""
                out.append(f"{event} {portal}/{account}{what}: {n} times (first one shown)")
        return out


class ConsoleLogHandler(logging.Handler):
    """Prints formatted log lines through a rich console (above any live progress display)."""

    def __init__(self, console: Console, repeats: RepeatCounter) -> None:
        super().__init__()
        self.console = console
        self.repeats = repeats

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if not self.repeats.first(record):
                return
            text = self.format(record)
            self.console.print(Text.from_ansi(text), soft_wrap=True, highlight=False)
        except Exception:  # a log line must never break the command
            self.handleError(record)


class Terminal:
    """The process's standard-error side: log format and level, notes, errors, summaries."""

    def __init__(self) -> None:
        self.format: LogFormat = "console"
        self.level = "WARNING"
        self.config: Path | None = None
        self.err = Console(stderr=True)
        self.repeats = RepeatCounter()

    @property
    def json(self) -> bool:
        return self.format == "json"

    def configure(self, fmt: str | None = None, level: str | None = None) -> None:
        """Set the log format and level (None keeps the current one) and install logging."""
        fmt = self.format if fmt is None else fmt.lower()
        level = self.level if level is None else level.upper()
        if fmt not in ("console", "json"):
            raise self.fail(f"--log-format must be console or json, not {fmt!r}")
        if level not in LEVELS:
            raise self.fail(f"--log-level must be one of {', '.join(LEVELS)}, not {level!r}")
        self.format, self.level = fmt, level  # type: ignore[assignment]  # checked above
        self.repeats = RepeatCounter()
        if self.json:
            handler: logging.Handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(line_formatter("json"))
        else:
            handler = ConsoleLogHandler(self.err, self.repeats)
            handler.setFormatter(line_formatter("console", colors=self.err.is_terminal))
        configure_logging(self.format, self.level, handler=handler)

    def note(self, text: str, *, event: str = "note", style: str = "", **fields: Any) -> None:
        """A line for the person running the command (a JSON object with --log-format json)."""
        if self.json:
            self._json_line(event, "info", text, fields)
        elif style:
            self.err.print(f"[{style}]{text}[/]", highlight=False, soft_wrap=True)
        else:
            self.err.print(text, highlight=False, markup=False, soft_wrap=True)

    def fail(self, message: str, code: int = 2) -> typer.Exit:
        """Print `error: message` as one line (no traceback); return the exit to raise."""
        if self.json:
            self._json_line("error", "error", message, {"exit_code": code})
        else:
            self.err.print(Text.assemble(("error:", "red"), " ", message), soft_wrap=True)
        return typer.Exit(code)

    def summarise(self) -> None:
        """The repeated warnings, one line per kind with its count."""
        lines = self.repeats.lines()
        self.repeats.counts.clear()
        for line in lines:
            self.note(line, style="yellow")

    @staticmethod
    def _json_line(event: str, level: str, message: str, fields: dict[str, Any]) -> None:
        doc = {
            "event": event,
            "level": level,
            "message": message,
            **fields,
            "timestamp": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        }
        sys.stderr.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")
        sys.stderr.flush()


terminal = Terminal()
