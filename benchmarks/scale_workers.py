"""Throughput of `apply --via celery` by number of Celery worker processes (issue 16).

    python benchmarks/scale_workers.py --listings 300 --latency-ms 50 --workers 1,2,4

Starts what it needs: Redis and PostgreSQL on loopback (scripts/services.py, or the servers
named by LISTSYNC_TEST_REDIS_URL / LISTSYNC_TEST_POSTGRES_URL), and for each worker count W a
fresh Hemnet sandbox served by a process of its own (benchmarks/_serve.py, `--latency-ms`
added to every request, so the sandbox's CPU is not the workers'), a fresh state schema and W
worker processes (prefork, one pool process each: one chunk at a time per worker, its chunk's
listings concurrently). The listings (bundled examples of three agencies, one Hemnet account
each) are sent in chunks as `apply --via celery` sends them (`listsync.celery.dispatch`);
throughput is listings converged per second from the first chunk sent to the last result.
Prints one line per worker count (with the CPU seconds the workers, the sandbox and this
process used), then one JSON line:
`{"listings", "latency_ms", "throughput": {"1": ..}, "speedup": {"2": ..}, "cpu": {..}, "cpus"}`.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ACCOUNTS = {"se-norrmalm": "norrmalm", "se-skane": "skane", "se-vastkust": "vastkust"}


def _services() -> Any:
    spec = importlib.util.spec_from_file_location("services", ROOT / "scripts" / "services.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["services"] = module
    spec.loader.exec_module(module)
    return module


def _rows(count: int) -> list[dict[str, Any]]:
    from listsync.io import bundled_examples

    templates = [
        json.loads(line)
        for line in bundled_examples().read_text(encoding="utf-8").splitlines()
        if json.loads(line)["agency"]["external_ref"] in ACCOUNTS
        and json.loads(line)["status"] == "for_sale"
    ]
    rows = []
    for n in range(count):
        row = copy.deepcopy(templates[n % len(templates)])
        row["external_ref"] = f"{row['external_ref']}-b{n}"
        rows.append(row)
    return rows


def _toml(state_url: str, redis_url: str, base_url: str, accounts: dict[str, Any]) -> str:
    lines = [f'[state]\nurl = "{state_url}"\n', f'[shared]\nredis_url = "{redis_url}"\n']
    lines.append(f'[portals.hemnet]\nbase_url = "{base_url}"\n')
    lines.append("image_poll_interval = 0.01\nimage_poll_max_interval = 0.05\n")
    for agency, account in ACCOUNTS.items():
        creds = accounts[account]
        lines.append(
            f'[portals.hemnet.accounts.{account}]\ntoken = "{creds["token"]}"\n'
            f'key_id = "{creds["key_id"]}"\nagencies = ["{agency}"]\n'
        )
    return "\n".join(lines)


def _schema(server_url: str) -> str:
    from urllib.parse import quote

    import psycopg

    from listsync.migrations import upgrade

    schema = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    glue = "&" if "?" in server_url else "?"
    url = f"{server_url}{glue}options={quote(f'-csearch_path={schema}')}"
    upgrade(url)
    return url


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children that were waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and of its live children (a prefork worker's pool)."""
    total = _cpu(pid)
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        for kid in child.read_text().split():
            total += _tree_cpu(int(kid))
    return total


def _worker(n: int, env: dict[str, str], folder: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "celery", "-A", "listsync.celery", "worker",
            "--pool", "prefork", "--concurrency", "1", "--loglevel", "ERROR", "-n", f"b{n}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
    return subprocess.Popen(  # noqa: S603  (fixed argv)
        argv, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def run_once(
    workers: int,
    *,
    rows: list[dict[str, Any]],
    latency_ms: float,
    pg: str,
    redis_url: str,
    folder: Path,
) -> tuple[float, dict[str, float]]:
    """(listings per second, CPU seconds of the workers, the sandbox and this process)."""
    import redis
    from _harness import SandboxServers
    from cryptography.fernet import Fernet

    from listsync.celery import dispatch
    from listsync.celery._app import configure, make_app
    from listsync.config import load_config
    from listsync.io import read_listings
    from listsync.sync import load_portal_setups

    with redis.Redis.from_url(redis_url) as plain:
        plain.flushdb()
    listings = folder / f"listings-{workers}.jsonl"
    listings.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    servers = SandboxServers(
        ("hemnet",), latency_ms=latency_ms, log="count", options={"hemnet": {"auto_approve": True}}
    )
    servers.cmd += [
        arg for account in ACCOUNTS.values() for arg in ("--account", f"hemnet:{account}")
    ]
    with servers:
        config_path = folder / f"listsync-{workers}.toml"
        text = _toml(_schema(pg), redis_url, servers.base_url("hemnet"),
                     servers.info["hemnet"]["accounts"])  # fmt: skip
        config_path.write_text(text, encoding="utf-8")
        env = {**os.environ, "LISTSYNC_CONFIG": str(config_path),
               "LISTSYNC_SHARED_KEY": Fernet.generate_key().decode()}  # fmt: skip
        procs = [_worker(n, env, folder) for n in range(workers)]
        try:
            config = load_config(config_path)
            app = make_app(config)
            configure(app, config)
            _setups, accounts = load_portal_setups(config, registry=None, classes=None)
            time.sleep(3)  # the workers connect to the broker
            cpu_before = {
                "workers": sum(_tree_cpu(p.pid) for p in procs),
                "sandbox": servers.cpu(),
                "client": time.process_time(),
            }
            started = time.perf_counter()
            outcomes: dict[str, int] = {}
            for result in dispatch(
                read_listings(listings),
                route=accounts.route,
                chunk_size=25,
                in_flight=4 * workers,
                celery=app,
            ):
                outcomes[result.outcome.value] = outcomes.get(result.outcome.value, 0) + 1
            elapsed = time.perf_counter() - started
            cpu = {
                "workers": sum(_tree_cpu(p.pid) for p in procs) - cpu_before["workers"],
                "sandbox": servers.cpu() - cpu_before["sandbox"],
                "client": time.process_time() - cpu_before["client"],
            }
            app.close()
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    if outcomes.get("converged", 0) != len(rows):
        raise SystemExit(f"{workers} worker(s): not every listing converged: {outcomes}")
    return len(rows) / elapsed, {k: round(v, 1) for k, v in cpu.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=300)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    pg, redis_url = (
        os.environ.get("LISTSYNC_TEST_POSTGRES_URL"),
        os.environ.get("LISTSYNC_TEST_REDIS_URL"),
    )
    started = None
    if not (pg and redis_url):
        started = _services().Services.launch(install_missing=os.geteuid() == 0)
        pg, redis_url = started.postgres_url, started.redis_url
    rows = _rows(args.listings)
    throughput: dict[str, float] = {}
    cpu: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="scale-workers-") as folder:
            for count in counts:
                rate, cpu[str(count)] = run_once(
                    count,
                    rows=rows,
                    latency_ms=args.latency_ms,
                    pg=pg,
                    redis_url=redis_url,
                    folder=Path(folder),
                )
                throughput[str(count)] = round(rate, 2)
                print(f"{count} worker(s): {rate:.1f} listings/s, CPU s {cpu[str(count)]}",
                      flush=True)  # fmt: skip
    finally:
        if started is not None:
            started.stop()
    base = throughput[str(counts[0])]
    speedup = {k: round(v / base, 2) for k, v in throughput.items()}
    summary = {
        "listings": args.listings,
        "latency_ms": args.latency_ms,
        "throughput": throughput,
        "speedup": speedup,
        "cpu": cpu,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
