"""The SQLite state store's file: where it may be, how it is created and opened, and what its
failures mean to an operator.

Every failure of the file (SQLite's or the operating system's) becomes one `StateStoreError`
whose message names the file and says what to do: `state store /x/state.sqlite is damaged
(database disk image is malformed): restore it from a backup ...`. A run stops on it, and no
traceback reaches the console.

Creating: folders listsync creates are 0700, the database 0600 (SQLite gives its `-wal` and
`-shm` files the database's mode). A new database is built under a temporary name and linked
into place complete, so a file listsync left at the store's path is never empty: an existing
0-byte file is a damaged store (a truncated copy, a full disk), refused rather than silently
started afresh, which would send every listing again as new.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from listsync.errors import ConfigurationError, StateStoreError

__all__ = [
    "MEMORY",
    "connect",
    "create_file",
    "damaged",
    "file_identity",
    "path_of_url",
    "rescue",
    "store_error",
]

MEMORY = ":memory:"
_PREFIX = "sqlite:///"
_RESTORE = "restore it from a backup (an empty store would send every listing again)"


def path_of_url(url: str, *, create: bool) -> str:
    """The file a `sqlite:///path` URL names.

    Raises:
        ConfigurationError: another scheme.
        StateStoreError: no path, or `:memory:` where state must outlive the run (`create`).
    """
    if not url.startswith(_PREFIX):
        raise ConfigurationError(
            f"unsupported state URL {url!r} (expected sqlite:///path)", key="state.url"
        )
    path = url.removeprefix(_PREFIX)
    if not path.strip():
        raise StateStoreError(
            f"state URL {url!r} names no file: give one, e.g. sqlite:///listsync-state.sqlite",
            reason="no path",
        )
    if path == MEMORY and create:
        raise StateStoreError(
            f"state URL {url!r} keeps no state between runs (every run would send every "
            "listing again as new): give a file, e.g. sqlite:///listsync-state.sqlite",
            reason="in memory",
        )
    return path


def create_file(path: str, init: Callable[[sqlite3.Connection], None]) -> None:
    """Make sure a database exists at `path`: folders 0700, file 0600, built by `init` under a
    temporary name and linked into place complete (another process creating it at the same
    time wins; its file is used).

    Raises:
        StateStoreError: the folder or file cannot be created.
    """
    target = Path(path)
    try:
        _make_folders(target.parent)
        if target.exists():
            return
        _refuse_orphan_log(path)
        temp = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.new")
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            db = sqlite3.connect(temp, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                init(db)
            finally:
                db.close()
            try:
                os.link(temp, target)  # fails when another process made it first: keep theirs
            except FileExistsError:
                pass
            except OSError:  # a file system without hard links
                if not target.exists():
                    os.replace(temp, target)
        finally:
            _remove(temp)
    except (OSError, sqlite3.Error) as exc:
        raise store_error(path, exc) from None


def _refuse_orphan_log(path: str) -> None:
    """A write-ahead log without its database: the store was deleted, perhaps while in use.

    SQLite would read that log as part of a new database at the same path (the log does not
    say which file it belongs to), so a new store is not created beside it.
    """
    log = Path(f"{path}-wal")
    if log.exists() and log.stat().st_size > 0:
        raise StateStoreError(
            f"state store {path} is missing but its write-ahead log {log.name} is there (the "
            f"store was deleted): {_RESTORE}, or delete {log.name} and {Path(path).name}-shm "
            "to start a new store",
            path=path,
            reason="missing, its log left",
        )


def _make_folders(folder: Path) -> None:
    """Create `folder` and its missing parents 0700 (`mkdir(parents=True)` would give the
    parents the default mode)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for each in reversed(missing):
        each.mkdir(mode=0o700, exist_ok=True)


def _remove(path: Path) -> None:
    for each in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        each.unlink(missing_ok=True)


def connect(path: str, *, busy_timeout: float) -> sqlite3.Connection:
    """Open an existing database (never creates one), busy timeout first, then WAL.

    The busy timeout is set when the connection opens, before anything else, so that a
    second process starting at the same moment waits for the first instead of failing with
    `database is locked`; WAL is switched on only when the file is not in WAL mode yet (the
    mode is kept in the file).

    Raises:
        StateStoreError: the file is missing, unreadable, not a database or damaged.
    """
    if path != MEMORY:
        try:
            if os.path.getsize(path) == 0:
                raise StateStoreError(
                    f"state store {path} is an empty file (0 bytes), not a listsync state "
                    f"store: {_RESTORE}, or delete the file if nothing was ever applied with it",
                    path=path,
                    reason="empty file",
                )
        except OSError as exc:
            raise store_error(path, exc) from None
    uri = MEMORY if path == MEMORY else f"file:{quote(os.path.abspath(path))}?mode=rw"
    try:
        db = sqlite3.connect(
            uri, uri=True, isolation_level=None, check_same_thread=False, timeout=busy_timeout
        )
    except sqlite3.Error as exc:
        raise store_error(path, exc) from None
    try:
        db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal" and path != MEMORY:
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error as exc:
        db.close()
        raise store_error(path, exc, busy_timeout=busy_timeout) from None
    return db


def file_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, None when there is none."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


def rescue(db: sqlite3.Connection, path: str) -> str:
    """Copy the open database `db`, whose file was deleted or replaced, to `path` when that is
    free, else beside it (`path.recovered-<time>`); returns where it went.

    Stale `-wal` and `-shm` files left at a free path are removed first: SQLite would read
    them as part of the copy.
    """
    target = path
    if os.path.exists(target):
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        target = f"{path}.recovered-{stamp}"
    else:
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    create_file(target, db.backup)
    return target


def damaged(path: str, reason: str) -> StateStoreError:
    """The error for a store whose pages do not read back as SQLite wrote them."""
    return StateStoreError(
        f"state store {path} is damaged ({reason}): {_RESTORE}", path=path, reason=reason
    )


def store_error(
    path: str, exc: BaseException, *, busy_timeout: float | None = None
) -> StateStoreError:
    """The one-line `StateStoreError` for a failure of the store at `path`."""
    if isinstance(exc, StateStoreError):
        return exc
    if isinstance(exc, sqlite3.Error):
        reason = str(exc) or type(exc).__name__
        name = getattr(exc, "sqlite_errorname", "") or ""
        if name.startswith("SQLITE_IOERR") and _disk_full(path):  # SQLite's words for ENOSPC
            name = "SQLITE_FULL"  # (writing the -shm or -wal file) are often an I/O error
        advice = _advice(name, reason, busy_timeout)
    elif isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        advice = _os_advice(exc)
    else:  # a record that does not parse: the file was changed outside listsync
        reason = f"a record cannot be read: {type(exc).__name__}"
        advice = f"is damaged ({reason}): {_RESTORE}"
    return StateStoreError(f"state store {path} {advice}", path=path, reason=reason)


_ADVICE = {
    "SQLITE_CORRUPT": "is damaged or not a listsync state store ({reason}): " + _RESTORE,
    "SQLITE_NOTADB": "is damaged or not a listsync state store ({reason}): " + _RESTORE,
    "SQLITE_READONLY": (
        "cannot be written ({reason}): give this user write access to the file and its "
        "folder (SQLite writes -wal and -shm files next to it)"
    ),
    "SQLITE_BUSY": (
        "is locked by another process{held} ({reason}): let it finish or stop it, then run again"
    ),
    "SQLITE_FULL": "is on a full disk ({reason}): free some space, then run again",
    "SQLITE_CANTOPEN": (
        "cannot be opened ({reason}): check the path, that the file exists and that this user "
        "may read and write it and its folder"
    ),
    "SQLITE_IOERR": "could not be read or written ({reason}): check the disk, then run again",
}
_ADVICE |= {
    "SQLITE_PERM": _ADVICE["SQLITE_READONLY"],
    "SQLITE_AUTH": _ADVICE["SQLITE_READONLY"],
    "SQLITE_LOCKED": _ADVICE["SQLITE_BUSY"],
}


def _advice(name: str, reason: str, busy_timeout: float | None) -> str:
    code = "_".join(name.split("_", 2)[:2])  # SQLITE_IOERR_WRITE -> SQLITE_IOERR
    held = f" for more than {busy_timeout:g} s" if busy_timeout else ""
    text = _ADVICE.get(code, "failed ({reason}): check the file, or " + _RESTORE)
    return text.format(reason=reason, held=held)


def _disk_full(path: str) -> bool:
    """Less than 64 KiB left for this user on the store's file system."""
    try:
        stat = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < 64 * 1024


def _os_advice(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if isinstance(exc, PermissionError):
        return f"cannot be created or opened ({reason}): give this user access to its folder"
    if exc.errno == errno.ENOSPC:
        return f"is on a full disk ({reason}): free some space, then run again"
    return f"cannot be used ({reason}): check the path and the disk"
