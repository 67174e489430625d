"""Every error listsync raises, grouped by what the caller should do about it.

```
ListsyncError
├── ConfigurationError            fix the configuration (CLI exit code 2)
│   └── StateStoreError           the state store cannot be used (damaged, read-only, full...)
│       └── StateLockedError      ... another run holds its writer lease (named)
├── InvalidListingError           fix the listing data; carries FieldIssues with canonical paths
│   └── PortalValidationError     ... the portal itself refused it (also a PortalError)
└── PortalError                   something happened on a portal; names the portal and request id
    ├── AuthenticationError       fix the credentials of that portal account
    │   └── PermissionDeniedError ... the credentials lack a scope/permission (named)
    ├── ConflictError             the portal's state forbids this (transition refused, 409)
    ├── NotFoundError             the remote record does not exist (any more)
    ├── RetryableError            retried as the one retry policy (listsync.retry) decides
    │   ├── RateLimitedError      429; `retry_after` in seconds when the portal said
    │   ├── TransientError        5xx, timeouts, connection failures
    │   │   └── RequestNotSentError   ... before anything reached the portal: always safe
    │   ├── UnknownOutcomeError   a non-idempotent request may or may not have landed
    │   └── PortalUnavailableError  the account's circuit breaker is open: not sent, next run
    └── PortalBugError            the portal answered something its documents rule out
```

`str(error)` names the portal, the account when there is one, and the portal's request id,
and never contains a secret: messages pass through `listsync.redact.redact_text`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from listsync.redact import redact_text

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "FieldIssue",
    "InvalidListingError",
    "ListsyncError",
    "NotFoundError",
    "PermissionDeniedError",
    "PortalBugError",
    "PortalError",
    "PortalUnavailableError",
    "PortalValidationError",
    "RateLimitedError",
    "RequestNotSentError",
    "RetryableError",
    "Severity",
    "StateLockedError",
    "StateStoreError",
    "TransientError",
    "UnknownOutcomeError",
]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class FieldIssue(BaseModel):
    """One problem with one field, pointing at the canonical field a CRM user can fix.

    Attributes:
        path: canonical dotted path, e.g. `address.postal_code` or `media[1].url`.
        message: human-readable, UI-ready text.
        portal: the portal whose rule produced it, `None` for the canonical model.
        portal_field: the portal's own name or pointer for the field (`postCode`, `/data/...`).
        rule: the portal rule's identifier, when it has one.
        severity: errors block sending; warnings are reported only.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    message: str
    portal: str | None = None
    portal_field: str | None = None
    rule: str | None = None
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = f" ({self.portal}: {self.portal_field})" if self.portal_field else ""
        return f"{self.path}: {self.message}{where}"


class ListsyncError(Exception):
    """Base of every listsync error."""

    def __init__(self, message: str) -> None:
        self.message = redact_text(message)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class ConfigurationError(ListsyncError):
    """The configuration is wrong or incomplete; `key` names the offending setting."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        super().__init__(message)
        if key:
            # The key is a setting's name, never a secret; prefixing it after redaction keeps
            # "portals.x.token: missing required setting" from reading as a `token: value` pair.
            self.message = f"{key}: {self.message}"
            self.args = (self.message,)


class StateStoreError(ConfigurationError):
    """The state store cannot be used as it is: damaged, not a listsync store, read-only,
    full, locked for too long, deleted while in use, or a URL that cannot keep state between
    runs. The message is one line naming the file and what to do. A run stops cleanly on it
    (nothing more is sent); it is a `ConfigurationError`, so the CLI exits with 2.

    Attributes:
        path: the store's file, when there is one.
        reason: the short cause (SQLite's or the operating system's words).
    """

    def __init__(self, message: str, *, path: str | None = None, reason: str = "") -> None:
        self.path = path
        self.reason = reason
        super().__init__(message)


class StateLockedError(StateStoreError):
    """Another run holds the state store's writer lease; `holder` says who, when known
    (`pid`, `host`, `started`, `run_id`)."""

    def __init__(
        self, message: str, *, path: str | None = None, holder: dict[str, object] | None = None
    ) -> None:
        self.holder = holder
        super().__init__(message, path=path, reason="locked by another run")


class InvalidListingError(ListsyncError):
    """The listing data must be fixed; `issues` say where, with canonical paths."""

    def __init__(
        self,
        issues: Iterable[FieldIssue],
        *,
        external_ref: str | None = None,
        message: str | None = None,
    ) -> None:
        self.issues: tuple[FieldIssue, ...] = tuple(issues)
        self.external_ref = external_ref
        head = message or (
            f"listing {external_ref!r} is invalid" if external_ref else "listing is invalid"
        )
        lines = "".join(f"\n  {issue}" for issue in self.issues)
        super().__init__(f"{head}: {len(self.issues)} problem(s){lines}")


class PortalError(ListsyncError):
    """Something went wrong on a portal.

    Attributes:
        portal: the adapter name.
        account: the portal account the request was made for.
        detail: what happened, without the portal, account and request id (`str(error)`
            has them all).
        request_id: the portal's own request id, when it gave one.
        status_code: the HTTP status, when there was a response.
    """

    def __init__(
        self,
        message: str,
        *,
        portal: str,
        account: str | None = None,
        request_id: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.portal = portal
        self.account = account
        self.request_id = request_id
        self.status_code = status_code
        self.detail = redact_text(message)
        """The message alone, without the portal, account and request id around it."""
        where = portal if account in (None, "default") else f"{portal} account {account!r}"
        tail = f" (request id {request_id})" if request_id else ""
        # Not super(): in PortalValidationError the next class in the MRO is
        # InvalidListingError, whose first argument is the issues, not the message.
        ListsyncError.__init__(self, f"{where}: {message}{tail}")


class PortalValidationError(PortalError, InvalidListingError):
    """The portal refused the listing's content; `issues` map its fields to canonical paths."""

    def __init__(
        self,
        message: str,
        issues: Sequence[FieldIssue],
        *,
        portal: str,
        account: str | None = None,
        request_id: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.issues = tuple(issues)
        self.external_ref = None
        lines = "".join(f"\n  {issue}" for issue in self.issues)
        PortalError.__init__(
            self,
            f"{message}{lines}",
            portal=portal,
            account=account,
            request_id=request_id,
            status_code=status_code,
        )


class AuthenticationError(PortalError):
    """The credentials of a portal account were refused or have expired."""


class PermissionDeniedError(AuthenticationError):
    """The credentials work but lack a permission; `scope` names it when known."""

    def __init__(
        self,
        message: str,
        *,
        portal: str,
        scope: str | None = None,
        account: str | None = None,
        request_id: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.scope = scope
        text = f"{message} (missing scope {scope})" if scope else message
        super().__init__(
            text, portal=portal, account=account, request_id=request_id, status_code=status_code
        )


class ConflictError(PortalError):
    """The portal's state forbids the operation (an illegal transition, a duplicate)."""


class NotFoundError(PortalError):
    """The remote record does not exist."""


class RetryableError(PortalError):
    """Retried automatically; raised to the caller only when retries are exhausted."""


class RateLimitedError(RetryableError):
    """The portal asked us to slow down; `retry_after` is in seconds when it said."""

    def __init__(
        self,
        message: str,
        *,
        portal: str,
        retry_after: float | None = None,
        account: str | None = None,
        request_id: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            message, portal=portal, account=account, request_id=request_id, status_code=status_code
        )


class TransientError(RetryableError):
    """A server error, timeout or connection failure that may go away on retry."""


class RequestNotSentError(TransientError):
    """Nothing reached the portal (connection refused, token endpoint down): any request,
    even a create, may be sent again."""


class PortalUnavailableError(RetryableError):
    """The portal account's circuit breaker is open after repeated failures: the request was
    not sent, and is not retried in this run (the next run retries it)."""


class UnknownOutcomeError(RetryableError):
    """A non-idempotent request was sent and no answer came back: it may have landed."""


class PortalBugError(PortalError):
    """The portal answered in a way its own documents rule out."""
