"""The conformance kit for adapter authors (also a pytest plugin, `listsync.testing.plugin`).

An adapter joins the suite with a fixtures class and one line, the way fsspec's backends join
its abstract tests:

```python
from listsync.testing import AdapterFixtures, RefusedSample, WriteAdapterConformance

class AcmeFixtures(AdapterFixtures):
    portal = "acme"            # the entry-point name; everything else comes from it

    def valid_listings(self): ...
    def refused_listings(self): ...

class TestAcmeConformance(WriteAdapterConformance, AcmeFixtures):
    pass
```

Each check is one test whose failure message says what the adapter got wrong. Faults come from
the sandbox's own fault injection (`ScriptedFaults` only picks which requests get them).
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
    "find_secrets",
    "is_canonical_path",
    "run",
]
