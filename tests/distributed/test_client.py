"""`--via celery`'s client looks for finished chunks on a real Redis result backend: one `MGET`
for all the chunks it waits for, not one round trip per chunk."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery, states
from celery.result import AsyncResult

from listsync.celery._app import make_app
from listsync.celery._client import _Chunk, _done

from .cluster import flush


@pytest.fixture
def app(redis_url: str) -> Iterator[Celery]:
    url = redis_url.rsplit("/", 1)[0] + "/1"  # a database of its own: the workers' tests flush 0
    flush(url)
    celery = make_app(None)
    celery.conf.update(broker_url=url, result_backend=url)
    yield celery
    celery.close()


def _chunks(app: Celery, count: int) -> list[_Chunk]:
    chunks = []
    for _ in range(count):
        chunk = _Chunk("hemnet", "norrmalm")
        chunk.task = AsyncResult(uuid.uuid4().hex, app=app)
        chunks.append(chunk)
    return chunks


def test_finished_chunks_are_found_in_one_round_trip(
    app: Celery, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.connection import AbstractConnection

    chunks = _chunks(app, 5)
    backend: Any = app.backend
    backend.store_result(chunks[1].task.id, [], states.SUCCESS)  # type: ignore[union-attr]
    backend.store_result(chunks[3].task.id, None, states.FAILURE)  # type: ignore[union-attr]
    backend.store_result(chunks[4].task.id, None, states.STARTED)  # type: ignore[union-attr]
    assert _done(chunks) == [chunks[1], chunks[3]]  # connects; STARTED is not finished
    trips = 0
    send = AbstractConnection.send_packed_command

    def counted(conn: Any, command: Any, check_health: bool = True) -> None:
        nonlocal trips
        trips += 1
        send(conn, command, check_health)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    assert _done(chunks) == [chunks[1], chunks[3]]
    assert trips == 1  # was one GET per chunk: 5
    assert _done([]) == []


def test_other_key_value_backends(app: Celery) -> None:
    app.conf.update(result_backend="cache+memory://")  # its MGET answers a dict
    chunks = _chunks(app, 3)
    backend: Any = app.backend
    backend.store_result(chunks[2].task.id, [], states.SUCCESS)  # type: ignore[union-attr]
    assert _done(chunks) == [chunks[2]]
