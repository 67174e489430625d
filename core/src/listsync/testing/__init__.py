"""The conformance kit for adapter authors (also a pytest plugin, `listsync.testing.plugin`).

An adapter joins the suite with a fixtures class and one line, the way fsspec's backends join
its abstract tests:

```python
from listsync.testing import AdapterFixtures, RefusedSample, WriteAdapterConformance

class AcmeFixtures(AdapterFixtures):
    portal = "acme"            # the entry-point name; everything else comes from it

    def valid_listings(self): ...
    def refused_listings(self): ...
    def unchecked_projection(self, adapter, listing):   # write adapters: see below
        return acme_mapping.project(listing)

class TestAcmeConformance(WriteAdapterConformance, AcmeFixtures):
    pass
```

Each check is one test whose failure message says what the adapter got wrong. Faults come from
the sandbox's own fault injection (`ScriptedFaults` only picks which requests get them).

`unchecked_projection` gives the projection of a listing without the portal's offline rules, so
the kit can send a refused sample that `prepare()` blocks and check that the sandbox's refusal
comes back as a `PortalValidationError` on canonical paths; without it those checks are skipped.

`Driver` is the engine's per-listing loop in miniature (prepare, diff, plan, apply, record what
was sent) on the public contract only; adapter tests use it to replay a listing's life.
"""

from listsync.testing._checks import capture_all_logs, find_secrets, is_canonical_path
from listsync.testing._common import CommonConformance, run
from listsync.testing._driver import ConformanceError, Driver
from listsync.testing._faults import (
    NetworkBlockedError,
    RefusingTransport,
    ScriptedFaults,
    block_network,
)
from listsync.testing._fixtures import AdapterFixtures, ManualClock, RefusedSample, UpdateStyle
from listsync.testing._prepare import check_prepared
from listsync.testing._read import ReadAdapterConformance
from listsync.testing._write import WriteAdapterConformance

__all__ = [
    "AdapterFixtures",
    "CommonConformance",
    "ConformanceError",
    "Driver",
    "ManualClock",
    "NetworkBlockedError",
    "ReadAdapterConformance",
    "RefusedSample",
    "RefusingTransport",
    "ScriptedFaults",
    "UpdateStyle",
    "WriteAdapterConformance",
    "block_network",
    "capture_all_logs",
    "check_prepared",
    "find_secrets",
    "is_canonical_path",
    "run",
]
