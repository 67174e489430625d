"""Planning and applying changes: diff, plan, apply, state store and journal."""

from listsync.sync._accounts import (
    AccountProvider,
    AdapterPool,
    ConfigAccounts,
    PortalSetup,
    load_portal_setups,
)
from listsync.sync._apply import Engine, EntryResult
from listsync.sync._diff import ProjectionDiff, apply_result_to_sent, default_plan, diff_projection
from listsync.sync._plan import Action, Plan, PlanEntry, Planner, SourceItem
from listsync.sync._report import FAILING_OUTCOMES, ReportWriter, RunReport
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
    "ConfigAccounts",
    "Engine",
    "EntryResult",
    "Intent",
    "ListingState",
    "Outcome",
    "Plan",
    "PlanEntry",
    "Planner",
    "PortalSetup",
    "ProjectionDiff",
    "ReportWriter",
    "RunReport",
    "SQLiteStateStore",
    "SourceItem",
    "StateKey",
    "StateStore",
    "apply_result_to_sent",
    "default_plan",
    "diff_projection",
    "load_portal_setups",
    "open_state_store",
]
