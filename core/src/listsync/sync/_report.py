"""Run reports: counts per portal and account, and a JSON file with every outcome.

The JSON report file is always valid JSON, whatever ends the run. While the run goes, outcomes
are appended one per line (JSON Lines) to `<report>.partial` beside it, so memory does not grow
with the number of listings, and the report file itself holds a stub saying the run is not
complete and where those lines are. When the run ends (normally, on an error, or stopped by a
signal) the whole report is written to a temporary file and renamed over the report file in
one step, and the `.partial` file is removed. A run killed outright (SIGKILL, power loss)
leaves the stub and the `.partial` file, whose complete lines are the outcomes recorded so far.
Report files are created 0600 (they name listings and accounts):

```json
{"outcomes": [{"external_ref": ..., "portal": ..., "account": ...,
 "outcome": "converged" | "unchanged" | "blocked" | "failed" | "unavailable" | ...,
 "issues": [...]}],
 "run_id": "...", "complete": true,
 "summary": {"by_account": {"<portal>": {"<account>": {"converged": 3}}}, "totals": {...}},
 "orphans": [{"portal": ..., "account": ..., "external_ref": ..., "remote_id": ...}],
 "interrupted": false, "converged": true}
```
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from listsync.sync._apply import EntryResult
from listsync.sync._store import Outcome

__all__ = ["FAILING_OUTCOMES", "Orphan", "ReportWriter", "RunReport"]

FAILING_OUTCOMES = frozenset(
    {Outcome.FAILED, Outcome.UNAVAILABLE, Outcome.BLOCKED, Outcome.INVALID}
)
"""Outcomes that make `listsync apply` exit with 1."""


@dataclass(frozen=True, slots=True)
class Orphan:
    """A record on a portal, under one of our accounts, whose external_ref the input does not
    name. `withdrawn` is True once `--prune` took it off the portal."""

    portal: str
    account: str
    external_ref: str | None
    remote_id: str
    withdrawn: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "portal": self.portal,
            "account": self.account,
            "external_ref": self.external_ref,
            "remote_id": self.remote_id,
            "withdrawn": self.withdrawn,
        }


@dataclass
class RunReport:
    """Counts of one run grouped by portal and account; optionally every result.

    Attributes:
        results: every `EntryResult`, when the report was asked to keep them (embedding API).
        interrupted: the run was stopped by a signal before every entry was applied.
    """

    run_id: str
    keep_results: bool = True
    results: list[EntryResult] = field(default_factory=list)
    counts: dict[tuple[str, str], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    totals: Counter[str] = field(default_factory=Counter)
    interrupted: bool = False
    orphans: list[Orphan] = field(default_factory=list)

    def add(self, result: EntryResult) -> None:
        entry = result.entry
        key = (entry.portal or "-", entry.account or "-")
        self.counts[key][result.outcome.value] += 1
        self.totals[result.outcome.value] += 1
        if self.keep_results:
            self.results.append(result)

    @property
    def converged(self) -> bool:
        """True when nothing failed, was blocked or invalid, and the run was not stopped."""
        bad = sum(self.totals[o.value] for o in FAILING_OUTCOMES)
        stopped = self.totals[Outcome.INTERRUPTED.value] + self.totals[Outcome.SKIPPED.value]
        return not bad and not stopped and not self.interrupted

    def summary(self) -> dict[str, Any]:
        by_account: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
        for (portal, account), counter in sorted(self.counts.items()):
            by_account[portal][account] = dict(sorted(counter.items()))
        return {"by_account": dict(by_account), "totals": dict(sorted(self.totals.items()))}

    def for_ref(self, external_ref: str) -> list[EntryResult]:
        return [r for r in self.results if r.entry.external_ref == external_ref]


class ReportWriter:
    """Writes the JSON report file of one run (see the module docstring for how)."""

    def __init__(self, path: Path, *, run_id: str | None = None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = path.with_name(path.name + ".partial")
        _write_atomically(
            path,
            json.dumps(
                {
                    "run_id": run_id,
                    "complete": False,
                    "outcomes": [],
                    "partial": self.partial.name,
                }
            )
            + "\n",
        )
        fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._file: IO[str] = os.fdopen(fd, "w", encoding="utf-8")

    def add(self, result: EntryResult) -> None:
        self._file.write(json.dumps(result.to_json(), ensure_ascii=False, default=str))
        self._file.write("\n")

    def flush(self) -> None:
        """Push the outcomes written so far to the `.partial` file (before a hard exit)."""
        if not self._file.closed:
            self._file.flush()

    def close(self, report: RunReport) -> None:
        """Write the whole report in place of the stub and remove the `.partial` file."""
        self._file.close()
        tail = {
            "run_id": report.run_id,
            "complete": True,
            "summary": report.summary(),
            "orphans": [o.to_json() for o in report.orphans],
            "interrupted": report.interrupted,
            "converged": report.converged,
        }
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write('{"outcomes": [\n')
                with self.partial.open(encoding="utf-8") as lines:
                    for number, line in enumerate(lines):
                        out.write(",\n" if number else "")
                        out.write(line.rstrip("\n"))
                out.write("\n], ")
                out.write(json.dumps(tail)[1:])
                out.write("\n")
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        self.partial.unlink(missing_ok=True)


def _write_atomically(path: Path, text: str) -> None:
    """`text` in `path` (mode 0600), replacing it in one step."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
