"""Two `listsync apply` processes started at once on one PostgreSQL state: both apply (the
PostgreSQL store has no store-wide writer lease), and the per-listing lease (`StateStore.claim`)
keeps them off each other's listings, so every listing is on every portal exactly once, with
exactly what a single run leaves (a Hemnet agency both create at once is shared, not refused).
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from listsync.migrations import upgrade

from ._support import LISTSYNC, Served, cli_env, compare, reference, serve, snapshot, writes

LISTINGS = 120
ROUNDS = 3

pytestmark = [
    pytest.mark.slow,
]


@pytest.fixture
def new_state(postgres_server_url: str) -> Iterator[Callable[[], str]]:
    """`new_state()`: the URL of a fresh migrated schema (all dropped after the test)."""
    schemas: list[str] = []

    def make() -> str:
        schema = f"race_{secrets.token_hex(5)}"
        with psycopg.connect(postgres_server_url, autocommit=True) as db:
            db.execute(f"CREATE SCHEMA {schema}")
        schemas.append(schema)
        glue = "&" if "?" in postgres_server_url else "?"
        url = f"{postgres_server_url}{glue}options={quote(f'-csearch_path={schema}')}"
        upgrade(url)
        return url

    yield make
    with psycopg.connect(postgres_server_url, autocommit=True) as db:
        for schema in schemas:
            db.execute(f"DROP SCHEMA {schema} CASCADE")


def _cmd(portals: Served, listings: Path, state: str) -> list[str]:
    return [LISTSYNC, "apply", str(listings), "--config", str(portals.config), "--state", state]


def _race(cmd: list[str], cwd: Path) -> list[tuple[int, str]]:
    procs = [
        subprocess.Popen(  # noqa: S603  (our own CLI)
            cmd, cwd=cwd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]  # fmt: skip
    out = []
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        out.append((proc.returncode, err))
    return out


def test_two_applies_at_once_on_postgres_never_duplicate(
    make_listings: Callable[[int], Path], tmp_path: Path, new_state: Callable[[], str]
) -> None:
    """Each round on fresh sandboxes and a fresh schema: both runs end (0, or 1 when listings
    were left to the other worker), no traceback; the sandboxes hold every listing exactly
    once; a further apply sends nothing."""
    listings = make_listings(LISTINGS)
    expected = reference(listings, tmp_path)
    for number in range(ROUNDS):
        workdir = tmp_path / f"round-{number}"
        workdir.mkdir()
        state = new_state()
        with serve(workdir) as portals:
            cmd = _cmd(portals, listings, state)
            for code, err in _race(cmd, workdir):
                assert "Traceback" not in err, err
                assert code in (0, 1), err
            figures = compare(expected, snapshot(portals.sandboxes))
            assert figures["duplicates"] == 0, (number, figures)
            assert figures["lost"] == 0, (number, figures)
            assert figures["extra"] == 0, (number, figures)
            before = writes(portals.sandboxes)
            final = subprocess.run(  # noqa: S603  (our own CLI)
                cmd, cwd=workdir, env=cli_env(), capture_output=True, text=True, timeout=600,
                check=False,
            )  # fmt: skip
            assert final.returncode == 0, final.stderr
            assert writes(portals.sandboxes) == before
