"""Every state store test that is not about one backend's storage, run against SQLite and
PostgreSQL alike: round trips, journal, intents, audit, recovery across stores, group commit,
steps, claims; then PostgreSQL's own failures (server down, connection lost, not migrated).

The PostgreSQL tests need a server (tests/conftest.py starts one or skips with the reason).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from listsync.adapter import Operation, OpKind, PortalStatus, ProjectedItem, Projection
from listsync.errors import FieldIssue, StateStoreError
from listsync.sync import AuditEntry, Intent, ListingState, Outcome, StateKey, StateStore
from listsync.sync._claim import claim
from listsync.sync._commit import GroupCommit
from listsync.sync._postgres import PostgresStateStore, display_url, lease_key
from listsync.sync._sqlite import open_state_store

KEY = StateKey("acme", "agency-a", "L-1")
FIRST = Projection(external_ref="L-1", fields={"price": 1, "text": "x" * 3000})

Opener = Callable[[], StateStore]


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One store's URL per backend (PostgreSQL: an empty migrated schema)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.sqlite'}"
    return str(request.getfixturevalue("migrated_postgres_url"))


@pytest.fixture
def opener(url: str) -> Iterator[Opener]:
    """Opens a store on the same state (a reopened store, or another worker's); all closed
    after the test."""
    opened: list[StateStore] = []

    def open_store() -> StateStore:
        store = open_state_store(url)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


def _sql(store: StateStore, query: str) -> list[tuple[object, ...]]:
    """`query` on the store's own connection; `{t}` is the tables' prefix."""
    prefix = "listsync_" if isinstance(store, PostgresStateStore) else ""
    db = store._db  # type: ignore[attr-defined]
    return list(db.execute(query.replace("{t}", prefix)).fetchall())


def _sent_seqs(store: StateStore) -> list[int]:
    """The positions of KEY's stored sent projection: 0 for the whole one, then the steps the
    state row's position folds (kept in the audit rows)."""
    pg = isinstance(store, PostgresStateStore)
    whole = _sql(store, "SELECT 0 FROM listsync_sent" if pg else "SELECT 0 FROM sent_projection")
    steps = _sql(
        store,
        f"SELECT a.sent_seq FROM {{t}}audit AS a JOIN {'listsync_state' if pg else 'listing_state'}"  # noqa: S608  (constant)
        " AS s ON a.sent_base = s.sent_base AND a.sent_seq BETWEEN 1 AND s.sent_steps "
        "WHERE a.step IS NOT NULL ORDER BY a.sent_seq",
    )
    return [int(str(seq)) for (seq,) in [*whole, *steps]]


def _item(key: str) -> ProjectedItem:
    return ProjectedItem(key=key, canonical_index=0, payload={"url": f"https://img/{key}.jpg"})


def _with_image(state: ListingState, key: str) -> ListingState:
    assert state.sent is not None
    sent = state.sent.model_copy(update={"media": (*state.sent.media, _item(key))})
    return state.with_sent(sent, part_way=True, item_ids={**state.item_ids, key: f"I-{key}"})


def test_state_round_trips(opener: Opener) -> None:
    """Everything saved for a listing reads back equal (projection, items, issues, times),
    from this store and from another one on the same state."""
    store = opener()
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
    for reader in (store, opener()):
        loaded = reader.get(KEY)
        assert loaded == state
        assert loaded is not None
        assert loaded.sent == sent
        assert loaded.sent_hash == sent.digest()
    assert isinstance(store, StateStore)


def test_records_are_per_account_ordered_and_filtered(opener: Opener) -> None:
    store = opener()
    for portal, account, ref in [("beta", "x", "L-1"), ("acme", "b", "L-1"), ("acme", "a", "L-2")]:
        store.save(ListingState(portal, account, ref, remote_id=f"{portal}{account}{ref}"))
    store.save(ListingState("acme", "a", "L-1", remote_id="1"))
    assert [s.key for s in store.records()] == [
        StateKey("acme", "a", "L-1"),
        StateKey("acme", "a", "L-2"),
        StateKey("acme", "b", "L-1"),
        StateKey("beta", "x", "L-1"),
    ]
    assert [s.account for s in store.records("L-1", portal="acme")] == ["a", "b"]
    assert store.get(StateKey("acme", "c", "L-1")) is None


def test_records_for_answers_a_window_as_records_does(opener: Opener) -> None:
    """`records_for` (the planner's window of listings) gives each listing's records as
    `records(ref)` does, in one look-up; a listing without records maps to []. The PostgreSQL
    store had no `records_for`, so the planner looked its listings up one by one."""
    store = opener()
    for portal, account, ref in [
        ("beta", "x", "L-1"),
        ("acme", "b", "L-1"),
        ("acme", "a", "L-2"),
        ("acme", "a", "L-1"),
        ("acme", "a", "L-3"),
    ]:
        state = ListingState(portal, account, ref, remote_id=f"{portal}{account}{ref}")
        store.save(state.with_sent(Projection(external_ref=ref, fields={"p": portal})))
    refs = ["L-2", "L-1", "L-none", "L-1"]
    batch = getattr(store, "records_for", None)
    assert batch is not None, f"{type(store).__name__} has no records_for"
    found = batch(refs)
    assert list(found) == ["L-2", "L-1", "L-none"]
    for ref in refs:
        assert found[ref] == list(store.records(ref))
    assert [s.key for s in found["L-1"]] == [
        StateKey("acme", "a", "L-1"),
        StateKey("acme", "b", "L-1"),
        StateKey("beta", "x", "L-1"),
    ]
    assert found["L-1"][0].sent == Projection(external_ref="L-1", fields={"p": "acme"})
    assert batch([]) == {}


def test_intents_are_durable_and_visible_to_another_worker(opener: Opener) -> None:
    """An intent journalled by one store is seen by a store opened later on the same state
    (another worker recovering it), and cleared by the save that records its operation."""
    store = opener()
    item = _item("k")
    op = Operation(kind=OpKind.MEDIA_ADD, key="k", payload={"url": "u"})
    intent_id = store.add_intent(Intent(KEY, op, item=item, run_id="r1"))
    store.close()
    other = opener()
    (intent,) = other.intents(KEY)
    assert (intent.id, intent.op, intent.item, intent.run_id) == (intent_id, op, item, "r1")
    other.save(ListingState(*KEY), clear_intent=intent_id)
    assert other.intents(KEY) == []
    assert opener().intents(KEY) == []


def test_save_journals_the_next_intent_in_place(opener: Opener) -> None:
    store = opener()
    create = Operation(kind=OpKind.CREATE, payload={"price": 1})
    image = Operation(kind=OpKind.MEDIA_ADD, key="a", payload={"url": "u"})
    first = store.add_intent(Intent(KEY, create, run_id="r"))
    state = ListingState(*KEY, remote_id="R1").with_sent(FIRST)
    second = store.save(state, clear_intent=first, intent=Intent(KEY, image, item=_item("a")))
    (pending,) = store.intents(KEY)
    assert (pending.id, pending.op, pending.item) == (second, image, _item("a"))
    assert store.save(state, clear_intent=second) is None
    assert store.intents(KEY) == []
    third = store.save(state, intent=Intent(KEY, create))
    other = StateKey("acme", "agency-b", "L-1")
    assert store.save(ListingState(*other), clear_intent=third, intent=Intent(other, image))
    assert [i.op for i in store.intents(KEY)] == []  # another key's intent is never reused
    assert [i.op for i in store.intents(other)] == [image]


def test_audit_trail_is_per_listing_and_ordered(opener: Opener) -> None:
    store = opener()
    for n in range(3):
        store.save(ListingState(*KEY), audit=AuditEntry(KEY, f"op{n}", "ok", "run", f"req{n}"))
    beta = StateKey("beta", "x", "L-1")
    store.save(ListingState(*beta), audit=AuditEntry(beta, "create", "ok", message="m"))
    trail = store.audit("L-1", portal="acme")
    assert [(a.operation, a.request_id, a.run_id) for a in trail] == [
        ("op0", "req0", "run"),
        ("op1", "req1", "run"),
        ("op2", "req2", "run"),
    ]
    assert len(store.audit("L-1")) == 4
    assert [a.operation for a in store.audit("L-1", limit=2)] == ["op2", "create"]
    assert store.audit("L-1")[-1].message == "m"


def test_part_way_states_are_steps_read_back_whole(opener: Opener) -> None:
    """Between two operations only a step is written; another store reads the record folded
    back to the last state; converged, it is written whole again."""
    store = opener()
    state = ListingState(*KEY, remote_id="R1").with_sent(FIRST)
    store.save(state)
    for key in ("a", "b", "c"):
        state = _with_image(state, key)
        store.save(state)
    assert _sent_seqs(store) == [0, 1, 2, 3]
    reader = opener()
    loaded = reader.get(KEY)
    assert loaded == state
    assert loaded is not None
    assert loaded.sent == state.sent
    assert loaded.item_ids == {"a": "I-a", "b": "I-b", "c": "I-c"}
    assert loaded.sent_hash is None
    assert state.sent is not None
    reader.save(_with_image(loaded, "d").with_sent(state.sent))
    assert _sent_seqs(reader) == [0]
    assert opener().get(KEY).sent == state.sent  # type: ignore[union-attr]


def test_a_step_from_a_position_the_store_left_is_written_whole(opener: Opener) -> None:
    store = opener()
    store.save(ListingState(*KEY).with_sent(FIRST))
    loaded = store.get(KEY)
    assert loaded is not None
    one, other = _with_image(loaded, "one"), _with_image(loaded, "other")
    for state in (one, other, _with_image(one, "two"), _with_image(other, "three")):
        store.save(state)
        assert store.get(KEY) == state
        assert store.get(KEY).sent == state.sent  # type: ignore[union-attr]


def test_an_operation_is_one_audit_row_holding_its_step(opener: Opener) -> None:
    """A part-way operation writes its audit entry and its step as one row (no row of its
    own for the step); the audit trail reads as before; a step saved without an entry is
    kept for the record but is no audit entry."""
    store = opener()
    state = ListingState(*KEY, remote_id="R1").with_sent(FIRST)
    store.save(state, audit=AuditEntry(KEY, "create", "ok", "run-1", "req-0"))
    rows_before = len(_sql(store, "SELECT id FROM {t}audit"))
    state = _with_image(state, "a")
    store.save(state, audit=AuditEntry(KEY, "media_add a", "ok", "run-1", "req-1"))
    assert len(_sql(store, "SELECT id FROM {t}audit")) == rows_before + 1
    state = _with_image(state, "b")
    store.save(state)  # a step without an entry
    assert _sent_seqs(store) == [0, 1, 2]
    trail = store.audit("L-1")
    assert [(e.operation, e.outcome, e.run_id, e.request_id) for e in trail] == [
        ("create", "ok", "run-1", "req-0"),
        ("media_add a", "ok", "run-1", "req-1"),
    ]
    assert [e.key for e in trail] == [KEY, KEY]
    assert opener().get(KEY).sent == state.sent  # type: ignore[union-attr]


def test_a_position_written_again_folds_its_newest_step(opener: Opener) -> None:
    """A new projection saved twice with a step between (the store back at its position)
    and then a step again: the record folds the newest step only, not the abandoned one
    (steps are never deleted now: they are audit rows)."""
    store = opener()
    whole = ListingState(*KEY, remote_id="R1").with_sent(FIRST)
    store.save(whole)
    store.save(_with_image(whole, "abandoned"))
    store.save(whole)
    again = _with_image(whole, "kept")
    store.save(again)
    for reader in (store, opener()):
        loaded = reader.get(KEY)
        assert loaded is not None
        assert loaded.sent == again.sent
        assert loaded.item_ids == {"kept": "I-kept"}
    later = _with_image(again, "more")
    store.save(later)
    assert opener().get(KEY).sent == later.sent  # type: ignore[union-attr]


def test_a_listing_whose_projection_is_dropped_keeps_no_rows(opener: Opener) -> None:
    store = opener()
    state = _with_image(ListingState(*KEY, remote_id="R").with_sent(FIRST), "a")
    store.save(ListingState(*KEY, remote_id="R").with_sent(FIRST))
    store.save(state)
    store.save(state.with_sent(None, status=PortalStatus.DELETED))
    assert _sent_seqs(store) == []
    assert store.get(KEY).sent is None  # type: ignore[union-attr]


def test_transaction_commits_together_or_not_at_all(opener: Opener) -> None:
    store, reader = opener(), opener()
    with store.transaction():
        store.save(ListingState("acme", "a", "L-1"))
        store.save(ListingState("acme", "a", "L-2"))
        assert reader.get(StateKey("acme", "a", "L-1")) is None  # not committed yet
    assert len(list(reader.records())) == 2

    def failing_block() -> None:
        with store.transaction():
            store.save(ListingState("acme", "a", "L-3"))
            store.add_intent(Intent(StateKey("acme", "a", "L-3"), Operation(kind=OpKind.CREATE)))
            raise RuntimeError("the block failed")

    with pytest.raises(RuntimeError):
        failing_block()
    assert reader.get(StateKey("acme", "a", "L-3")) is None
    assert store.intents(StateKey("acme", "a", "L-3")) == []
    store.save(ListingState("acme", "a", "L-4"))  # the store goes on after a rollback
    assert reader.get(StateKey("acme", "a", "L-4")) is not None


async def test_group_commit_records_every_listing(opener: Opener) -> None:
    """Saves of several listings in one turn of the event loop are committed together, and
    each listing gets its own result (the id of its next intent)."""
    store = opener()
    commits = GroupCommit(store)
    create = Operation(kind=OpKind.CREATE)

    async def write(ref: str) -> int | None:
        key = StateKey("acme", "a", ref)
        with commits.writing():
            await asyncio.sleep(0)
            return await commits.save(
                ListingState(*key, remote_id=f"R-{ref}"),
                audit=AuditEntry(key, "create", "ok"),
                intent=Intent(key, create),
            )

    refs = [f"L-{n}" for n in range(6)]
    ids = await asyncio.gather(*(write(ref) for ref in refs))
    reader = opener()
    for ref, intent_id in zip(refs, ids, strict=True):
        key = StateKey("acme", "a", ref)
        assert reader.get(key).remote_id == f"R-{ref}"  # type: ignore[union-attr]
        assert [i.id for i in reader.intents(key)] == [intent_id]
    assert len(set(ids)) == len(refs)


def test_claim_is_held_by_one_store_at_a_time(opener: Opener, url: str) -> None:
    """PostgreSQL: a listing claimed by one store is refused to another (and to a second
    claim of the same store) until released; other listings are free. SQLite, whose writer
    lease covers the whole store, always grants it."""
    first, second = opener(), opener()
    shared = url.startswith("postgresql")
    with claim(first, KEY) as held:
        assert held
        with claim(second, KEY) as other, claim(first, KEY) as again:
            assert (other, again) == ((False, False) if shared else (True, True))
        with claim(second, StateKey("acme", "agency-a", "L-2")) as free:
            assert free
    with claim(second, KEY) as after:
        assert after


def test_a_claim_without_the_method_is_held() -> None:
    class Legacy:
        pass

    with claim(Legacy(), KEY) as held:  # type: ignore[arg-type]
        assert held


# -- PostgreSQL only ---------------------------------------------------------------------------
def test_postgres_writers_do_not_block_each_other(migrated_postgres_url: str) -> None:
    one = open_state_store(migrated_postgres_url)
    two = open_state_store(migrated_postgres_url)
    with one.writer("run-1"), two.writer("run-2"):
        one.save(ListingState(*KEY))
        two.save(ListingState("acme", "b", "L-1"))
    names = one._db.execute(
        "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'listsync%'"
    ).fetchall()
    assert any("run-2" in name for (name,) in names)
    one.close()
    two.close()


def test_a_killed_holder_releases_its_claims(migrated_postgres_url: str) -> None:
    """A worker SIGKILLed while holding a listing's lease: the server ends its session and
    the lease with it, so the next worker gets the listing."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from listsync.sync import StateKey
        from listsync.sync._sqlite import open_state_store
        store = open_state_store({migrated_postgres_url!r})
        with store.claim(StateKey(*{tuple(KEY)!r})) as held:
            print(held, flush=True)
            time.sleep(600)
        """
    )
    holder = subprocess.Popen(  # noqa: S603  (this interpreter)
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "True"
        store = open_state_store(migrated_postgres_url)
        with store.claim(KEY) as held:
            assert not held
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        for _ in range(100):  # the backend notices the closed socket within milliseconds
            with store.claim(KEY) as held:
                if held:
                    break
            store._db.execute("SELECT pg_sleep(0.05)")
        assert held
        store.close()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_lease_keys_are_stable_and_distinct() -> None:
    assert lease_key(KEY) == lease_key(StateKey("acme", "agency-a", "L-1"))
    assert lease_key(KEY) != lease_key(StateKey("acme", "agency-aL", "-1"))
    assert -(2**63) <= lease_key(KEY) < 2**63


def test_server_down_is_one_line() -> None:
    """No server at the URL: one StateStoreError naming the database, without the password,
    saying what to do (the CLI exits 2 on it)."""
    port = _free_port()
    url = f"postgresql://listsync:s3cret-pw@127.0.0.1:{port}/listsync"
    with pytest.raises(StateStoreError) as caught:
        open_state_store(url)
    message = str(caught.value)
    assert message.startswith(f"state store postgresql://listsync@127.0.0.1:{port}/listsync ")
    assert "cannot be reached" in message
    assert "check that PostgreSQL is running" in message
    assert "\n" not in message
    assert "s3cret" not in message


def test_connection_lost_mid_run_stops_writes_at_once(migrated_postgres_url: str) -> None:
    """The server ends the store's session (a restart, a failover): the next write is one
    StateStoreError, and every later write gets the same error at once."""
    store = open_state_store(migrated_postgres_url)
    assert isinstance(store, PostgresStateStore)
    store.save(ListingState(*KEY))
    pid = store._db.info.backend_pid
    with psycopg.connect(migrated_postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(StateStoreError, match="cannot be reached") as caught:
        store.save(ListingState(*KEY, remote_id="R"))
    assert "\n" not in str(caught.value)
    with pytest.raises(StateStoreError) as again:
        store.add_intent(Intent(KEY, Operation(kind=OpKind.CREATE)))
    assert again.value is caught.value
    reopened = open_state_store(migrated_postgres_url)
    assert reopened.get(KEY).remote_id is None  # type: ignore[union-attr]
    reopened.close()


def test_unmigrated_database_is_refused_naming_the_command(postgres_url: str) -> None:
    with pytest.raises(StateStoreError, match=r"run `listsync state upgrade`"):
        open_state_store(postgres_url)
    read_only = open_state_store(postgres_url, create=False)
    assert read_only.exists is False
    assert read_only.get(KEY) is None
    assert list(read_only.records()) == []
    assert read_only.audit("L-1") == []
    with pytest.raises(StateStoreError, match="listsync state upgrade"):
        read_only.save(ListingState(*KEY))
    read_only.close()


def test_auto_migrate_migrates_on_first_use(postgres_url: str) -> None:
    store = open_state_store(postgres_url, auto_migrate=True)
    assert isinstance(store, PostgresStateStore)
    store.save(ListingState(*KEY))
    assert store.get(KEY) is not None
    store.close()


def test_display_url_hides_password_and_query() -> None:
    url = "postgresql://u:pw@db.internal:6543/listsync?password=pw2&sslmode=require"
    assert display_url(url) == "postgresql://u@db.internal:6543/listsync"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
