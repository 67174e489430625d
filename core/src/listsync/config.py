"""Configuration: a TOML file plus `LISTSYNC_<PORTAL>_<SETTING>` environment overrides.

```toml
[state]
url = "sqlite:///listsync-state.sqlite"

[portals.hemnet]                 # portal settings + the default account's credentials
base_url = "https://..."
token = "..."

[portals.hemnet.accounts.acme]   # further accounts, each serving some agencies
token = "..."
agencies = ["acme"]
```

Environment overrides: `LISTSYNC_HEMNET_TOKEN` sets the default account's `token`;
`LISTSYNC_HEMNET__ACME__TOKEN` (double underscores) sets account `acme`'s
(`LISTSYNC_HEMNET__DEFAULT__TOKEN` is the same as `LISTSYNC_HEMNET_TOKEN`). A value that starts
with `[` or `{` is read as JSON (`LISTSYNC_HEMNET__ACME__AGENCIES='["acme"]'`).
`LISTSYNC_STATE_URL` overrides `[state] url`. An environment variable applies to a portal that
the file names, that `known_portals` lists (the CLI passes the installed adapters), or that has
`LISTSYNC_<PORTAL>_BASE_URL` set.

An unknown key or a missing credential is a `ConfigurationError` naming the key; secret values
are never echoed.
"""

from __future__ import annotations

import copy
import json
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from listsync.adapter import AccountSettings, AdapterSettings
from listsync.errors import ConfigurationError

__all__ = ["DEFAULT_ACCOUNT", "Config", "PortalConfig", "load_config", "parse_portal_config"]

DEFAULT_ACCOUNT = "default"
DEFAULT_STATE_URL = "sqlite:///listsync-state.sqlite"


@dataclass(frozen=True)
class PortalConfig:
    """One portal's validated settings and its named accounts."""

    name: str
    settings: AdapterSettings
    accounts: dict[str, AccountSettings]


@dataclass(frozen=True)
class Config:
    """The whole file after environment overrides; portal tables are still raw mappings."""

    state_url: str = DEFAULT_STATE_URL
    portals: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: Path | None = None


def load_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    known_portals: Iterable[str] = (),
) -> Config:
    """Read the TOML file (or `./listsync.toml` when present) and apply env overrides.

    Portal tables stay raw here; `parse_portal_config` validates one against its adapter.

    Args:
        path: the TOML file; None reads `./listsync.toml` if it exists, else nothing.
        env: the environment (default `os.environ`).
        known_portals: portal names whose `LISTSYNC_<PORTAL>_*` variables apply even when the
            file has no table for them (the installed adapters).

    Raises:
        ConfigurationError: a missing or malformed file, or an unknown table or key.
    """
    env = os.environ if env is None else env
    if path is None and Path("listsync.toml").exists():
        path = Path("listsync.toml")
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigurationError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{path}: invalid TOML: {exc}") from None
    unknown = set(data) - {"state", "portals"}
    if unknown:
        raise ConfigurationError("unknown top-level table", key=sorted(unknown)[0])
    state = data.get("state", {})
    extra_state = set(state) - {"url"}
    if extra_state:
        raise ConfigurationError("unknown key", key=f"state.{sorted(extra_state)[0]}")
    raw_portals = data.get("portals", {})
    if not isinstance(raw_portals, dict):
        raise ConfigurationError("must be a table of portal tables", key="portals")
    for name, table in raw_portals.items():
        if not isinstance(table, dict):
            raise ConfigurationError("must be a table", key=f"portals.{name}")
    portals: dict[str, dict[str, Any]] = copy.deepcopy(raw_portals)
    _apply_env(portals, env, {p.lower() for p in known_portals})
    state_url = env.get("LISTSYNC_STATE_URL", state.get("url", DEFAULT_STATE_URL))
    return Config(state_url=state_url, portals=portals, source=path)


def _apply_env(portals: dict[str, dict[str, Any]], env: Mapping[str, str], known: set[str]) -> None:
    applicable = set(portals) | known | _known_env_portals(env)
    for var in sorted(env):  # sorted: the outcome must not depend on the environment's order
        if not var.startswith("LISTSYNC_") or var == "LISTSYNC_STATE_URL":
            continue
        rest = var.removeprefix("LISTSYNC_")
        if "__" in rest:
            portal, account, key = [*rest.split("__", 2), "", ""][:3]
            if not account or not key:
                continue
            table = portals.setdefault(portal.lower(), {})
            value = _env_value(var, env[var])
            if account.lower() == DEFAULT_ACCOUNT:
                table[key.lower()] = value
            else:
                accounts = table.setdefault("accounts", {})
                accounts.setdefault(account.lower(), {})[key.lower()] = value
            continue
        portal, _, key = rest.partition("_")
        if key and portal.lower() in applicable:
            portals.setdefault(portal.lower(), {})[key.lower()] = _env_value(var, env[var])


def _env_value(var: str, value: str) -> Any:
    """The value as given, or parsed as JSON when it looks like a list or an object."""
    if not value.lstrip().startswith(("[", "{")):
        return value
    try:
        return json.loads(value)
    except ValueError:
        # Never quote the value: it may be a secret.
        raise ConfigurationError("is not valid JSON", key=var) from None


def _known_env_portals(env: Mapping[str, str]) -> set[str]:
    """Portals named by `LISTSYNC_<PORTAL>_BASE_URL`, so env-only configuration works."""
    return {
        var.removeprefix("LISTSYNC_").removesuffix("_BASE_URL").lower()
        for var in env
        if var.startswith("LISTSYNC_") and var.endswith("_BASE_URL") and "__" not in var
    }


def _validate(model: type[BaseModel], data: Mapping[str, Any], where: str) -> Any:
    """Validate one table; errors name every bad key and never include the input values."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            key = ".".join(str(p) for p in error["loc"])
            message = _MESSAGES.get(error["type"], error["msg"])
            problems.append((f"{where}.{key}" if key else where, message))
        first_key, first_message = problems[0]
        more = "".join(f"; {key}: {message}" for key, message in problems[1:])
        raise ConfigurationError(f"{first_message}{more}", key=first_key) from None


_MESSAGES = {"missing": "missing required setting", "extra_forbidden": "unknown key"}


def parse_portal_config(
    name: str,
    table: Mapping[str, Any],
    settings_model: type[AdapterSettings],
    account_model: type[AccountSettings],
) -> PortalConfig:
    """Split a `[portals.<name>]` table into portal settings and named accounts.

    Keys of `settings_model` are portal settings; keys of `account_model` at the top level make
    up the `default` account; `[portals.<name>.accounts.<account>]` tables are further accounts.

    Raises:
        ConfigurationError: an unknown key, a missing credential or an invalid value, naming
            the key (`portals.hemnet.accounts.acme.token`) but never its value.
    """
    table = dict(table)
    named = table.pop("accounts", {}) or {}
    portal_keys = set(settings_model.model_fields)
    account_keys = set(account_model.model_fields)
    portal_part = {k: v for k, v in table.items() if k in portal_keys}
    default_part = {k: v for k, v in table.items() if k in account_keys and k not in portal_keys}
    unknown = set(table) - portal_keys - account_keys
    if unknown:
        raise ConfigurationError("unknown key", key=f"portals.{name}.{sorted(unknown)[0]}")
    settings = _validate(settings_model, portal_part, f"portals.{name}")
    accounts: dict[str, AccountSettings] = {}
    credentials_given = any(k != "agencies" for k in default_part)
    if credentials_given or not named:
        accounts[DEFAULT_ACCOUNT] = _validate(account_model, default_part, f"portals.{name}")
    for account, values in named.items():
        accounts[account] = _validate(account_model, values, f"portals.{name}.accounts.{account}")
    return PortalConfig(name=name, settings=settings, accounts=accounts)
