"""The `listsync` command.

Commands live in one module per concern and are registered explicitly in `_app`:
`_basics` (adapters, schema, validate), `_engine` (plan, apply, status), `_demo` (demo),
`_pull` (pull from read adapters), `_sandbox` (sandbox serve), `_config` (config show, adapter
settings), `_authoring` (new-adapter, feature-matrix). `_terminal` owns standard error (log
lines through the progress display's console, notes, errors); `_plan_view` and `_outcomes`
render plans and run results.
"""

from __future__ import annotations

from listsync.cli._app import EXIT_CODES, app

__all__ = ["EXIT_CODES", "app", "main"]


def main() -> None:
    app()
