"""listsync adapter for Immowelt (AVIV Group listing import API v1).

Modules: `settings` (the `PORTAL` name, settings and account), `auth` (OAuth2 client
credentials), `client` (the endpoints), `mapping` (listing <-> payload), `rules` (the 21
business rules, offline), `errors` (`map_error`), `adapter` (orchestration), `sandbox` (the
fake portal).
"""

from listsync_immowelt.adapter import ImmoweltAdapter
from listsync_immowelt.settings import ImmoweltAccount, ImmoweltSettings

__all__ = ["ImmoweltAccount", "ImmoweltAdapter", "ImmoweltSettings"]
