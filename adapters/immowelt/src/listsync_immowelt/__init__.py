"""listsync adapter for Immowelt (AVIV Group listing import API v1).

Docs: ../shared/portal-docs/immowelt-listing-import-api.txt; PORTALS.md §3.
"""

from listsync_immowelt.adapter import ImmoweltAccount, ImmoweltAdapter, ImmoweltSettings

__all__ = ["ImmoweltAccount", "ImmoweltAdapter", "ImmoweltSettings"]
