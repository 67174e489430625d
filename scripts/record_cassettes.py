"""Re-record the cassettes in `cassettes/<portal>/` (one documented command).

    .venv/bin/python scripts/record_cassettes.py            # every built-in portal
    .venv/bin/python scripts/record_cassettes.py --portal booli

By default each portal's sandbox is served on its fixed loopback port and recorded. To record
against a portal's real test environment instead, set `LISTSYNC_<PORTAL>_BASE_URL` and the
account's credentials (`LISTSYNC_<PORTAL>_<SETTING>`, as for `listsync apply`); the recorded
URIs are rewritten to the loopback base so replay in CI needs no change. Secrets are scrubbed
while recording; `tests/test_cassette_secrets.py` checks the result.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PORTALS = ("hemnet", "immowelt", "booli")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portal", choices=PORTALS, action="append")
    args = parser.parse_args()
    paths = [f"tests/adapters/{p}/test_cassettes.py" for p in args.portal or PORTALS]
    command = [sys.executable, "-m", "pytest", "-q", "-m", "cassette", "--record-mode=rewrite"]
    code = subprocess.call([*command, *paths], cwd=ROOT)  # noqa: S603  (fixed arguments)
    if code == 0:
        code = subprocess.call(
            [sys.executable, "-m", "pytest", "-q", "tests/test_cassette_secrets.py"], cwd=ROOT
        )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
