"""Hemnet's main scenarios replay from `cassettes/hemnet/` (record mode `none`, no server).

Re-record: `.venv/bin/python scripts/record_cassettes.py --portal hemnet`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from listsync.testing.cassettes import WriteCassetteScenarios

from .test_conformance import HemnetFixtures

pytestmark = pytest.mark.cassette


class TestHemnetCassettes(WriteCassetteScenarios, HemnetFixtures):
    cassette_port = 18081
    # Keys recorded with a century's lifetime: a replay never decides to rotate (an
    # unrecorded POST /keys) however long after recording it runs.
    cassette_sandbox_options: ClassVar[dict[str, Any]] = {"key_lifetime_days": 36500.0}
