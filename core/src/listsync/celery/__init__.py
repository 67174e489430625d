"""Celery workers for listsync (`pip install listsync[celery]`; Redis as broker and result
backend): `celery -A listsync.celery worker` or `listsync worker`.

Tasks (by name, for `app.send_task` from an application that does not import listsync):

- `listsync.apply_chunk(portal, account, items)`: apply a chunk of listings on one portal
  account; `items` are `[line, listing dict, removals]` triples (`removals`: also take the
  listing off the portals it no longer names). Returns the `EntryResult.to_json()` dicts.
  `listsync apply FILE --via celery` streams a file into these (`listsync.celery.dispatch`).
- `listsync.push_now(listing)`: apply one listing on every portal it names now (a CRM's "push
  this listing" button); returns its results like `Syndicator.sync`.

The configuration is the one `listsync` reads (`LISTSYNC_CONFIG` names the file, default
`./listsync.toml`, plus `LISTSYNC_*` variables): `[shared] redis_url` (or `broker_url`) is the
broker; the state store should be PostgreSQL when workers run on several machines. Every worker
process keeps one `Syndicator` (adapters, HTTP connection pools, limits) for all its tasks.
Tasks are acknowledged late and rejected when their worker is lost, so a chunk whose worker
died is handed to another worker; the per-listing lease of the state store keeps two workers
off one listing. See docs/scaling.md.
"""

from __future__ import annotations

from listsync.celery._app import CONFIG_VAR, app
from listsync.celery._client import ChunkFailure, dispatch, result_from_json
from listsync.celery._tasks import apply_chunk, push_now

__all__ = [
    "CONFIG_VAR",
    "ChunkFailure",
    "app",
    "apply_chunk",
    "dispatch",
    "push_now",
    "result_from_json",
]
