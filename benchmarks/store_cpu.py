"""CPU per state store operation in this process: SQLite, PostgreSQL through psycopg (the
store), and the same statements through SQLAlchemy Core, on a loopback PostgreSQL.

    .venv/bin/python benchmarks/store_cpu.py [--listings 2000] [--repeat 3]

For each of N listings, in order: `add_intent`, a whole `save` (a converged listing with a 3 KB
projection, its audit entry, the intent cleared), `get`, `intents`. Each operation is timed
with `time.process_time()` (this process only: PostgreSQL's own work is in its server process,
SQLite's is in this one). Best of `--repeat` rounds, each on an empty store; the last line is
JSON. PostgreSQL comes from `LISTSYNC_TEST_POSTGRES_URL` or is started by
`scripts/services.py` for the run.

SQLAlchemy Core runs the store's own SQL: `Table` constructs for the four statements the
operations use, compiled once and cached by SQLAlchemy, on one open connection
(`postgresql+psycopg`, so the driver underneath is the same psycopg).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from listsync.adapter import Operation, OpKind, Projection
from listsync.migrations import upgrade
from listsync.sync import AuditEntry, Intent, ListingState, StateKey, StateStore
from listsync.sync._sqlite import open_state_store
from listsync.sync._sqlrows import audit_to_row, intent_values, state_to_row

ROOT = Path(__file__).resolve().parent.parent
OPS = ("add_intent", "save", "get", "intents")


def services_module() -> Any:
    spec = importlib.util.spec_from_file_location("services", ROOT / "scripts" / "services.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["services"] = module
    spec.loader.exec_module(module)
    return module


@contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server URL: the environment's, or one started for this run."""
    if os.environ.get("LISTSYNC_TEST_POSTGRES_URL"):
        yield os.environ["LISTSYNC_TEST_POSTGRES_URL"]
        return
    with services_module().Services.start(redis=False) as services:
        yield services.postgres_url


@contextmanager
def fresh_schema(server: str) -> Iterator[str]:
    """A migrated schema of its own on `server` (dropped afterwards); its URL."""
    schema = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    glue = "&" if "?" in server else "?"
    url = f"{server}{glue}options={quote(f'-csearch_path={schema}')}"
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {schema} CASCADE")


def workload(n: int) -> list[tuple[StateKey, ListingState, Intent, AuditEntry]]:
    out = []
    for i in range(n):
        key = StateKey("hemnet", "agency", f"L-{i}")
        sent = Projection(external_ref=key.external_ref, fields={"price": i, "text": "x" * 3000})
        state = ListingState(*key, remote_id=f"R{i}").with_sent(sent)
        intent = Intent(key, Operation(kind=OpKind.CREATE, payload={"price": i}), run_id="run")
        out.append((key, state, intent, AuditEntry(key, "create", "ok", "run", f"req{i}")))
    return out


class CoreStore:
    """The four operations with SQLAlchemy Core on one connection (same SQL as the store)."""

    def __init__(self, url: str) -> None:
        scheme_rest = url.split("://", 1)[1]
        self.engine = sa.create_engine(f"postgresql+psycopg://{scheme_rest}")
        self.conn = self.engine.connect()
        meta = sa.MetaData()
        self.state = sa.Table("listsync_state", meta, autoload_with=self.conn)
        self.sent = sa.Table("listsync_sent", meta, autoload_with=self.conn)
        self.journal = sa.Table("listsync_journal", meta, autoload_with=self.conn)
        self.audit_t = sa.Table("listsync_audit", meta, autoload_with=self.conn)
        self.conn.commit()
        cols = [c.name for c in self.state.columns]
        self.state_cols = cols
        ins = pg_insert(self.state)
        self.upsert_state = ins.on_conflict_do_update(
            index_elements=["portal", "account", "external_ref"],
            set_={c: ins.excluded[c] for c in cols[3:]},
        )
        sent_ins = pg_insert(self.sent)
        self.upsert_sent = sent_ins.on_conflict_do_update(
            index_elements=["portal", "account", "external_ref", "seq"],
            set_={"data": sent_ins.excluded.data},
        )
        s, p = self.state, self.sent
        key = sa.and_(
            s.c.portal == sa.bindparam("k_portal"),
            s.c.account == sa.bindparam("k_account"),
            s.c.external_ref == sa.bindparam("k_ref"),
        )
        join = s.outerjoin(
            p,
            sa.and_(
                p.c.portal == s.c.portal,
                p.c.account == s.c.account,
                p.c.external_ref == s.c.external_ref,
                p.c.seq == 0,
            ),
        )
        self.get_state = sa.select(*s.c, p.c.data).select_from(join).where(key)
        j = self.journal
        self.select_intents = (
            sa.select(j.c.id, j.c.op_json, j.c.item_json, j.c.run_id, j.c.created_at)
            .where(
                j.c.portal == sa.bindparam("k_portal"),
                j.c.account == sa.bindparam("k_account"),
                j.c.external_ref == sa.bindparam("k_ref"),
            )
            .order_by(j.c.id)
        )
        self.insert_intent = sa.insert(j).returning(j.c.id)
        self.delete_intent = sa.delete(j).where(j.c.id == sa.bindparam("k_id"))
        self.delete_steps = sa.delete(p).where(
            p.c.portal == sa.bindparam("k_portal"),
            p.c.account == sa.bindparam("k_account"),
            p.c.external_ref == sa.bindparam("k_ref"),
            p.c.seq > 0,
        )

    @staticmethod
    def _key(key: StateKey) -> dict[str, str]:
        return {"k_portal": key.portal, "k_account": key.account, "k_ref": key.external_ref}

    def add_intent(self, intent: Intent) -> int:
        names = ("op_kind", "op_key", "op_json", "item_json", "run_id", "created_at")
        values = dict(zip(names, intent_values(intent), strict=True))
        values |= dict(zip(("portal", "account", "external_ref"), intent.key, strict=True))
        with self.conn.begin():
            return int(self.conn.execute(self.insert_intent, values).scalar_one())

    def save(self, state: ListingState, *, audit: AuditEntry, clear_intent: int) -> None:
        row = dict(zip(self.state_cols, state_to_row(state, 1), strict=True))
        names = ("at", "run_id", "portal", "account", "external_ref", "operation", "outcome")
        audit_row = dict(zip((*names, "request_id", "message"), audit_to_row(audit), strict=True))
        key = self._key(state.key)
        with self.conn.begin():
            self.conn.execute(self.upsert_state, row)
            self.conn.execute(self.delete_steps, key)
            self.conn.execute(
                self.upsert_sent,
                {
                    **dict(zip(("portal", "account", "external_ref"), state.key, strict=True)),
                    "seq": 0,
                    "data": state.sent_json,
                },
            )
            self.conn.execute(sa.insert(self.audit_t), audit_row)
            self.conn.execute(self.delete_intent, {"k_id": clear_intent})

    def get(self, key: StateKey) -> Any:
        with self.conn.begin():
            return self.conn.execute(self.get_state, self._key(key)).fetchone()

    def intents(self, key: StateKey) -> list[Any]:
        with self.conn.begin():
            return list(self.conn.execute(self.select_intents, self._key(key)))

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()


def one_round(store: Any, work: list[Any]) -> dict[str, float]:
    spent: dict[str, float] = defaultdict(float)
    clock = time.process_time
    for key, state, intent, audit in work:
        t0 = clock()
        intent_id = store.add_intent(intent)
        t1 = clock()
        store.save(state, audit=audit, clear_intent=intent_id)
        t2 = clock()
        store.get(key)
        t3 = clock()
        store.intents(key)
        t4 = clock()
        spent["add_intent"] += t1 - t0
        spent["save"] += t2 - t1
        spent["get"] += t3 - t2
        spent["intents"] += t4 - t3
    return spent


def measure(
    name: str, opener: Callable[[], Iterator[Any]], work: list[Any], repeat: int
) -> dict[str, float]:
    best: dict[str, float] | None = None
    for _ in range(repeat):
        with contextmanager(opener)() as store:
            one_round(store, work[:50])  # warm up: prepared statements, caches
            spent = one_round(store, work[50:])
        if best is None or sum(spent.values()) < sum(best.values()):
            best = spent
    assert best is not None
    n = len(work) - 50
    per_op = {op: round(1e6 * best[op] / n, 1) for op in OPS}
    per_op["all"] = round(sum(per_op[op] for op in OPS), 1)
    print(f"{name:<22} " + "  ".join(f"{op} {per_op[op]:6.1f}" for op in (*OPS, "all")) + "  us")
    return per_op


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = workload(args.listings + 50)
    figures: dict[str, Any] = {"benchmark": "store_cpu", "listings": args.listings}
    print(f"CPU in this process per operation, best of {args.repeat}, {args.listings} listings")
    with tempfile.TemporaryDirectory(prefix="listsync-store-") as tmp, postgres_server() as pg:

        def sqlite() -> Iterator[StateStore]:
            path = Path(tmp, f"{secrets.token_hex(4)}.sqlite")
            store = open_state_store(f"sqlite:///{path}")
            yield store
            store.close()

        def psycopg_store() -> Iterator[StateStore]:
            with fresh_schema(pg) as url:
                store = open_state_store(url)
                yield store
                store.close()

        def core() -> Iterator[CoreStore]:
            with fresh_schema(pg) as url:
                store = CoreStore(url)
                yield store
                store.close()

        figures["sqlite_us"] = measure("sqlite (in process)", sqlite, work, args.repeat)
        figures["postgres_psycopg_us"] = measure(
            "postgres psycopg", psycopg_store, work, args.repeat
        )
        figures["postgres_sqlalchemy_us"] = measure("postgres SQLAlchemy", core, work, args.repeat)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
