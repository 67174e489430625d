"""The adapter registry: entry points loaded through stevedore, broken plugins, stale caches."""

from __future__ import annotations

import importlib
import importlib.metadata
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from stevedore import ExtensionManager

from listsync.adapter import Capability
from listsync.errors import ConfigurationError
from listsync.registry import ADAPTER_GROUP, Registry

BUILTIN = ("booli", "hemnet", "immowelt")

FAKE_MODULE = textwrap.dedent(
    """
    from listsync.adapter import Capability

    def _adapter(portal, caps):
        return type(f"{portal.title()}Adapter", (), {"name": portal, "capabilities": caps})

    HemnetAdapter = _adapter("hemnet", frozenset({Capability.CREATE, Capability.PUBLISH}))
    ImmoweltAdapter = _adapter("immowelt", frozenset({Capability.CREATE}))
    BooliAdapter = _adapter("booli", frozenset({Capability.READ, Capability.SEARCH}))
    MisnamedAdapter = _adapter("something_else", frozenset())
    """
)

EntryPointsFn = Callable[..., importlib.metadata.EntryPoints]


@pytest.fixture
def fake_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An importable module of stand-in adapter classes; returns its module name."""
    (tmp_path / "listsync_fake_plugins.py").write_text(FAKE_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "listsync_fake_plugins"


def importable(entry_point: importlib.metadata.EntryPoint) -> bool:
    """True when the entry point's target can be imported (its package is built)."""
    try:
        entry_point.load()
    except (ImportError, AttributeError):
        return False
    return True


def builtin_entry_points(fake_module: str) -> list[importlib.metadata.EntryPoint]:
    """The installed built-in entry points, with stand-ins for packages not importable yet."""
    installed = {ep.name: ep for ep in importlib.metadata.entry_points(group=ADAPTER_GROUP)}
    out = []
    for name in BUILTIN:
        ep = installed[name]
        if not importable(ep):
            ep = importlib.metadata.EntryPoint(
                name, f"{fake_module}:{name.title()}Adapter", ADAPTER_GROUP
            )
        out.append(ep)
    return out


@pytest.fixture
def live_entry_points(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Make `importlib.metadata.entry_points` answer the given entry points for our group."""
    real: EntryPointsFn = importlib.metadata.entry_points

    def install(*eps: importlib.metadata.EntryPoint) -> None:
        def entry_points(**params: str) -> importlib.metadata.EntryPoints:
            if params.get("group") == ADAPTER_GROUP:
                return importlib.metadata.EntryPoints(eps)
            return real(**params)

        monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)

    return install


def test_builtin_adapters_are_declared_as_entry_points() -> None:
    """The three built-in distributions register hemnet, immowelt and booli (installed)."""
    names = {ep.name for ep in importlib.metadata.entry_points(group=ADAPTER_GROUP)}
    assert set(BUILTIN) <= names
    for ep in importlib.metadata.entry_points(group=ADAPTER_GROUP):
        if ep.name in BUILTIN:
            assert ep.value == f"listsync_{ep.name}:{ep.name.title()}Adapter"


def test_registry_lists_the_builtin_adapters(
    fake_plugins: str, live_entry_points: Callable[..., None]
) -> None:
    """Registry loads hemnet, immowelt and booli through entry points, names matching classes."""
    live_entry_points(*builtin_entry_points(fake_plugins))
    registry = Registry()
    assert registry.names() == list(BUILTIN)
    assert registry.broken == []
    for info in registry.adapters():
        registry.check_name(info.name)
        assert info.capabilities <= set(Capability)
        assert info.cls is registry.get(info.name)


def test_broken_plugin_is_reported_by_name_and_others_load(
    fake_plugins: str, live_entry_points: Callable[..., None]
) -> None:
    """A plugin pointing at a missing module is listed as broken; the others still load."""
    broken = importlib.metadata.EntryPoint(
        "broken", "listsync_no_such_module:Adapter", ADAPTER_GROUP
    )
    live_entry_points(*builtin_entry_points(fake_plugins), broken)
    registry = Registry()
    assert registry.names() == list(BUILTIN)
    (failure,) = registry.broken
    assert failure.name == "broken"
    assert failure.target == "listsync_no_such_module:Adapter"
    assert "ModuleNotFoundError" in failure.error
    with pytest.raises(ConfigurationError) as caught:
        registry.get("broken")
    assert "'broken'" in str(caught.value)
    assert "listsync_no_such_module" in str(caught.value)
    assert caught.value.key == "portals.broken"


def test_unknown_name_is_a_configuration_error_naming_it(
    fake_plugins: str, live_entry_points: Callable[..., None]
) -> None:
    """Asking for an adapter that is not installed names it and lists what is installed."""
    live_entry_points(*builtin_entry_points(fake_plugins))
    with pytest.raises(ConfigurationError) as caught:
        Registry().get("zillow")
    message = str(caught.value)
    assert "'zillow'" in message
    assert "hemnet" in message
    assert caught.value.key == "portals.zillow"


def test_entry_point_name_must_match_the_adapter_name(
    fake_plugins: str, live_entry_points: Callable[..., None]
) -> None:
    """An entry point whose class has another `name` fails `check_name`, naming both."""
    ep = importlib.metadata.EntryPoint("hemnet", f"{fake_plugins}:MisnamedAdapter", ADAPTER_GROUP)
    live_entry_points(ep)
    with pytest.raises(ConfigurationError, match="something_else"):
        Registry().check_name("hemnet")


def test_stale_stevedore_cache_is_bypassed(
    fake_plugins: str, live_entry_points: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registry reads entry points live, where plain stevedore would serve its stale cache."""
    stale = [
        importlib.metadata.EntryPoint("removed", f"{fake_plugins}:HemnetAdapter", ADAPTER_GROUP)
    ]
    monkeypatch.setitem(ExtensionManager.ENTRY_POINT_CACHE, ADAPTER_GROUP, stale)
    live_entry_points(*builtin_entry_points(fake_plugins))
    assert ExtensionManager(ADAPTER_GROUP).names() == ["removed"]  # the pitfall itself
    assert Registry().names() == list(BUILTIN)
