"""`listsync apply FILE --via celery`: stream listings into chunk tasks, results back.

Each valid listing goes, once per portal it names, into the chunk of that (portal, account)
(routed with the configuration's accounts, as the workers route it); a chunk is sent when it
holds `chunk_size` listings, and at most `in_flight` chunks wait at once, so memory stays flat
however long the input. A listing's removals from portals it no longer names are planned with
its first chunk (or in a chunk of their own when it names none). Invalid lines never leave
this process. Results come back as `EntryResult.to_json()` dicts and are turned back into
`EntryResult`s (`result_from_json`) for the same progress display, table and report as a local
run. A chunk whose task failed (its worker raised, or the broker lost it) gives a `failed`
result for each of its listings.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from celery import Celery, states
from celery.result import AsyncResult

from listsync.adapter import PortalStatus
from listsync.errors import FieldIssue, InvalidListingError
from listsync.model import Listing
from listsync.sync import (
    Action,
    BlockedEntry,
    EntryResult,
    FailedEntry,
    InvalidEntry,
    Outcome,
    PlanEntry,
    PlannedEntry,
    SourceItem,
)

__all__ = ["ChunkFailure", "dispatch", "result_from_json"]

Route = Callable[[str, str], str | None]
"""`route(portal, agency_ref)`: the account serving an agency on a portal."""


class ChunkFailure(Exception):  # noqa: N818  (a value, not raised)
    """Why a chunk has no results (its task failed)."""


@dataclass
class _Chunk:
    portal: str
    account: str
    items: list[list[Any]] = field(default_factory=list)
    task: AsyncResult[Any] | None = None


def dispatch(
    source: Iterable[SourceItem],
    *,
    route: Route,
    portals: Collection[str] | None = None,
    chunk_size: int = 50,
    in_flight: int = 16,
    celery: Celery | None = None,
    poll: float = 0.02,
) -> Iterator[EntryResult]:
    """Send `source` to the workers in chunks; yield every result as it comes back."""
    from listsync.celery._tasks import apply_chunk  # noqa: PLC0415  (registers the task)

    sender = apply_chunk.app if celery is None else celery
    only = set(portals) if portals else None
    open_chunks: dict[tuple[str, str], _Chunk] = {}
    waiting: list[_Chunk] = []
    looked = 0.0  # when the results were last looked for while reading

    def send(chunk: _Chunk) -> Iterator[EntryResult]:
        chunk.task = sender.send_task(
            apply_chunk.name, args=(chunk.portal, chunk.account, chunk.items)
        )
        waiting.append(chunk)
        while len(waiting) >= in_flight:
            yield from _collect(waiting, poll)

    for item in source:
        line, parsed = item if isinstance(item, tuple) else (None, item)
        if isinstance(parsed, InvalidListingError):
            yield _invalid(parsed, line)
            continue
        for key, removals in _keys(parsed, route, only):
            chunk = open_chunks.setdefault(key, _Chunk(*key))
            chunk.items.append([line, parsed.model_dump(mode="json"), removals])
            if len(chunk.items) >= chunk_size:
                del open_chunks[key]
                yield from send(chunk)
        if waiting and time.monotonic() - looked >= poll:  # at most once per `poll` seconds
            looked = time.monotonic()
            yield from _collect(waiting, 0.0)
    for chunk in list(open_chunks.values()):
        yield from send(chunk)
    while waiting:
        yield from _collect(waiting, poll)


def _keys(
    listing: Listing, route: Route, only: set[str] | None
) -> list[tuple[tuple[str, str], bool]]:
    """The chunks of one listing: one per selected portal, the first also planning removals
    (only without a portal filter)."""
    wanted = [p for p in listing.portals if only is None or p in only]
    keys = [((p, route(p, listing.agency.external_ref) or ""), False) for p in wanted]
    if only is None:
        if keys:
            keys[0] = (keys[0][0], True)
        else:
            keys = [(("", ""), True)]
    return keys


def _collect(waiting: list[_Chunk], poll: float) -> Iterator[EntryResult]:
    """Results of the chunks that are done (waiting `poll` seconds when none is and
    `poll` > 0)."""
    while True:
        done = _done(waiting)
        if done or poll <= 0:
            break
        time.sleep(poll)
    for chunk in done:
        waiting.remove(chunk)
        assert chunk.task is not None  # noqa: S101  (sent chunks have a task)
        try:
            answers = chunk.task.get(propagate=True, disable_sync_subtasks=False)
        except Exception as exc:
            yield from _failed(chunk, exc)
        else:
            yield from (result_from_json(a) for a in answers)
        finally:
            chunk.task.forget()


def _done(waiting: list[_Chunk]) -> list[_Chunk]:
    """The chunks whose task is finished: with a Redis result backend, one `MGET` of their
    result keys (each `AsyncResult.ready()` is a round trip of its own, and the client looks
    every `poll` seconds); with another backend, `ready()` per chunk."""
    tasks = [(c, c.task) for c in waiting if c.task is not None]
    if not tasks:
        return []
    backend: Any = tasks[0][1].backend  # `mget` is the key-value backends' (celery-types lacks it)
    metas = None
    if hasattr(backend, "get_key_for_task"):
        keys = [backend.get_key_for_task(t.id) for _, t in tasks]
        with contextlib.suppress(NotImplementedError):  # a key-value backend without MGET
            metas = backend.mget(keys)
        if isinstance(metas, dict):  # the cache backends answer {key: value}
            metas = [metas.get(k) for k in keys]
    if metas is None:
        return [c for c, t in tasks if t.ready()]
    return [
        c
        for (c, _), raw in zip(tasks, metas, strict=True)
        if raw is not None and backend.decode_result(raw).get("status") in states.READY_STATES
    ]


def _failed(chunk: _Chunk, exc: Exception) -> Iterator[EntryResult]:
    error = ChunkFailure(f"the worker's task failed: {type(exc).__name__}: {exc}")
    for line, data, _removals in chunk.items:
        entry = FailedEntry(
            str(data.get("external_ref")),
            chunk.portal,
            chunk.account or None,
            type(exc).__name__,
            str(error),
            line,
        )
        yield EntryResult(entry, Outcome.FAILED, error_class=entry.error_class,
                          error_message=entry.message)  # fmt: skip


def _invalid(exc: InvalidListingError, line: int | None) -> EntryResult:
    entry = InvalidEntry(
        external_ref=exc.external_ref or f"line {line}",
        issues=exc.issues,
        message=str(exc),
        line=line,
    )
    return EntryResult(entry, Outcome.INVALID, issues=entry.issues)


def result_from_json(data: dict[str, Any]) -> EntryResult:
    """An `EntryResult` whose `to_json()` is `data` (a worker's result)."""
    issues = tuple(FieldIssue.model_validate(i) for i in data.get("issues", ()))
    ref, portal, account = data["external_ref"], data.get("portal") or "", data.get("account")
    line = data.get("line")
    action = Action(data["action"])
    error = data.get("error") or {}
    entry: PlanEntry
    if action is Action.INVALID:
        entry = InvalidEntry(ref, issues, error.get("message") or "", line)
    elif action is Action.BLOCKED:
        entry = BlockedEntry(ref, portal, account, issues, line)
    elif action is Action.FAILED:
        entry = FailedEntry(ref, portal, account, error.get("class") or "", "", line, issues)
    else:
        entry = PlannedEntry(
            external_ref=ref,
            portal=portal,
            account=account or "",
            action=action,
            operations=(),
            desired=None,  # type: ignore[arg-type]  # never read: a finished result
            sent=None,
            base_hash=None,
            listing=None,
            issues=issues,
            line=line,
        )
    status = data.get("status")
    return EntryResult(
        entry,
        Outcome(data["outcome"]),
        done=tuple(data.get("operations", ())),
        error_class=error.get("class"),
        error_message=error.get("message"),
        issues=issues,
        remote_id=data.get("remote_id"),
        status=PortalStatus(status) if status else None,
        is_visible=data.get("is_visible"),
        is_approved=data.get("is_approved"),
        approval_url=data.get("approval_url"),
    )
