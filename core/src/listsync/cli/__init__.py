"""The `listsync` command.

Commands live in one module per concern and register themselves on `app`:
`_basics` (adapters, schema, validate, sandbox serve), `_engine` (plan, apply, status, demo),
`_pull` (pull from read adapters), `_authoring` (new-adapter).
"""

from __future__ import annotations

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="listsync",
    help="Syndicate real-estate listings from your CRM to property portals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module adds its commands to `app` on import.
from listsync.cli import _authoring, _basics, _engine, _pull  # noqa: E402, F401


def main() -> None:
    app()
