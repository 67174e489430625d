"""The adapter contract: what a portal adapter declares and implements, and all it may import.

An adapter is a class registered in the entry-point group `listsync.adapters` under the same name
as its `name` attribute. One instance serves one (portal, account) pair, so rate limits, token
caches and key rotation are per account. The engine never branches on a portal's name: it calls
the methods below and reads `capabilities`. Adapters import this package, `listsync.errors`,
`listsync.model`, `listsync.http` (their HTTP client) and `listsync.log`, nothing else of
listsync's (an import-linter contract checks it).

Write flow, per listing and portal:

1. `prepare(listing) -> Prepared`: the portal's offline rules and the projection in one pass
   (no I/O). Issues carry canonical paths and rule ids; an error blocks the listing.
2. The engine compares the projection's digest with the one last sent: equal, nothing is sent.
   Otherwise it diffs the two (`diff_projection`) and plans the operations with `default_plan`,
   or with the adapter's own `plan(diff)` when it has one (`CustomPlan`).
3. `apply(op, ctx)` for each operation, in order. Non-idempotent operations (`CREATE`,
   `MEDIA_ADD`, `SHOWING_CREATE`) are journalled first; after a crash or an unknown outcome the
   engine calls `recover(op, ctx)`, which looks the record up on the portal, before sending again.
   After each operation the engine records what the portal now holds (`apply_result_to_sent`).

What an adapter may raise, and what the engine does with it (for the one listing concerned;
never for the run):

- `InvalidListingError` (incl. `PortalValidationError`): **blocked**; its issues (canonical
  paths, rule ids) go to the report and `status`; nothing more is sent for that listing.
- `AuthenticationError`: **failed**; the rest of that account's listings in the run fail at
  once with the same message.
- `RateLimitedError`, `TransientError`, `UnknownOutcomeError`: retried as the one retry policy
  (`listsync.retry`) decides, inside `listsync.http` (the engine looks a non-idempotent
  operation up with `recover` before resending it); **failed** when the policy gives up.
- `ConflictError`, `NotFoundError`, `PortalBugError`, any other `PortalError`: **failed**, with
  the message (portal, account, request id).
- any other exception (a bug): **failed**, recorded with its class and message and logged with
  its traceback.

Adapters see portal answers as `Response` (status, headers, body, request id) through
`listsync.http.PortalHttp`, which they build with `PortalHttp.from_settings` and never replace.

See docs/adapters.md for the author's guide.
"""

from pydantic import SecretStr

from listsync.adapter._created import CreatedRefs
from listsync.adapter._diff import (
    ProjectionDiff,
    apply_result_to_sent,
    changed_fields,
    default_plan,
    diff_projection,
)
from listsync.adapter._protocols import (
    Adapter,
    CustomPlan,
    ListsRecords,
    Prepared,
    ReadAdapter,
    WriteAdapter,
)
from listsync.adapter._response import Response
from listsync.adapter._settings import (
    AccountSettings,
    AdapterSettings,
    check_header_value,
    check_portal_url,
)
from listsync.adapter._types import (
    NON_IDEMPOTENT,
    OP_CAPABILITY,
    Capability,
    CredentialStore,
    Operation,
    OperationContext,
    OperationResult,
    OpKind,
    PortalStatus,
    ProjectedItem,
    Projection,
    RemoteRecord,
    TargetState,
    new_item,
    new_operation,
    new_projection,
)
from listsync.errors import FieldIssue, Severity

__all__ = [
    "NON_IDEMPOTENT",
    "OP_CAPABILITY",
    "AccountSettings",
    "Adapter",
    "AdapterSettings",
    "Capability",
    "CreatedRefs",
    "CredentialStore",
    "CustomPlan",
    "FieldIssue",
    "ListsRecords",
    "OpKind",
    "Operation",
    "OperationContext",
    "OperationResult",
    "PortalStatus",
    "Prepared",
    "ProjectedItem",
    "Projection",
    "ProjectionDiff",
    "ReadAdapter",
    "RemoteRecord",
    "Response",
    "SecretStr",
    "Severity",
    "TargetState",
    "WriteAdapter",
    "apply_result_to_sent",
    "changed_fields",
    "check_header_value",
    "check_portal_url",
    "default_plan",
    "diff_projection",
    "new_item",
    "new_operation",
    "new_projection",
]
