"""listsync adapter for Hemnet's BrokerAPI (write: listings, images, showings, publication).

Docs: portal-docs/hemnet-*.txt and PORTALS.md §1; wire paths: DESIGN.md ("The wire contract we
assume"), kept in `listsync_hemnet.client.ROUTES`. The sandbox is `listsync_hemnet.sandbox`.
"""

from listsync_hemnet.adapter import HemnetAccount, HemnetAdapter, HemnetSettings

__all__ = ["HemnetAccount", "HemnetAdapter", "HemnetSettings"]
