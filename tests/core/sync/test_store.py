"""The SQLite state store: round trips, journal, audit, migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from listsync.adapter import Operation, OpKind, PortalStatus, ProjectedItem, Projection
from listsync.errors import ConfigurationError, FieldIssue
from listsync.sync import (
    SCHEMA_VERSION,
    AuditEntry,
    Intent,
    ListingState,
    Outcome,
    SQLiteStateStore,
    StateKey,
    StateStore,
    open_state_store,
)
from listsync.sync._sqlschema import MIGRATIONS

KEY = StateKey("acme", "agency-a", "L-1")


def test_state_round_trips_with_projection_items_and_issues(tmp_path: Path) -> None:
    """Everything saved for a listing reads back equal, including the sent projection."""
    store = SQLiteStateStore(tmp_path / "s.sqlite")
    sent = Projection(
        external_ref="L-1",
        fields={"price": 1},
        media=(ProjectedItem(key="k", canonical_index=0, payload={"url": "u"}),),
    )
    state = ListingState(
        *KEY,
        remote_id="R1",
        item_ids={"k": "I1"},
        status=PortalStatus.LIVE,
        is_visible=True,
        is_approved=False,
        approval_url="https://approve",
        outcome=Outcome.FAILED,
        error_class="ConflictError",
        error_message="nope",
        issues=(FieldIssue(path="media[0].url", message="bad", portal="acme"),),
        attempts=2,
    ).with_sent(sent)
    store.save(state)
    loaded = store.get(KEY)
    assert loaded == state
    assert loaded.sent == sent
    assert loaded.sent_hash == sent.digest()
    assert isinstance(store, StateStore)


def test_keys_separate_accounts(tmp_path: Path) -> None:
    """The same listing on two accounts of one portal is two independent records."""
    store = SQLiteStateStore(tmp_path / "s.sqlite")
    store.save(ListingState("acme", "a", "L-1", remote_id="1"))
    store.save(ListingState("acme", "b", "L-1", remote_id="2"))
    assert [s.remote_id for s in store.records("L-1")] == ["1", "2"]
    assert store.get(StateKey("acme", "c", "L-1")) is None


def test_journal_intents_survive_reopen_and_clear_atomically(tmp_path: Path) -> None:
    """An intent is durable until the save that records its operation clears it."""
    path = tmp_path / "s.sqlite"
    store = SQLiteStateStore(path)
    item = ProjectedItem(key="k", canonical_index=1, payload={"url": "u"})
    op = Operation(kind=OpKind.MEDIA_ADD, key="k", payload={"url": "u"})
    intent_id = store.add_intent(Intent(KEY, op, item=item, run_id="r1"))
    store.close()
    reopened = SQLiteStateStore(path)
    (intent,) = reopened.intents(KEY)
    assert (intent.id, intent.op, intent.item, intent.run_id) == (intent_id, op, item, "r1")
    reopened.save(ListingState(*KEY), clear_intent=intent_id)
    assert reopened.intents(KEY) == []


def test_audit_trail_is_per_listing_and_ordered(tmp_path: Path) -> None:
    """Audit entries come back oldest first, filtered by listing and portal."""
    store = SQLiteStateStore(tmp_path / "s.sqlite")
    for n in range(3):
        store.save(ListingState(*KEY), audit=AuditEntry(KEY, f"op{n}", "ok", "run", f"req{n}"))
    store.save(
        ListingState("beta", "x", "L-1"),
        audit=AuditEntry(StateKey("beta", "x", "L-1"), "create", "ok"),
    )
    trail = store.audit("L-1", portal="acme")
    assert [(a.operation, a.request_id) for a in trail] == [
        ("op0", "req0"),
        ("op1", "req1"),
        ("op2", "req2"),
    ]
    assert len(store.audit("L-1")) == 4


def test_old_schema_is_migrated_in_place(tmp_path: Path) -> None:
    """A database at schema version 1 is upgraded to the current version on open."""
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    db.execute(
        "INSERT INTO listing_state (portal, account, external_ref, created_at, updated_at) "
        "VALUES ('acme', 'agency-a', 'L-1', '2026-01-01T00:00:00+00:00', "
        "'2026-01-01T00:00:00+00:00')"
    )
    db.commit()
    db.close()
    store = SQLiteStateStore(path)
    assert store.schema_version == SCHEMA_VERSION > 1
    assert store.get(KEY) is not None
    indexes = {r[1] for r in sqlite3.connect(path).execute("PRAGMA index_list(audit)")}
    assert "audit_ref" in indexes


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database written by a newer listsync is a configuration error, not silently used."""
    path = tmp_path / "new.sqlite"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ConfigurationError, match="newer"):
        SQLiteStateStore(path)


def test_state_url_forms(tmp_path: Path) -> None:
    """`sqlite:///path` opens (creating parent directories); schemes other than it and
    `postgresql://` (test_store_backends.py) are refused."""
    store = open_state_store(f"sqlite:///{tmp_path}/deep/dir/state.sqlite")
    assert Path(store.path).exists()
    assert store.schema_version == SCHEMA_VERSION
    with pytest.raises(ConfigurationError, match=r"state\.url"):
        open_state_store("mysql://db/listsync")


def _item(key: str) -> ProjectedItem:
    return ProjectedItem(key=key, canonical_index=0, payload={"url": f"https://img/{key}.jpg"})


def _with_image(state: ListingState, key: str) -> ListingState:
    """`state` after one more image was added (a part-way state, as the engine records it)."""
    assert state.sent is not None
    sent = state.sent.model_copy(update={"media": (*state.sent.media, _item(key))})
    return state.with_sent(sent, part_way=True, item_ids={**state.item_ids, key: f"I-{key}"})


def _sent_rows(path: Path) -> list[tuple[int, int]]:
    """(position, size) of the stored sent projection: the whole one (0), then the steps the
    state row's position folds (in their operations' audit rows since schema 5)."""
    db = sqlite3.connect(path)
    whole = db.execute("SELECT seq, length(data) FROM sent_projection ORDER BY seq").fetchall()
    steps = db.execute(
        "SELECT a.sent_seq, length(a.step) FROM audit AS a JOIN listing_state AS s "
        "ON a.sent_base = s.sent_base AND a.sent_seq BETWEEN 1 AND s.sent_steps "
        "WHERE a.step IS NOT NULL ORDER BY a.sent_seq"
    ).fetchall()
    return [*whole, *steps]


FIRST = Projection(external_ref="L-1", fields={"price": 1, "text": "x" * 3000})


def test_part_way_states_are_stored_as_steps_and_read_back_whole(tmp_path: Path) -> None:
    """Between two operations only the step is written (not the whole projection); reopened,
    the record folds back to the last state saved; converged, it is written whole again."""
    path = tmp_path / "s.sqlite"
    store = SQLiteStateStore(path)
    state = ListingState(*KEY, remote_id="R1").with_sent(FIRST)
    store.save(state)
    for key in ("a", "b", "c"):
        state = _with_image(state, key)
        store.save(state)
    rows = _sent_rows(path)
    assert [seq for seq, _ in rows] == [0, 1, 2, 3]
    assert all(size < 200 for _, size in rows[1:])
    store.close()
    reopened = SQLiteStateStore(path)
    loaded = reopened.get(KEY)
    assert loaded == state
    assert loaded.sent == state.sent
    assert loaded.item_ids == {"a": "I-a", "b": "I-b", "c": "I-c"}
    assert loaded.sent_hash is None  # part-way: never "nothing to do"
    assert state.sent is not None
    reopened.save(_with_image(loaded, "d").with_sent(state.sent))
    assert [seq for seq, _ in _sent_rows(path)] == [0]
    assert reopened.get(KEY).sent == state.sent


def test_a_step_from_a_position_the_store_left_is_written_whole(tmp_path: Path) -> None:
    """Two copies of one stored state each take their own step (the same listing applied
    twice at once): every save reads back as exactly the state saved, never as one copy's
    steps on top of the other's."""
    path = tmp_path / "s.sqlite"
    store = SQLiteStateStore(path)
    store.save(ListingState(*KEY).with_sent(FIRST))
    loaded = store.get(KEY)
    one, other = _with_image(loaded, "one"), _with_image(loaded, "other")
    for state in (one, other, _with_image(one, "two"), _with_image(other, "three")):
        store.save(state)
        assert store.get(KEY) == state
        assert store.get(KEY).sent == state.sent


def test_save_journals_the_next_intent_with_the_outcome(tmp_path: Path) -> None:
    """`save` clears the intent of the operation it records and journals the next one in the
    same transaction; its id is returned and `intents` lists it."""
    store = SQLiteStateStore(tmp_path / "s.sqlite")
    create = Operation(kind=OpKind.CREATE, payload={"price": 1})
    image = Operation(kind=OpKind.MEDIA_ADD, key="a", payload={"url": "u"})
    first = store.add_intent(Intent(KEY, create, run_id="r"))
    state = ListingState(*KEY, remote_id="R1").with_sent(FIRST)
    second = store.save(state, clear_intent=first, intent=Intent(KEY, image, item=_item("a")))
    (pending,) = store.intents(KEY)
    assert (pending.id, pending.op, pending.item) == (second, image, _item("a"))
    assert store.save(state, clear_intent=second) is None
    assert store.intents(KEY) == []


def test_schema_2_records_keep_their_projection(tmp_path: Path) -> None:
    """A version-2 database (the whole projection in the state row) is migrated: each record
    reads back with its projection, digest and item ids, and goes on in steps."""
    path = tmp_path / "v2.sqlite"
    db = sqlite3.connect(path)
    db.executescript(f"{MIGRATIONS[0]};{MIGRATIONS[1]}; PRAGMA user_version = 2;")
    db.execute(
        "INSERT INTO listing_state (portal, account, external_ref, remote_id, sent_json, "
        "sent_hash, item_ids, status, created_at, updated_at) VALUES (?, ?, ?, 'R1', ?, ?, "
        "'{\"a\": \"I-a\"}', 'live', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
        (*KEY, FIRST.model_dump_json(), FIRST.digest()),
    )
    db.commit()
    db.close()
    store = SQLiteStateStore(path)
    loaded = store.get(KEY)
    assert (loaded.sent, loaded.sent_hash, loaded.item_ids) == (FIRST, FIRST.digest(), {"a": "I-a"})
    columns = {r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(listing_state)")}
    assert "sent_json" not in columns
    state = _with_image(loaded, "b")
    store.save(state)
    assert [seq for seq, _ in _sent_rows(path)] == [0, 1]
    assert SQLiteStateStore(path).get(KEY).sent == state.sent


# -- schema 5: the steps in the audit rows ------------------------------------------------------
def _database_at(path: Path, version: int) -> sqlite3.Connection:
    """A database at schema `version`, made by that version's migrations."""
    db = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:version]:
        if isinstance(migration, str):
            db.executescript(migration)
        else:
            migration(db)
    db.execute(f"PRAGMA user_version = {version}")
    return db


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_every_earlier_schema_opens_and_migrates(tmp_path: Path, version: int) -> None:
    """A store at any earlier version, with a listing and its audit trail, opens at the
    current version: the listing and the trail read back, and it goes on in steps."""
    path = tmp_path / f"v{version}.sqlite"
    db = _database_at(path, version)
    db.execute(
        "INSERT INTO listing_state (portal, account, external_ref, remote_id, created_at, "
        "updated_at) VALUES (?, ?, ?, 'R-old', '2026-01-01T00:00:00+00:00', "
        "'2026-01-01T00:00:00+00:00')",
        tuple(KEY),
    )
    db.execute(
        "INSERT INTO audit (at, run_id, portal, account, external_ref, operation, outcome, "
        "request_id, message) VALUES ('2026-01-01T00:00:00+00:00', 'run-0', ?, ?, ?, "
        "'create', 'ok', 'req-0', NULL)",
        tuple(KEY),
    )
    db.close()
    store = SQLiteStateStore(path)
    assert store.schema_version == SCHEMA_VERSION
    assert store.get(KEY).remote_id == "R-old"  # type: ignore[union-attr]
    (entry,) = store.audit("L-1")
    assert (entry.operation, entry.outcome, entry.run_id, entry.request_id) == (
        "create",
        "ok",
        "run-0",
        "req-0",
    )
    state = ListingState(*KEY, remote_id="R-old").with_sent(FIRST)
    store.save(state)
    state = _with_image(state, "a")
    store.save(state, audit=AuditEntry(KEY, "media_add a", "ok", "run-1"))
    assert [seq for seq, _ in _sent_rows(path)] == [0, 1]
    assert SQLiteStateStore(path).get(KEY).sent == state.sent  # type: ignore[union-attr]
    assert [e.operation for e in store.audit("L-1")] == ["create", "media_add a"]


def test_schema_4_part_way_record_keeps_its_steps(tmp_path: Path) -> None:
    """A version-4 store holding a record a killed run left part-way (two steps in
    `sent_projection`): migrated, the steps are in audit rows without an operation, the record
    folds as before, the audit trail is unchanged, and the next step follows them."""
    whole = ListingState(*KEY, remote_id="R1").with_sent(FIRST)
    one = _with_image(whole, "a")
    two = _with_image(one, "b")
    path = tmp_path / "v4.sqlite"
    db = _database_at(path, 4)
    db.execute(
        "INSERT INTO listing_state (portal, account, external_ref, remote_id, item_ids, "
        "created_at, updated_at, sent_base, sent_steps) VALUES (?, ?, ?, 'R1', ?, "
        "'2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00', 77, 2)",
        (*KEY, '{"a": "I-a", "b": "I-b"}'),
    )
    assert one.sent_record is not None
    assert two.sent_record is not None
    for seq, data in enumerate(
        [FIRST.model_dump_json(), one.sent_record.step, two.sent_record.step]
    ):
        db.execute("INSERT INTO sent_projection VALUES (?, ?, ?, ?, ?)", (*KEY, seq, data))
    for op in ("create", "media_add a", "media_add b"):
        db.execute(
            "INSERT INTO audit (at, portal, account, external_ref, operation, outcome) "
            "VALUES ('2026-01-01T00:00:00+00:00', ?, ?, ?, ?, 'ok')",
            (*KEY, op),
        )
    db.close()
    store = SQLiteStateStore(path)
    loaded = store.get(KEY)
    assert loaded is not None
    assert (loaded.sent, loaded.item_ids) == (two.sent, {"a": "I-a", "b": "I-b"})
    assert [e.operation for e in store.audit("L-1")] == ["create", "media_add a", "media_add b"]
    assert [seq for seq, _ in _sent_rows(path)] == [0, 1, 2]
    three = _with_image(loaded, "c")
    store.save(three, audit=AuditEntry(KEY, "media_add c", "ok"))
    assert SQLiteStateStore(path).get(KEY).sent == three.sent  # type: ignore[union-attr]
    assert len(store.audit("L-1")) == 4
