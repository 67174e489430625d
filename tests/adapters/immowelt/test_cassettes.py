"""Immowelt's main scenarios replay from `cassettes/immowelt/` (record mode `none`, no server).

Re-record: `.venv/bin/python scripts/record_cassettes.py --portal immowelt`.
"""

from __future__ import annotations

import pytest

from listsync.testing.cassettes import WriteCassetteScenarios

from .test_conformance import ImmoweltFixtures

pytestmark = pytest.mark.cassette


class TestImmoweltCassettes(WriteCassetteScenarios, ImmoweltFixtures):
    cassette_port = 18082
