"""`listsync state upgrade`: bring the state store's schema to this listsync's.

PostgreSQL: runs the alembic migrations shipped with listsync (`upgrade head`, in one
transaction; two at once migrate once). A PostgreSQL store is never migrated implicitly
unless `[state] auto_migrate = true`: a database that is not migrated, or is at an older
revision, is refused by every other command with this command's name.

SQLite: the file is upgraded in place whenever a newer listsync opens it; this command opens
it (creating it when missing) and says at which version it is.
"""

from __future__ import annotations

from typing import Annotated

import typer

from listsync.cli._terminal import terminal
from listsync.errors import ListsyncError

__all__ = ["state_upgrade"]


def state_upgrade(
    *,
    state: Annotated[
        str | None,
        typer.Option("--state", help="State URL (default: the config's [state] url)."),
    ] = None,
) -> None:
    """Migrate the state store's schema to this listsync's (PostgreSQL: alembic `upgrade
    head`). Exit 2 when the store cannot be reached or migrated."""
    from listsync.config import load_config  # noqa: PLC0415

    try:
        url = state or load_config(terminal.config).state_url
        if url.startswith(("postgresql://", "postgres://")):
            message = _upgrade_postgres(url)
        else:
            message = _upgrade_sqlite(url)
    except ListsyncError as exc:
        raise terminal.fail(str(exc)) from None
    typer.echo(message)


def _upgrade_postgres(url: str) -> str:
    from listsync.errors import ConfigurationError  # noqa: PLC0415

    try:
        from listsync import migrations  # noqa: PLC0415  (alembic: pip install listsync[postgres])
        from listsync.sync._postgres import display_url  # noqa: PLC0415
    except ImportError as exc:
        raise ConfigurationError(
            f"migrating a PostgreSQL state store needs {exc.name}: "
            "pip install 'listsync[postgres]'",
            key="state.url",
        ) from None
    before, after = migrations.upgrade(url)
    where = display_url(url)
    if before == after:
        return f"state store {where} is up to date (revision {after})"
    return f"state store {where} migrated from revision {before or '(none)'} to {after}"


def _upgrade_sqlite(url: str) -> str:
    from listsync.sync import SQLiteStateStore, open_state_store  # noqa: PLC0415

    store = open_state_store(url)
    try:
        version = store.schema_version if isinstance(store, SQLiteStateStore) else None
        return f"state store {store.path} is at schema version {version} (current)"
    finally:
        store.close()
