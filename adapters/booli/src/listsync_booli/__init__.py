"""listsync adapter for Booli (read-only; Booli API v2, https://api.booli.se).

Sources: portal-docs/booli-api-introduction-sv.txt (the portal's guide) and PORTALS.md §2.
"""

from listsync_booli.adapter import BooliAccount, BooliAdapter, BooliSettings

__all__ = ["BooliAccount", "BooliAdapter", "BooliSettings"]
