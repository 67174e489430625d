"""Celery worker processes, sandboxes on loopback and a config, for the distributed tests."""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
from cryptography.fernet import Fernet

from listsync.sandbox import RecordedRequest

WORKER = [sys.executable, "-m", "celery", "-A", "listsync.celery", "worker"]


def clone_rows(templates: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """`count` listings made from `templates` in turn, each with an external_ref of its own."""
    rows = []
    for n in range(count):
        row = copy.deepcopy(templates[n % len(templates)])
        row["external_ref"] = f"{row['external_ref']}-w{n}"
        rows.append(row)
    return rows


def worker_env(config: Path, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update({"LISTSYNC_CONFIG": str(config), "LISTSYNC_SHARED_KEY": key, "NO_COLOR": "1"})
    return env


def new_key() -> str:
    return Fernet.generate_key().decode()


@contextlib.contextmanager
def workers(
    count: int, config: Path, key: str, log_dir: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` worker processes, each a prefork parent with one pool process (the parent's
    event loop keeps sweeping for dead workers' chunks while its child applies one; a child
    dies with its parent), stopped (SIGTERM, then SIGKILL) at the end."""
    procs = []
    logs = contextlib.ExitStack()
    try:
        for n in range(count):
            log = logs.enter_context((log_dir / f"worker{n}.log").open("wb"))
            procs.append(
                subprocess.Popen(  # noqa: S603  (fixed argv)
                    [*WORKER, "--pool", "prefork", "--concurrency", "1", "--loglevel", "WARNING",
                     "-n", f"w{n}@%h",
                     "--without-gossip", "--without-mingle", "--without-heartbeat"],
                    env=worker_env(config, key),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=log_dir,
                )
            )  # fmt: skip
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        logs.close()


def flush(redis_url: str) -> None:
    """An empty Redis database (broker queues, results, limits of an earlier test)."""
    redis.Redis.from_url(redis_url).flushdb()


def max_in_window(times: list[float], window: float) -> int:
    """The most requests that arrived within any `window` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def arrivals(requests: list[RecordedRequest], principals: set[str]) -> list[float]:
    return [r.at for r in requests if r.principal in principals and r.fault is None]
