"""The PostgreSQL store's alembic migrations: `upgrade head` on an empty database and from
every earlier revision keeps what was stored; `listsync state upgrade` runs it; the store
refuses a database that is behind or ahead, naming what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from listsync.errors import StateStoreError
from listsync.migrations import current_revision, revisions, upgrade
from listsync.sync import ListingState, StateKey
from listsync.sync._pgschema import HEAD, REVISIONS, TABLES, VERSION_TABLE
from listsync.sync._sqlite import open_state_store

KEY = StateKey("acme", "agency-a", "L-1")


def test_the_store_knows_every_revision_of_the_scripts() -> None:
    """`_pgschema.REVISIONS` (what the store accepts as older) is the scripts' history."""
    assert tuple(revisions()) == REVISIONS
    assert REVISIONS[-1] == HEAD


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as db:
        found = db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        return {name for (name,) in found}


def test_upgrade_head_on_an_empty_database(postgres_url: str) -> None:
    assert current_revision(postgres_url) is None
    assert upgrade(postgres_url) == (None, HEAD)
    assert _tables(postgres_url) == {*TABLES, VERSION_TABLE}
    assert upgrade(postgres_url) == (HEAD, HEAD)  # nothing left to do
    store = open_state_store(postgres_url)
    store.save(ListingState(*KEY, remote_id="R"))
    assert store.get(KEY).remote_id == "R"  # type: ignore[union-attr]
    store.close()


@pytest.mark.parametrize("start", REVISIONS)
def test_upgrade_head_from_each_revision_keeps_the_records(postgres_url: str, start: str) -> None:
    """A database at any revision, with a listing recorded (as that revision's tables hold
    it), is refused by the store while behind, then upgraded to head with the listing kept."""
    upgrade(postgres_url, start)
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute(
            "INSERT INTO listsync_state (portal, account, external_ref, remote_id, created_at, "
            "updated_at) VALUES (%s, %s, %s, 'R-old', now(), now())",
            tuple(KEY),
        )
    if start != HEAD:
        with pytest.raises(StateStoreError, match=r"older .* run `listsync state upgrade`"):
            open_state_store(postgres_url)
    assert upgrade(postgres_url)[1] == HEAD
    store = open_state_store(postgres_url)
    assert store.get(KEY).remote_id == "R-old"  # type: ignore[union-attr]
    store.close()


def test_a_revision_this_listsync_does_not_know_is_refused(migrated_postgres_url: str) -> None:
    with psycopg.connect(migrated_postgres_url, autocommit=True) as db:
        db.execute(f"UPDATE {VERSION_TABLE} SET version_num = 'f00d'")  # noqa: S608
    with pytest.raises(StateStoreError, match=r"revision f00d, which .* upgrade listsync"):
        open_state_store(migrated_postgres_url)


def test_a_dropped_table_is_reported(migrated_postgres_url: str) -> None:
    with psycopg.connect(migrated_postgres_url, autocommit=True) as db:
        db.execute("DROP TABLE listsync_audit")
    with pytest.raises(StateStoreError, match=r"tables are missing \(listsync_audit\)"):
        open_state_store(migrated_postgres_url)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  (our own CLI)
        [str(Path(sys.executable).with_name("listsync")), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_state_upgrade_command(postgres_url: str) -> None:
    """`listsync state upgrade --state URL` migrates, then says it is up to date; a server
    that is not there is one line and exit 2."""
    first = _cli("state", "upgrade", "--state", postgres_url)
    assert first.returncode == 0, first.stderr
    assert f"migrated from revision (none) to {HEAD}" in first.stdout
    again = _cli("state", "upgrade", "--state", postgres_url)
    assert again.returncode == 0, again.stderr
    assert f"is up to date (revision {HEAD})" in again.stdout
    down = _cli("state", "upgrade", "--state", "postgresql://nobody:pw@127.0.0.1:1/x")
    assert down.returncode == 2
    assert down.stderr.startswith("error: state store postgresql://nobody@127.0.0.1:1/x ")
    assert "Traceback" not in down.stderr
    assert "pw" not in down.stderr.replace("PostgreSQL", "")
