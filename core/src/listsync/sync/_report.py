"""Run reports: counts per portal and account, and a JSON file with every outcome.

The JSON report is written as the run goes (one outcome at a time), so its memory does not
grow with the number of listings:

```json
{"outcomes": [{"external_ref": ..., "portal": ..., "account": ...,
 "outcome": "converged" | "unchanged" | "blocked" | "failed" | "invalid" | ..., "issues": [...]}],
 "run_id": "...",
 "summary": {"by_account": {"<portal>": {"<account>": {"converged": 3}}}, "totals": {...}},
 "interrupted": false}
```
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from listsync.sync._apply import EntryResult
from listsync.sync._store import Outcome

__all__ = ["FAILING_OUTCOMES", "ReportWriter", "RunReport"]

FAILING_OUTCOMES = frozenset({Outcome.FAILED, Outcome.BLOCKED, Outcome.INVALID})
"""Outcomes that make `listsync apply` exit with 1."""


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
    """Streams outcomes into a JSON report file; `close` adds the summary."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("w", encoding="utf-8")
        self._file.write('{"outcomes": [\n')
        self._first = True

    def add(self, result: EntryResult) -> None:
        if not self._first:
            self._file.write(",\n")
        self._first = False
        self._file.write(json.dumps(result.to_json(), ensure_ascii=False, default=str))

    def close(self, report: RunReport) -> None:
        tail = {
            "run_id": report.run_id,
            "summary": report.summary(),
            "interrupted": report.interrupted,
            "converged": report.converged,
        }
        self._file.write("\n], ")
        self._file.write(json.dumps(tail)[1:])
        self._file.write("\n")
        self._file.close()
