"""A damaged state store is one clear line and exit 2, never a traceback, never a silent new
start, and nothing is sent.

Each test first applies a few listings for real (so the store holds records), damages the
store, then runs `listsync apply` on more listings: a healthy store would create the new ones,
so "nothing sent" shows the run stopped before its first request.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from listsync.sync import SCHEMA_VERSION

from ._support import Served, cli_env, serve, snapshot, write_listings

pytestmark = pytest.mark.slow

ROOT = os.geteuid() == 0


def _apply(portals: Served, listings: Path, *, state: str | None = None) -> tuple[int, str]:
    return _run(portals.apply_cmd(listings, *(["--state", state] if state else [])), portals)


def _run(cmd: list[str], portals: Served, *, prelude: str = "") -> tuple[int, str]:
    if prelude:  # the same CLI, with a setting a test needs changed first
        cmd = [sys.executable, "-c", f"{prelude}; from listsync.cli import main; main()", *cmd[1:]]
    proc = subprocess.run(  # noqa: S603  (our own CLI)
        cmd,
        cwd=portals.workdir,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return proc.returncode, proc.stderr


def _one_clear_line(code: int, err: str, *words: str) -> None:
    """Exit 2, no traceback, and the one `error:` line names the store and says `words`."""
    assert code == 2, err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert "state" in errors[0], err
    for word in words:
        assert word in errors[0], err


@pytest.fixture
def workdir() -> Iterator[Path]:
    """The test's folder, apart from pytest's (it is bind-mounted read-only by one test)."""
    path = Path(tempfile.mkdtemp(prefix="listsync-damage-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def seeded(workdir: Path) -> Iterator[tuple[Served, Path]]:
    """Sandboxes on loopback whose state store holds 6 applied listings; the input of the
    run under test is 12 listings (6 of them new)."""
    with serve(workdir) as portals:
        code, err = _apply(portals, write_listings(workdir / "first.jsonl", 6))
        assert code == 0, err
        listings = write_listings(workdir / "more.jsonl", 12)
        for path in (workdir / "listsync.toml", listings):
            path.chmod(0o644)
        yield portals, listings


def _sent(portals: Served) -> int:
    return sum(len(s.requests) for s in portals.sandboxes.values())


def _corrupt_pages(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for page in range(4096, len(data), 4096):  # every page but the first (the schema)
        data[page + 8 : page + 64] = b"\xab" * 56
    path.write_bytes(bytes(data))


def _other_database(path: Path) -> None:
    path.unlink()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    db.commit()
    db.close()


def _newer_schema(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()


DAMAGE: dict[str, tuple[Callable[[Path], object], tuple[str, ...]]] = {
    "corrupt pages": (_corrupt_pages, ("is damaged", "restore it from a backup")),
    "truncated": (
        lambda p: os.truncate(p, 8192),
        ("is damaged", "malformed", "restore it from a backup"),
    ),
    "empty file": (lambda p: os.truncate(p, 0), ("empty file (0 bytes)", "restore")),
    "not a database": (
        lambda p: p.write_bytes(b"listing,price\n" * 500),
        ("not a listsync state store", "file is not a database"),
    ),
    "another program's database": (_other_database, ("not a listsync state store", "invoices")),
    "newer schema": (_newer_schema, ("newer than this listsync", "upgrade listsync")),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damaged_store_stops_apply_before_anything_is_sent(
    kind: str, seeded: tuple[Served, Path]
) -> None:
    portals, listings = seeded
    damage, words = DAMAGE[kind]
    damage(portals.state)
    before = _sent(portals)
    code, err = _apply(portals, listings)
    _one_clear_line(code, err, str(portals.state), *words)
    assert _sent(portals) == before
    code, err = _apply(portals, listings)  # still refused: never started afresh
    _one_clear_line(code, err, *words)
    assert _sent(portals) == before


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite:///"])
def test_a_state_url_that_keeps_nothing_is_refused(url: str, seeded: tuple[Served, Path]) -> None:
    """`:memory:` (and no path at all) would forget every listing sent: every run would create
    them all again."""
    portals, listings = seeded
    before = _sent(portals)
    code, err = _apply(portals, listings, state=url)
    _one_clear_line(code, err, "sqlite:///listsync-state.sqlite")
    assert _sent(portals) == before


@contextmanager
def _read_only(folder: Path, state: Path) -> Iterator[None]:
    """The store and its folder read-only: by their modes, or for root (who writes whatever a
    mode says) by a read-only bind mount of the folder."""
    if not ROOT:
        state.chmod(0o444)
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
            state.chmod(0o644)
        return
    for argv in (["--bind", str(folder), str(folder)], ["-o", "remount,bind,ro", str(folder)]):
        done = subprocess.run(["mount", *argv], capture_output=True, check=False)  # noqa: S603, S607
        if done.returncode != 0:
            subprocess.run(["umount", str(folder)], capture_output=True, check=False)  # noqa: S603, S607
            pytest.skip(f"cannot bind-mount read-only here: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=False)  # noqa: S603, S607


def test_a_read_only_store_stops_apply(seeded: tuple[Served, Path]) -> None:
    """A store this user may read but not write (the file and its folder)."""
    portals, listings = seeded
    before = _sent(portals)
    with _read_only(portals.state.parent, portals.state):
        code, err = _apply(portals, listings)
    _one_clear_line(code, err, str(portals.state), "this user", "write")
    assert _sent(portals) == before


def test_a_write_lock_held_too_long_stops_apply(seeded: tuple[Served, Path]) -> None:
    """Another program holds the database's write lock for longer than the busy timeout."""
    portals, listings = seeded
    holder = subprocess.Popen(  # noqa: S603  (a Python one-liner of this test)
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "db.execute('BEGIN IMMEDIATE'); print('locked', flush=True); sys.stdin.read()",
            str(portals.state),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        before = _sent(portals)
        prelude = "from listsync.sync import SQLiteStateStore; SQLiteStateStore.busy_timeout = 0.5"
        code, err = _run(portals.apply_cmd(listings), portals, prelude=prelude)
        _one_clear_line(code, err, "locked by another process for more than 0.5 s")
        assert _sent(portals) == before
    finally:
        holder.communicate("")
    code, err = _apply(portals, listings)  # once the lock is gone, the run goes ahead
    assert code == 0, err


@pytest.mark.skipif(not ROOT, reason="mounting a small file system needs root")
def test_a_full_disk_stops_apply(seeded: tuple[Served, Path], workdir: Path) -> None:
    """The store on a 2 MB file system that is full."""
    portals, listings = seeded
    disk = workdir / "disk"
    disk.mkdir()
    mounted = subprocess.run(  # noqa: S603  (fixed argv)
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],  # noqa: S607
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        state = disk / "state.sqlite"
        shutil.copy(portals.state, state)
        with (disk / "filler").open("wb", buffering=0) as filler, suppress(OSError):
            while True:  # until the disk is full (ENOSPC)
                filler.write(b"\0" * 4096)
        before = _sent(portals)
        code, err = _apply(portals, listings, state=f"sqlite:///{state}")
        _one_clear_line(code, err, str(state), "full disk", "free some space")
        assert _sent(portals) == before
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)  # noqa: S603, S607


def _delete_mid_run(workdir: Path) -> tuple[int, str]:
    """`rm state.sqlite*` while apply runs (after 40 requests); that run's exit code and
    stderr. Then the same apply again must converge without a single duplicate."""
    with serve(workdir) as portals:
        listings = write_listings(workdir / "listings.jsonl", 60)
        proc = subprocess.Popen(  # noqa: S603  (our own CLI)
            portals.apply_cmd(listings, "--concurrency", "4"),
            cwd=workdir,
            env=cli_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        while proc.poll() is None and _sent(portals) < 40:
            time.sleep(0.005)
        for each in workdir.glob("state.sqlite*"):
            if not each.name.endswith(".lock"):
                each.unlink(missing_ok=True)  # SQLite may remove its -shm/-wal meanwhile
        _, err = proc.communicate(timeout=300)
        assert portals.state.exists()
        code, again = _apply(portals, listings)
        assert code == 0, again
        inventory = snapshot(portals.sandboxes)
        assert all(n == 1 for counts in inventory.values() for n in counts.values()), inventory
    return proc.returncode, err


def test_a_store_deleted_mid_run_is_written_back_and_the_next_run_converges(
    workdir: Path,
) -> None:
    """The run stops at its next commit after writing what it recorded back to the store's
    path, so the next run finishes the job without creating anything twice (it used to
    start afresh and create every listing again)."""
    code, err = _delete_mid_run(workdir)
    assert code != 0
    assert "was deleted or replaced while this run used it; listsync wrote what it held" in err


def test_a_store_deleted_mid_run_stops_with_one_line(workdir: Path) -> None:
    """The engine stops on the store's error: one line, exit 2, no traceback."""
    code, err = _delete_mid_run(workdir)
    _one_clear_line(code, err, "was deleted or replaced while this run used it")
