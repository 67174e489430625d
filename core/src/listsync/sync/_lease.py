"""One writer per state store: an exclusive lease held by the run that applies.

Two runs applying from one state at once both see a listing without a remote id and both
create it: a duplicate on a public portal that the state, which keeps one id, then orphans.
So a run that applies first takes the store's writer lease, and a second run waits for it (up
to a setting) or stops with `StateLockedError` naming the holder.

The lease is `flock(LOCK_EX)` on a lock file next to the database (`state.sqlite.lock`), from
the standard library rather than a locking package: the operating system releases it when the
process ends, however it ends (SIGKILL included), so a crashed run never leaves a stale lock
for an operator to clear by hand. `flock` locks belong to an open file, not to a process, so
two stores opened on one file in the same process exclude each other too (unlike `fcntl`
record locks, which a process shares and loses when any of its descriptors of the file is
closed). The holder writes its pid, host, start time and run id into the lock file for the
message a waiting run prints; the file is emptied on release and never deleted (deleting a
lock file that another process has open lets two runs lock two different files).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

from listsync.errors import StateLockedError, StateStoreError
from listsync.sync._store import StateStore

__all__ = ["FileLease", "describe_holder", "writer_lease"]

_POLL_SECONDS = 0.05


class FileLease:
    """An exclusive, re-entrant lease on `path` (created 0600 when missing).

    Args:
        path: the lock file.
        store: the state store's name for messages (its database file).
    """

    def __init__(self, path: str, store: str) -> None:
        self.path = path
        self.store = store
        self._fd: int | None = None
        self._depth = 0

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, run_id: str | None = None, *, wait: float = 0.0) -> None:
        """Take the lease, waiting up to `wait` seconds for another holder to let go.

        Raises:
            StateLockedError: another run still holds it after `wait` seconds.
            StateStoreError: the lock file cannot be created or locked.
        """
        if self._fd is not None:
            self._depth += 1
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StateStoreError(
                f"state store {self.store}: cannot create its lock file {self.path} "
                f"({exc.strerror}): give this user write access to the folder",
                path=self.store,
                reason=exc.strerror or "",
            ) from None
        try:
            self._lock(fd, wait)
            _write_holder(fd, run_id)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._depth = fd, 1

    def _lock(self, fd: int, wait: float) -> None:
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    holder = _read_holder(fd)
                    if holder is None and time.monotonic() < deadline + _DESCRIBE_SECONDS:
                        # The holder has just locked and not written its details yet (or is
                        # letting go): look again shortly rather than say "holder unknown".
                        time.sleep(_POLL_SECONDS)
                        continue
                    waited = f" after waiting {wait:g} s" if wait > 0 else ""
                    raise StateLockedError(
                        f"state store {self.store} is in use by another run "
                        f"({describe_holder(holder)}){waited}: let that run finish, then run "
                        "again",
                        path=self.store,
                        holder=holder,
                    ) from None
                time.sleep(min(_POLL_SECONDS, left))
            except OSError as exc:  # e.g. a file system without locks
                raise StateStoreError(
                    f"state store {self.store}: cannot lock {self.path} ({exc.strerror})",
                    path=self.store,
                    reason=exc.strerror or "",
                ) from None
            else:
                return

    def release(self) -> None:
        """Let go of the lease (once per `acquire`); the holder's details are erased."""
        if self._fd is None:
            return
        self._depth -= 1
        if self._depth > 0:
            return
        fd, self._fd = self._fd, None
        try:
            with contextlib.suppress(OSError):  # only the message of a waiting run suffers
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the last descriptor releases the lock


_DESCRIBE_SECONDS = 1.0
"""How long past its wait a run keeps looking for the holder's details before it gives up."""


def _write_holder(fd: int, run_id: str | None) -> None:
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "run_id": run_id,
    }
    data = json.dumps(holder).encode()
    with contextlib.suppress(OSError):  # the lease holds without its description
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)


def _read_holder(fd: int) -> dict[str, Any] | None:
    """The holder's details from the lock file, None when unreadable (being written)."""
    try:
        data = os.pread(fd, 4096, 0)
        holder = json.loads(data)
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def describe_holder(holder: dict[str, Any] | None) -> str:
    """`pid 123 on host h, run abc, started 2026-01-01T10:00:00+00:00` (what is known)."""
    if not holder:
        return "holder unknown"
    parts = [f"pid {holder.get('pid')} on host {holder.get('host')}"]
    if holder.get("run_id"):
        parts.append(f"run {holder['run_id']}")
    if holder.get("started"):
        parts.append(f"started {holder['started']}")
    return ", ".join(parts)


@contextlib.asynccontextmanager
async def writer_lease(store: StateStore, run_id: str, *, wait: float) -> AsyncIterator[None]:
    """Hold `store.writer(run_id)` around a run, waiting up to `wait` seconds for another
    holder without blocking the event loop (and without leaving a lease behind when the
    waiting task is cancelled).

    A store written before `StateStore.writer` existed (no such method) gets no lease: its
    owner keeps to one run at a time.

    Raises:
        StateLockedError: another run still holds the lease after `wait` seconds.
    """
    if getattr(store, "writer", None) is None:
        yield
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(wait, 0.0)
    while True:
        lease = store.writer(run_id)
        try:
            lease.__enter__()
        except StateLockedError:
            if loop.time() >= deadline:
                raise
            await asyncio.sleep(_POLL_SECONDS)
        else:
            break
    try:
        yield
    finally:
        lease.__exit__(None, None, None)
