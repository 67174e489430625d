"""Booli's main scenarios replay from `cassettes/booli/` (record mode `none`, no server).

The signature parameters (`callerId`, `time`, `unique`, `hash`) are removed from the recorded
URIs and from live requests before matching. Re-record:
`.venv/bin/python scripts/record_cassettes.py --portal booli`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from listsync.testing.cassettes import ReadCassetteScenarios

from .test_conformance import BooliFixtures

pytestmark = pytest.mark.cassette


class TestBooliCassettes(ReadCassetteScenarios, BooliFixtures):
    cassette_port = 18083
    secret_query_params = ("callerId", "time", "unique", "hash")
    cassette_sandbox_options: ClassVar[dict[str, Any]] = {"listings": 12, "sold": 0}
