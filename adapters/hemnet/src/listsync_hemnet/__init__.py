"""listsync adapter for Hemnet's BrokerAPI (write: listings, images, showings, publication).

The adapter is `HemnetAdapter` (adapter.py), configured by `HemnetSettings` and `HemnetAccount`
(settings.py); the wire paths are `listsync_hemnet.client.ROUTES`; the fake portal for tests and
demos is `listsync_hemnet.sandbox.HemnetSandbox`.
"""

from listsync_hemnet.adapter import HemnetAdapter
from listsync_hemnet.settings import PORTAL, HemnetAccount, HemnetSettings

__all__ = ["PORTAL", "HemnetAccount", "HemnetAdapter", "HemnetSettings"]
