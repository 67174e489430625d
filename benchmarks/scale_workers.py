"""Throughput of `apply --via celery` by number of Celery worker processes (issue 16).

    python benchmarks/scale_workers.py --listings 600 --latency-ms 50 --workers 1,2,4 [--repeat 2]

Starts what it needs: Redis and PostgreSQL on loopback (scripts/services.py, or the servers
named by LISTSYNC_TEST_REDIS_URL / LISTSYNC_TEST_POSTGRES_URL), and for each worker count W a
fresh Hemnet sandbox served by a process of its own (benchmarks/_serve.py, `--latency-ms`
added to every request, so the sandbox's CPU is not the workers'), a fresh state schema and W
worker processes (prefork, one pool process each: one chunk at a time per worker, its chunk's
listings concurrently). Each worker first answers an empty chunk on a queue of its own, so
the one-time start of a pool process (imports, the Syndicator it keeps) is not measured. The
listings (bundled examples of three agencies, one Hemnet account each) are sent in chunks
(`--chunk-size`, 5 by default) as `apply --via celery` sends them (`listsync.celery.dispatch`);
throughput is listings converged per second from the first chunk sent to the last result.

The chunk size is what one worker has in flight, so it decides whether the run is I/O-bound,
which is what the speed-up measures: a listing takes at least 12.5 requests x 50 ms, so one
worker gives up to chunk / 0.63 s listings per second, and all of listsync's processes need
about 20-25 ms of CPU per listing. With chunks of 5, four workers need about half a CPU and
the run stays I/O-bound on a 2-CPU machine; with chunks of 25 (`--chunk-size 25`) four
workers would need 3.5 x 40 x 22 ms = 3 CPUs to keep pace with one, so on 2 CPUs the machine,
not the workers, sets the speed-up (docs/scaling.md has both).

Each account's shared limits are set high (`max_concurrency` = `ACCOUNT_CONCURRENCY`, no
request rate): with a portal's real limits the accounts, not the workers, would bound the
throughput (16 requests in flight per account, the default, is reached by 4 workers); this
benchmark measures the workers.

Prints one line per run: listings/s, CPU milliseconds per listing of each kind of process
(the workers with their pool processes, the sandbox, this client, Redis, and PostgreSQL with
its backends when scripts/services.py started them, here or for the environment's URLs), the
CPUs they kept busy, the load average; then one JSON line: `{"listings", "latency_ms",
"chunk_size", "requests_per_listing", "throughput": {"1": ..}, "speedup": {"2": ..},
"cpu_ms_per_listing": {"1": {"workers": ..}}, "cpus_busy", "runs", "cpus"}` (medians over
`--repeat` rounds; rounds alternate the worker counts). On a machine shared with other work,
compare CPU per listing rather than listings/s, and repeat.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ACCOUNTS = {"se-norrmalm": "norrmalm", "se-skane": "skane", "se-vastkust": "vastkust"}
CHUNK_SIZE = 5
ACCOUNT_CONCURRENCY = 256
"""Each account's `max_concurrency` (shared by all workers): above the most requests the
workers can have in flight on one account (4 workers x 2 chunks x 25 listings at the most),
so the shared limit never makes a request wait and throughput depends on the workers alone."""
KINDS = ("workers", "sandbox", "client", "redis", "postgres")


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
    # limits far above what the workers can reach: the run measures the workers, not them
    lines.append(f"max_concurrency = {ACCOUNT_CONCURRENCY}\n")
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
            "-Q", f"celery,warm-{n}",
            "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
    return subprocess.Popen(  # noqa: S603  (fixed argv)
        argv, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _server_pids() -> dict[str, int]:
    """Redis's and the PostgreSQL postmaster's pids, when scripts/services.py started them
    (its folder in LISTSYNC_SERVICES_DIR): their CPU is measured too."""
    folder = os.environ.get("LISTSYNC_SERVICES_DIR")
    path = Path(folder, "services.json") if folder else None
    if path is None or not path.exists():
        return {}
    pids = json.loads(path.read_text(encoding="utf-8")).get("pids", {})
    return {k: int(v) for k, v in pids.items() if k in ("redis", "postgres")}


def _kinds_cpu(
    procs: list[subprocess.Popen[bytes]], sandbox: Any, servers: dict[str, int]
) -> dict[str, float]:
    """CPU seconds so far of each kind of process (PostgreSQL: the postmaster, its live
    backends and those that ended)."""
    cpu = {
        "workers": sum(_tree_cpu(p.pid) for p in procs),
        "sandbox": sandbox.cpu(),
        "client": time.process_time(),
    }
    for kind, pid in servers.items():
        try:
            cpu[kind] = _tree_cpu(pid)
        except OSError:  # pragma: no cover - the server is gone
            continue
    return cpu


def _warm_up(app: Any, workers: int) -> None:
    """An empty chunk for each worker (on a queue of its own) and its answer: each pool
    process has then imported listsync and built the Syndicator it keeps for all its tasks, a
    cost paid once per process, not per listing."""
    from listsync.celery._tasks import apply_chunk

    tasks = [
        app.send_task(apply_chunk.name, args=("hemnet", "", []), queue=f"warm-{n}")
        for n in range(workers)
    ]
    for task in tasks:
        task.get(timeout=120)
        task.forget()


def run_once(
    workers: int,
    *,
    rows: list[dict[str, Any]],
    latency_ms: float,
    pg: str,
    redis_url: str,
    store: str = "postgres",
    chunk_size: int = CHUNK_SIZE,
    folder: Path,
    servers: dict[str, int],
) -> tuple[float, dict[str, float], float]:
    """(listings per second, CPU seconds per kind of process, sandbox requests per listing)."""
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
    sandbox = SandboxServers(
        ("hemnet",), latency_ms=latency_ms, log="count", options={"hemnet": {"auto_approve": True}}
    )
    sandbox.cmd += [
        arg for account in ACCOUNTS.values() for arg in ("--account", f"hemnet:{account}")
    ]
    with sandbox:
        config_path = folder / f"listsync-{workers}.toml"
        state = f"sqlite:///{folder}/state-{workers}.sqlite" if store == "sqlite" else _schema(pg)
        text = _toml(state, redis_url, sandbox.base_url("hemnet"),
                     sandbox.info["hemnet"]["accounts"])  # fmt: skip
        config_path.write_text(text, encoding="utf-8")
        env = {**os.environ, "LISTSYNC_CONFIG": str(config_path),
               "LISTSYNC_SHARED_KEY": Fernet.generate_key().decode()}  # fmt: skip
        procs = [_worker(n, env, folder) for n in range(workers)]
        try:
            config = load_config(config_path)
            app = make_app(config)
            configure(app, config)
            _setups, accounts = load_portal_setups(config, registry=None, classes=None)
            _warm_up(app, workers)
            before = _kinds_cpu(procs, sandbox, servers)
            started = time.perf_counter()
            outcomes: dict[str, int] = {}
            for result in dispatch(
                read_listings(listings),
                route=accounts.route,
                chunk_size=chunk_size,
                in_flight=4 * workers,
                celery=app,
            ):
                outcomes[result.outcome.value] = outcomes.get(result.outcome.value, 0) + 1
            elapsed = time.perf_counter() - started
            after = _kinds_cpu(procs, sandbox, servers)
            requests = sandbox.stats()["hemnet"]["requests"]
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
    cpu = {k: after[k] - before[k] for k in KINDS if k in before and k in after}
    return len(rows) / elapsed, cpu, requests / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=300)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument(
        "--state",
        choices=("postgres", "sqlite"),
        default="postgres",
        help="sqlite: the workers take turns at its single writer (for 1 worker: the "
        "PostgreSQL store's cost by difference)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every worker count")
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=CHUNK_SIZE,
        help="listings per chunk: what one worker applies at once. A worker is I/O-bound "
        "(its throughput set by the latency) while all workers' CPU fits the machine's CPUs: "
        "with 2 CPUs, 4 workers at the default chunk need more than there is (see the figures)",
    )
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    pg, redis_url = (
        os.environ.get("LISTSYNC_TEST_POSTGRES_URL"),
        os.environ.get("LISTSYNC_TEST_REDIS_URL"),
    )
    started = None
    servers = _server_pids() if pg and redis_url else {}
    if not (pg and redis_url):
        started = _services().Services.launch(install_missing=os.geteuid() == 0)
        pg, redis_url = started.postgres_url, started.redis_url
        servers = {k: v for k, v in started.pids.items() if k in ("redis", "postgres")}
    rows = _rows(args.listings)
    rates: dict[str, list[float]] = {str(c): [] for c in counts}
    cpus: dict[str, list[dict[str, float]]] = {str(c): [] for c in counts}
    per_listing = 0.0
    try:
        with tempfile.TemporaryDirectory(prefix="scale-workers-") as folder:
            for _round in range(args.repeat):
                for count in counts:
                    rate, cpu, per_listing = run_once(
                        count,
                        rows=rows,
                        latency_ms=args.latency_ms,
                        pg=pg,
                        store=args.state,
                        chunk_size=args.chunk_size,
                        redis_url=redis_url,
                        folder=Path(folder),
                        servers=servers,
                    )
                    rates[str(count)].append(rate)
                    cpus[str(count)].append(cpu)
                    ms = {k: round(1000 * v / args.listings, 1) for k, v in cpu.items()}
                    total = sum(cpu.values())
                    print(f"{count} worker(s): {rate:.1f} listings/s; CPU ms per listing {ms}, "
                          f"total {1000 * total / args.listings:.1f}; CPUs busy "
                          f"{total * rate / args.listings:.2f}; load {os.getloadavg()[0]:.2f}",
                          flush=True)  # fmt: skip
    finally:
        if started is not None:
            started.stop()
    throughput = {k: round(statistics.median(v), 2) for k, v in rates.items()}
    base = throughput[str(counts[0])]
    cpu_ms = {
        k: {kind: round(1000 * statistics.median(c[kind] for c in v) / args.listings, 1)
            for kind in v[0]}
        for k, v in cpus.items()
    }  # fmt: skip
    summary = {
        "listings": args.listings,
        "latency_ms": args.latency_ms,
        "chunk_size": args.chunk_size,
        "state": args.state,
        "requests_per_listing": round(per_listing, 1),
        "throughput": throughput,
        "speedup": {k: round(v / base, 2) for k, v in throughput.items()},
        "cpu_ms_per_listing": cpu_ms,
        "cpus_busy": {
            k: round(sum(cpu_ms[k].values()) * throughput[k] / 1000, 2) for k in throughput
        },
        "runs": {k: [round(r, 2) for r in v] for k, v in rates.items()},
        "cpus": os.cpu_count(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
