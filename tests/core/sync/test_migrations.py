"""The PostgreSQL store's alembic migrations: `upgrade head` on an empty database and from
every earlier revision keeps what was stored; `listsync state upgrade` runs it; the store
refuses a database that is behind or ahead, naming what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from listsync.adapter import ProjectedItem, Projection
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


def _part_way() -> tuple[ListingState, ListingState, ListingState]:
    """A whole projection and two part-way states after it (an image added each time)."""
    first = Projection(external_ref="L-2", fields={"price": 1, "text": "x" * 300})
    states = [ListingState("acme", "agency-a", "L-2", remote_id="R2").with_sent(first)]
    for image in ("a", "b"):
        state = states[-1]
        assert state.sent is not None
        item = ProjectedItem(key=image, canonical_index=0, payload={"url": f"https://i/{image}"})
        sent = state.sent.model_copy(update={"media": (*state.sent.media, item)})
        ids = {**state.item_ids, image: f"I-{image}"}
        states.append(state.with_sent(sent, part_way=True, item_ids=ids))
    return states[0], states[1], states[2]


def test_upgrade_from_0001_keeps_a_part_way_record_and_the_audit(postgres_url: str) -> None:
    """Revision 0001 kept steps in `listsync_sent` (seq > 0): after `upgrade head` a record a
    killed run left part-way folds as before, the audit trail reads the same, and the next
    step follows; `downgrade` to 0001 puts the steps back."""
    whole, one, two = _part_way()
    key = tuple(two.key)
    upgrade(postgres_url, "0001")
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute(
            "INSERT INTO listsync_state (portal, account, external_ref, remote_id, item_ids, "
            "created_at, updated_at, sent_base, sent_steps) VALUES (%s, %s, %s, 'R2', %s, "
            "now(), now(), 77, 2)",
            (*key, '{"a": "I-a", "b": "I-b"}'),
        )
        datas = [whole.sent_json, one.sent_record.step, two.sent_record.step]  # type: ignore[union-attr]
        for seq, data in enumerate(datas):
            db.execute("INSERT INTO listsync_sent VALUES (%s, %s, %s, %s, %s)", (*key, seq, data))
        for op in ("create", "media_add a", "media_add b"):
            db.execute(
                "INSERT INTO listsync_audit (at, run_id, portal, account, external_ref, "
                "operation, outcome, request_id) VALUES (now(), 'run-0', %s, %s, %s, %s, "
                "'ok', 'req')",
                (*key, op),
            )
    assert upgrade(postgres_url) == ("0001", HEAD)
    store = open_state_store(postgres_url)
    loaded = store.get(two.key)
    assert loaded is not None
    assert (loaded.sent, loaded.item_ids) == (two.sent, {"a": "I-a", "b": "I-b"})
    trail = store.audit("L-2")
    assert [(e.operation, e.outcome, e.run_id) for e in trail] == [
        ("create", "ok", "run-0"),
        ("media_add a", "ok", "run-0"),
        ("media_add b", "ok", "run-0"),
    ]
    with psycopg.connect(postgres_url) as db:
        assert db.execute("SELECT seq FROM listsync_sent").fetchall() == [(0,)]
    store.close()
    from alembic import command
    from sqlalchemy import create_engine, text

    from listsync.migrations import _config

    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        config = _config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
        seqs = conn.execute(text("SELECT seq, data FROM listsync_sent ORDER BY seq")).fetchall()
        operations = conn.execute(text("SELECT operation FROM listsync_audit ORDER BY id"))
        assert [op for (op,) in operations] == ["create", "media_add a", "media_add b"]
    engine.dispose()
    assert [(seq, data) for seq, data in seqs] == list(enumerate(datas))


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
