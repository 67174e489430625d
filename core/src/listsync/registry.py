"""Installed adapters and sandboxes, loaded through entry points with stevedore.

Groups: `listsync.adapters` (adapter classes) and `listsync.sandboxes` (sandbox classes).
stevedore keeps two entry-point caches (a class-level dict and a JSON file whose key packs file
mtimes as 32-bit floats, ~128 s granularity): a package re-installed within that window can show
a stale list. `_LiveEntryPoints` reads `importlib.metadata` directly instead.
A plugin that fails to import is reported by name and the others still load.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import Any, cast

from stevedore import ExtensionManager
from stevedore.extension import Extension

from listsync.adapter import Adapter, Capability
from listsync.errors import ConfigurationError

__all__ = [
    "ADAPTER_GROUP",
    "SANDBOX_GROUP",
    "AdapterInfo",
    "BrokenPlugin",
    "Registry",
]

ADAPTER_GROUP = "listsync.adapters"
SANDBOX_GROUP = "listsync.sandboxes"


class _LiveEntryPoints(ExtensionManager):  # type: ignore[type-arg]  # generic only in stubs
    """An ExtensionManager that bypasses stevedore's on-disk and in-process caches."""

    def list_entry_points(self) -> list[importlib.metadata.EntryPoint]:
        return list(importlib.metadata.entry_points(group=self.namespace))


@dataclass(frozen=True)
class BrokenPlugin:
    """An entry point that failed to load: its name, its target and the error, as text."""

    name: str
    target: str
    error: str


@dataclass(frozen=True)
class AdapterInfo:
    """One installed adapter: its class, declared capabilities and distribution."""

    name: str
    cls: type[Adapter]
    capabilities: frozenset[Capability]
    distribution: str | None
    version: str | None


class Registry:
    """The adapters (and sandboxes) installed in this environment."""

    def __init__(self, group: str = ADAPTER_GROUP) -> None:
        self.group = group
        self.broken: list[BrokenPlugin] = []

        def on_failure(_manager: Any, entrypoint: Any, exc: BaseException) -> None:
            self.broken.append(
                BrokenPlugin(entrypoint.name, entrypoint.value, f"{type(exc).__name__}: {exc}")
            )

        self._manager = _LiveEntryPoints(
            group, invoke_on_load=False, on_load_failure_callback=on_failure
        )

    def names(self) -> list[str]:
        """Names of the plugins that loaded, sorted (broken ones are in `broken`)."""
        return sorted(self._manager.names())

    def get(self, name: str) -> type[Any]:
        """The class registered under `name`.

        Raises:
            ConfigurationError: unknown name or a plugin that failed to import, naming it.
        """
        for broken in self.broken:
            if broken.name == name:
                raise ConfigurationError(
                    f"plugin {name!r} ({broken.target}) failed to load: {broken.error}",
                    key=f"portals.{name}",
                )
        try:
            ext: Extension[Any] = self._manager[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise ConfigurationError(
                f"no adapter named {name!r} is installed (installed: {known})",
                key=f"portals.{name}",
            ) from None
        cls: type[Any] = ext.plugin
        return cls

    def adapter(self, name: str) -> type[Adapter]:
        """The adapter class registered under `name`, checked against the contract.

        Raises:
            ConfigurationError: unknown name, a plugin that failed to import, or a class that
                lacks what every adapter declares (`name`, `capabilities`, `settings_model`,
                `account_model`, `check`, `aclose`).
        """
        return _checked(name, self.get(name))

    def adapters(self) -> list[AdapterInfo]:
        """Every plugin that loaded, with its capabilities and distribution, sorted by name."""
        out = []
        for name in self.names():
            ext: Extension[Any] = self._manager[name]
            cls = ext.plugin
            dist = getattr(ext.entry_point, "dist", None)
            out.append(
                AdapterInfo(
                    name=name,
                    cls=cast("type[Adapter]", cls),
                    capabilities=frozenset(getattr(cls, "capabilities", frozenset())),
                    distribution=dist.name if dist is not None else None,
                    version=dist.version if dist is not None else None,
                )
            )
        return out

    def check_name(self, name: str) -> None:
        """The entry-point name must equal the adapter's `name` (one name, registered once)."""
        cls = self.get(name)
        if getattr(cls, "name", None) != name:
            raise ConfigurationError(
                f"entry point {name!r} loads {cls.__module__}.{cls.__qualname__} whose name is "
                f"{getattr(cls, 'name', None)!r}",
                key=f"portals.{name}",
            )


_DECLARED = ("name", "capabilities", "settings_model", "account_model", "check", "aclose")


def _checked(name: str, cls: type[Any]) -> type[Adapter]:
    missing = [attribute for attribute in _DECLARED if not hasattr(cls, attribute)]
    if missing:
        raise ConfigurationError(
            f"plugin {name!r} ({cls.__module__}.{cls.__qualname__}) is not an adapter: it lacks "
            + ", ".join(missing),
            key=f"portals.{name}",
        )
    return cast("type[Adapter]", cls)
