"""alembic's environment for the state store's migrations: run on the connection that
`listsync.migrations.upgrade` hands over (`config.attributes["connection"]`), in its
transaction, with the revision kept in `listsync_alembic_version`."""

from __future__ import annotations

from alembic import context

from listsync.sync._pgschema import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    version_table=VERSION_TABLE,
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
