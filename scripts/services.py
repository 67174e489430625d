"""PostgreSQL and Redis on loopback for the tests, the benchmarks and CI: install when missing,
start, wait until they answer, stop.

    python3 scripts/services.py start [--only postgres|redis] [--install]
        # prints `export LISTSYNC_TEST_POSTGRES_URL=...` lines (for `eval`) and leaves the
        # servers running; their files live in one folder under /tmp (LISTSYNC_SERVICES_DIR)
    python3 scripts/services.py stop [--dir DIR]

Imported (standard library only: `.ci/run` runs it before any venv exists), `Services` does
the same from Python: `with Services.start() as s: s.postgres_url`.

Both servers listen on 127.0.0.1 only, on a port found free, with every file (data, socket,
log, pid) in a fresh folder under /tmp that `stop` removes. PostgreSQL refuses to run as
root: as root, the cluster is initialised and started as the `postgres` user (`runuser`),
which the Debian package creates. The cluster trusts local connections (a throwaway test
server on loopback): the URL is `postgresql://listsync@127.0.0.1:PORT/listsync`.

Installing (`--install`, or `install=True`) runs `apt-get update` once and `apt-get install -y
postgresql redis-server` when a server's programs are missing, as root only; elsewhere a
missing server is `UnavailableError` with the reason, for a test to be skipped with.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

POSTGRES_URL_VAR = "LISTSYNC_TEST_POSTGRES_URL"
REDIS_URL_VAR = "LISTSYNC_TEST_REDIS_URL"
DIR_VAR = "LISTSYNC_SERVICES_DIR"
READY_SECONDS = 60.0
PG_USER = "listsync"


class UnavailableError(RuntimeError):
    """A server cannot be installed or started here; the message says why."""


def _run(cmd: list[str], *, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(  # noqa: S603  (fixed programs)
        cmd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise UnavailableError(
            f"{' '.join(cmd[:3])} failed ({proc.returncode}): {' | '.join(tail)}"
        )
    return proc


def _is_root() -> bool:
    return os.geteuid() == 0


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian keeps initdb off the PATH)."""
    found = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p, "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def install(*, postgres: bool = True, redis: bool = True) -> None:
    """`apt-get install` the servers that are missing (root with apt-get only).

    Raises:
        UnavailableError: a server is missing and cannot be installed here.
    """
    packages = []
    if postgres and pg_bin() is None:
        packages.append("postgresql")
    if redis and shutil.which("redis-server") is None:
        packages.append("redis-server")
    if not packages:
        return
    if not _is_root() or shutil.which("apt-get") is None:
        raise UnavailableError(
            f"{' and '.join(packages)} not installed, and this user cannot install it "
            "(apt-get as root): install it, or set "
            f"{POSTGRES_URL_VAR} / {REDIS_URL_VAR} to running servers"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", *packages]):
        proc = subprocess.run(  # noqa: S603  (fixed programs)
            cmd, capture_output=True, text=True, timeout=900, check=False, env=env
        )
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-2:]
            raise UnavailableError(f"{' '.join(cmd)} failed: {' | '.join(tail)}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check: object, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-500:] if log is not None and log.exists() else ""
    raise UnavailableError(f"{what} did not answer within {READY_SECONDS:g} s {tail}".strip())


def _answers(port: int, probe: bytes, expect: bytes) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            if probe:
                sock.sendall(probe)
            return expect in sock.recv(64) if expect else True
    except OSError:
        return False


@dataclass
class Services:
    """Running servers (see the module docstring); `stop()` ends them and removes `root`."""

    root: Path
    postgres_url: str | None = None
    redis_url: str | None = None
    pids: dict[str, int] = field(default_factory=dict)

    @classmethod
    @contextlib.contextmanager
    def start(
        cls, *, postgres: bool = True, redis: bool = True, install_missing: bool = False
    ) -> Iterator[Services]:
        services = cls.launch(postgres=postgres, redis=redis, install_missing=install_missing)
        try:
            yield services
        finally:
            services.stop()

    @classmethod
    def launch(
        cls, *, postgres: bool = True, redis: bool = True, install_missing: bool = False
    ) -> Services:
        """Start the servers asked for; they run until `stop()` (even after this process)."""
        if install_missing:
            install(postgres=postgres, redis=redis)
        root = Path(tempfile.mkdtemp(prefix="listsync-services-"))
        root.chmod(0o755)  # the postgres user reaches its data folder inside
        services = cls(root)
        try:
            if postgres:
                services._start_postgres()
            if redis:
                services._start_redis()
        except BaseException:
            services.stop()
            raise
        services._save()
        return services

    # -- PostgreSQL ----------------------------------------------------------------------------
    def _as_pg_user(self, cmd: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if _is_root() else cmd

    def _start_postgres(self) -> None:
        bin_dir = pg_bin()
        if bin_dir is None:
            raise UnavailableError(
                f"PostgreSQL is not installed (no initdb): install it (apt-get install "
                f"postgresql) or set {POSTGRES_URL_VAR}"
            )
        data = self.root / "pg"
        data.mkdir(mode=0o700)
        if _is_root():
            shutil.chown(data, "postgres", "postgres")
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", PG_USER, "-A", "trust"]
        _run(self._as_pg_user([*initdb, "-E", "UTF8", "--no-sync", "--locale=C.UTF-8"]))
        port = free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={data} "
            "-c max_connections=200"
        )
        log = data / "server.log"
        start = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options]
        _run(self._as_pg_user([*start, "-w", "-t", str(int(READY_SECONDS)), "start"]))
        self.pids["postgres"] = int((data / "postmaster.pid").read_text().split()[0])
        createdb = [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port)]
        _run(self._as_pg_user([*createdb, "-U", PG_USER, PG_USER]))
        self.postgres_url = f"postgresql://{PG_USER}@127.0.0.1:{port}/{PG_USER}"

    # -- Redis -------------------------------------------------------------------------------
    def _start_redis(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise UnavailableError(
                f"Redis is not installed (no redis-server): install it (apt-get install "
                f"redis-server) or set {REDIS_URL_VAR}"
            )
        port = free_port()
        folder = self.root / "redis"
        folder.mkdir()
        pidfile, log = folder / "redis.pid", folder / "redis.log"
        _run(
            [
                server,
                "--bind", "127.0.0.1",
                "--port", str(port),
                "--dir", str(folder),
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "yes",
                "--pidfile", str(pidfile),
                "--logfile", str(log),
            ]
        )  # fmt: skip
        _wait(lambda: _answers(port, b"PING\r\n", b"+PONG"), "redis-server", log)
        _wait(pidfile.exists, "redis-server's pid file", log)
        self.pids["redis"] = int(pidfile.read_text().strip())
        self.redis_url = f"redis://127.0.0.1:{port}/0"

    # -- state and stopping --------------------------------------------------------------------
    def _save(self) -> None:
        state = {"postgres_url": self.postgres_url, "redis_url": self.redis_url, "pids": self.pids}
        (self.root / "services.json").write_text(json.dumps(state))

    @classmethod
    def load(cls, root: Path) -> Services:
        state = json.loads((root / "services.json").read_text())
        return cls(root, state["postgres_url"], state["redis_url"], state["pids"])

    def env(self) -> dict[str, str]:
        found = {DIR_VAR: str(self.root)}
        if self.postgres_url:
            found[POSTGRES_URL_VAR] = self.postgres_url
        if self.redis_url:
            found[REDIS_URL_VAR] = self.redis_url
        return found

    def stop(self) -> None:
        """Stop both servers (PostgreSQL with a fast shutdown) and remove their folder."""
        data = self.root / "pg"
        bin_dir = pg_bin()
        if (data / "postmaster.pid").exists() and bin_dir is not None:
            stop = [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]
            with contextlib.suppress(UnavailableError, subprocess.TimeoutExpired):
                _run(self._as_pg_user(stop), timeout=60)
        for name in ("postgres", "redis"):
            pid = self.pids.pop(name, None)
            if pid is not None:
                _end(pid)
        shutil.rmtree(self.root, ignore_errors=True)


def _end(pid: int) -> None:
    """SIGTERM `pid` (one of ours, by id), then SIGKILL if it is still there after 10 s."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start and print `export` lines")
    start.add_argument("--only", choices=("postgres", "redis"))
    start.add_argument("--install", action="store_true", help="apt-get install when missing")
    stop = sub.add_parser("stop", help="stop what `start` started")
    stop.add_argument("--dir", default=os.environ.get(DIR_VAR))
    args = parser.parse_args(argv)
    if args.command == "stop":
        if not args.dir or not Path(args.dir, "services.json").exists():
            print("services: nothing to stop", file=sys.stderr)
            return 0
        Services.load(Path(args.dir)).stop()
        return 0
    try:
        services = Services.launch(
            postgres=args.only in (None, "postgres"),
            redis=args.only in (None, "redis"),
            install_missing=args.install,
        )
    except UnavailableError as exc:
        print(f"services: {exc}", file=sys.stderr)
        return 1
    for name, value in services.env().items():
        print(f"export {name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
