"""Planning and applying changes: diff, plan, apply, state store and journal."""

from listsync.sync._accounts import (
    AccountProvider,
    AdapterPool,
    ConfigAccounts,
    PortalSetup,
    load_portal_setups,
)
from listsync.sync._apply import Engine, EntryResult
from listsync.sync._plan import (
    Action,
    BlockedEntry,
    FailedEntry,
    InvalidEntry,
    Plan,
    PlanEntry,
    PlannedEntry,
    Planner,
    SourceItem,
)
from listsync.sync._report import FAILING_OUTCOMES, Orphan, ReportWriter, RunReport
from listsync.sync._sqlite import SCHEMA_VERSION, SQLiteStateStore, open_state_store
from listsync.sync._store import (
    AuditEntry,
    Intent,
    ListingState,
    Outcome,
    StateKey,
    StateStore,
)

__all__ = [
    "FAILING_OUTCOMES",
    "SCHEMA_VERSION",
    "AccountProvider",
    "Action",
    "AdapterPool",
    "AuditEntry",
    "BlockedEntry",
    "ConfigAccounts",
    "Engine",
    "EntryResult",
    "FailedEntry",
    "Intent",
    "InvalidEntry",
    "ListingState",
    "Orphan",
    "Outcome",
    "Plan",
    "PlanEntry",
    "PlannedEntry",
    "Planner",
    "PortalSetup",
    "ReportWriter",
    "RunReport",
    "SQLiteStateStore",
    "SourceItem",
    "StateKey",
    "StateStore",
    "load_portal_setups",
    "open_state_store",
]
