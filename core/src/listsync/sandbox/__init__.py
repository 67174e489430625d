"""Shared base of the portal sandboxes (stateful fakes of each portal's API)."""

from listsync.sandbox._base import (
    FaultConfig,
    RecordedRequest,
    ResponseDroppedError,
    Sandbox,
    SandboxTransport,
    plain_text,
)

__all__ = [
    "FaultConfig",
    "RecordedRequest",
    "ResponseDroppedError",
    "Sandbox",
    "SandboxTransport",
    "plain_text",
]
