"""The PostgreSQL state store's schema migrations (alembic), shipped with listsync.

    listsync state upgrade [--state postgresql://user@host/db]

runs `upgrade head` on the database the state URL names: every migration not applied yet, in
one transaction, under a transaction-scoped advisory lock so that two processes upgrading at
once migrate it once (the second waits, then finds nothing left to do). The revisions are in
`versions/`; `listsync.sync._pgschema.REVISIONS` lists them, and the store refuses a database
that is not at the newest one.

alembic and SQLAlchemy are used here only: the store itself talks to PostgreSQL through
psycopg (`listsync.sync._postgres`). Both come with `pip install listsync[postgres]`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from listsync.errors import StateStoreError
from listsync.sync._pgschema import VERSION_TABLE
from listsync.sync._postgres import connect_error, display_url

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Engine

__all__ = ["MIGRATIONS_LOCK", "current_revision", "revisions", "upgrade"]

HERE = Path(__file__).parent
MIGRATIONS_LOCK = 0x6C69_7374_7379_6E63
"""The advisory lock an upgrade holds: "listsync" in ASCII, as a 64-bit key (a listing's
lease is a 64-bit hash of its key; meeting this one is a 1 in 2**64 chance)."""


def _config() -> Config:
    from alembic.config import Config  # noqa: PLC0415  (alembic only when migrating)

    config = Config()
    config.set_main_option("script_location", str(HERE))
    return config


def revisions() -> list[str]:
    """Every revision of the migration scripts, oldest first."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    script = ScriptDirectory.from_config(_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _engine(url: str) -> Engine:
    import sqlalchemy  # noqa: PLC0415
    from sqlalchemy.pool import NullPool  # noqa: PLC0415

    scheme, sep, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres") or not sep:
        raise StateStoreError(
            f"`listsync state upgrade` migrates PostgreSQL state stores, not {display_url(url)}"
            " (an SQLite store is upgraded when it is opened)",
            reason="not PostgreSQL",
        )
    return sqlalchemy.create_engine(f"postgresql+psycopg://{rest}", poolclass=NullPool)


def current_revision(url: str) -> str | None:
    """The revision the database is at, None when it was never migrated."""
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    engine = _engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()
    except SQLAlchemyError as exc:
        raise connect_error(url, _cause(exc)) from None
    finally:
        engine.dispose()


def _cause(exc: BaseException) -> BaseException:
    """The driver's error under SQLAlchemy's wrapper (psycopg's, whose words name the cause)."""
    orig = getattr(exc, "orig", None)
    return orig if isinstance(orig, BaseException) else exc


def upgrade(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate the database at `url` to `revision`; returns (revision before, after).

    Raises:
        StateStoreError: the server cannot be reached, or a migration fails (nothing of it
            is kept: one transaction).
    """
    from alembic import command  # noqa: PLC0415
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415
    from sqlalchemy import text  # noqa: PLC0415
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    config = _config()
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATIONS_LOCK})
            opts = {"version_table": VERSION_TABLE}
            before = MigrationContext.configure(conn, opts=opts).get_current_revision()
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            after = MigrationContext.configure(conn, opts=opts).get_current_revision()
    except SQLAlchemyError as exc:
        raise connect_error(url, _cause(exc)) from None
    finally:
        engine.dispose()
    return before, after
