"""listsync adapter for Booli (read-only; Booli API v2, https://api.booli.se).

Modules, as in every listsync adapter: `settings` (`PORTAL`, settings and account models),
`auth` (request signing), `client` (the route table, one method per endpoint), `mapping` (Booli
objects -> canonical listings, pure), `errors` (`map_error`), `adapter` (orchestration) and
`sandbox` (the fake Booli). Booli is read-only, so there are no offline rules (`rules`).
"""

from listsync_booli.adapter import BooliAdapter
from listsync_booli.settings import BooliAccount, BooliSettings

__all__ = ["BooliAccount", "BooliAdapter", "BooliSettings"]
