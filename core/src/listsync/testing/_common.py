"""Checks every adapter must pass, read or write: identity, capabilities, credentials, rate
limits, server errors and secrets in logs."""

from __future__ import annotations

from typing import Any

from listsync.adapter import AccountSettings, AdapterSettings, Capability
from listsync.testing._base import run
from listsync.testing._checks import capture_all_logs, find_secrets
from listsync.testing._credentials import CredentialChecks
from listsync.testing._driver import ConformanceError
from listsync.testing._retries import RetryChecks

__all__ = ["CommonConformance", "run"]

WRITE_CAPABILITIES = frozenset(Capability) - {Capability.READ, Capability.SEARCH}
_WRITE_METHODS = ("prepare", "apply", "recover", "fetch")


class CommonConformance(CredentialChecks, RetryChecks):
    """Checks shared by read and write adapters (join through the subclasses)."""

    # -- identity and capabilities ---------------------------------------------------------
    def test_entry_point_name_matches_adapter_name(self) -> None:
        """The entry-point name, `Adapter.name` and the sandbox's name are the same string."""
        cls = self.load_adapter_class()
        name = getattr(cls, "name", None)
        where = f"{cls.__module__}.{cls.__qualname__}"
        if name != self.portal:
            raise ConformanceError(
                f"entry point {self.portal!r} loads {where} whose name is {name!r}: the "
                "entry-point name and Adapter.name must be the same string"
            )
        sandbox_name = getattr(self.load_sandbox_class(), "name", None)
        if sandbox_name != self.portal:
            raise ConformanceError(
                f"the sandbox registered as {self.portal!r} is named {sandbox_name!r}"
            )

    def test_declares_settings_models(self) -> None:
        """`settings_model` / `account_model` subclass the contract's settings classes."""
        cls = self.load_adapter_class()
        if not issubclass(getattr(cls, "settings_model", object), AdapterSettings):
            raise ConformanceError(
                f"{cls.__qualname__}.settings_model must subclass AdapterSettings"
            )
        if not issubclass(getattr(cls, "account_model", object), AccountSettings):
            raise ConformanceError(
                f"{cls.__qualname__}.account_model must subclass AccountSettings"
            )

    def test_capabilities_match_implementation(self) -> None:
        """Every declared capability is implemented and every implemented one declared."""
        cls = self.load_adapter_class()
        caps = getattr(cls, "capabilities", None)
        if not isinstance(caps, frozenset) or not all(isinstance(c, Capability) for c in caps):
            raise ConformanceError(
                f"{cls.__qualname__}.capabilities must be a frozenset of Capability, got {caps!r}"
            )
        problems = [*_write_problems(cls, caps), *_read_problems(cls, caps)]
        if problems:
            raise ConformanceError(f"{cls.__qualname__}: " + "; ".join(problems))

    # -- secrets -------------------------------------------------------------------------------
    def test_no_secret_in_logs(self) -> None:
        """Nothing logged while working (structlog or stdlib, any level) holds a credential,
        a Bearer token, a JWT or a request signature."""
        sandbox = self.make_sandbox()
        table = self.settings_table(sandbox)

        async def scenario() -> None:
            async with self._adapter(sandbox, table=table) as adapter:
                await self._exercise(adapter, sandbox)

        with capture_all_logs() as logs:
            run(scenario())
        secrets = self.secret_values(table)
        leaks = find_secrets(logs.texts(), secrets)
        leaks += find_secrets(logs.transport_records, secrets, patterns=False)
        if leaks:
            raise ConformanceError("secrets in log output: " + "; ".join(sorted(set(leaks))))


def _write_problems(cls: type[Any], caps: frozenset[Capability]) -> list[str]:
    problems = []
    declared = sorted(c.value for c in caps & WRITE_CAPABILITIES)
    missing = [m for m in _WRITE_METHODS if not callable(getattr(cls, m, None))]
    if declared and missing:
        problems.append(f"declares {declared} but does not implement {missing}")
    if not declared and not missing:
        problems.append(
            "implements the write methods but declares no write capability (create, update, ...)"
        )
    if declared and Capability.CREATE not in caps:
        problems.append("a write adapter must declare Capability.CREATE")
    return problems


def _read_problems(cls: type[Any], caps: frozenset[Capability]) -> list[str]:
    problems = []
    has_search = callable(getattr(cls, "search", None))
    has_read = callable(getattr(cls, "get", None)) or callable(getattr(cls, "fetch", None))
    if Capability.SEARCH in caps and not has_search:
        problems.append("declares Capability.SEARCH but has no search() method")
    if has_search and Capability.SEARCH not in caps:
        problems.append("implements search() but does not declare Capability.SEARCH")
    if Capability.READ in caps and not has_read:
        problems.append("declares Capability.READ but has neither get() nor fetch()")
    if callable(getattr(cls, "get", None)) and Capability.READ not in caps:
        problems.append("implements get() but does not declare Capability.READ")
    return problems
