"""The per-listing lease, for stores that have one (`StateStore.claim`).

`claim(store, key)` is `store.claim(key)` when the store has the method, and a lease always
held otherwise: a `StateStore` written before `claim` existed keeps to one writer at a time
through `writer()`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from listsync.sync._store import StateKey, StateStore

__all__ = ["claim"]


def claim(store: StateStore, key: StateKey) -> AbstractContextManager[bool]:
    """The lease on one listing: a context manager giving True when it is held."""
    method = getattr(store, "claim", None)
    if method is None:
        return nullcontext(True)
    lease: AbstractContextManager[bool] = method(key)
    return lease
