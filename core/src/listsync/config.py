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

The file and the environment are two pydantic-settings sources (`TomlConfigSettingsSource` and
`EnvironmentSource` here, which keeps listsync's variable names), merged by
`ListsyncSettings` (the environment wins). Each source records where every value came from, so
an error names the TOML key or the environment variable that holds the bad value
(`LISTSYNC_HEMNET_MAX_ATEMPTS: unknown setting`), and `listsync config show` can say where each
effective value came from. Messages never quote a value: it may be a secret.

Validation is complete at load time: types, finite numbers, `*_url` settings as http(s) URLs
with a host, and strings that go into HTTP headers free of control characters (`user_agent` and
credentials also encodable as Latin-1, what a header can carry).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from listsync.adapter import AccountSettings, AdapterSettings
from listsync.errors import ConfigurationError

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_STATE_URL",
    "Config",
    "EnvironmentSource",
    "ListsyncSettings",
    "PortalConfig",
    "PortalTable",
    "load_config",
    "parse_portal_config",
]

DEFAULT_ACCOUNT = "default"
DEFAULT_STATE_URL = "sqlite:///listsync-state.sqlite"
ENV_PREFIX = "LISTSYNC_"
STATE_URL_VAR = "LISTSYNC_STATE_URL"
SHARED_VARS = frozenset(
    {
        "LISTSYNC_SHARED_REDIS_URL",
        "LISTSYNC_SHARED_BROKER_URL",
        "LISTSYNC_SHARED_VISIBILITY_TIMEOUT",
    }
)


class PortalTable(dict[str, Any]):
    """A `[portals.<name>]` table that also knows where each value came from.

    `origins` maps a dotted key below the table (`token`, `accounts.acme.token`) to the
    environment variable that set it; keys absent from it come from the file.
    """

    origins: dict[str, str]

    def __init__(self, *args: Any, origins: Mapping[str, str] | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.origins = dict(origins or {})


@dataclass(frozen=True)
class PortalConfig:
    """One portal's validated settings and its named accounts."""

    name: str
    settings: AdapterSettings
    accounts: dict[str, AccountSettings]


@dataclass(frozen=True)
class Config:
    """The whole file after environment overrides; portal tables are still raw mappings.

    `origins` maps a dotted key (`state.url`, `portals.hemnet.token`) to the environment
    variable that set it; other keys come from `source` (the file) or are defaults.
    """

    state_url: str = DEFAULT_STATE_URL
    portals: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: Path | None = None
    origins: dict[str, str] = field(default_factory=dict)
    state_auto_migrate: bool = False
    shared_redis_url: str | None = None
    """`[shared] redis_url`: limits, breaker state and credentials shared by every worker
    (`listsync._shared`); None keeps them in the process."""
    shared_broker_url: str | None = None
    """`[shared] broker_url`: the Celery broker and result backend (default: `redis_url`)."""
    shared_visibility_timeout: float = 60.0
    """`[shared] visibility_timeout`: seconds before a chunk taken by a worker that died is
    handed to another one (Redis broker)."""

    def origin(self, key: str) -> str:
        """Where a dotted key's value came from: an environment variable, the file or default."""
        if key in self.origins:
            return f"env {self.origins[key]}"
        return f"file {self.source}" if self.source is not None else "default"


# -- the sources ------------------------------------------------------------------------------


class _StateTable(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    url: str = DEFAULT_STATE_URL
    auto_migrate: bool = False
    """PostgreSQL: migrate the schema on first use (else `listsync state upgrade` does)."""

    @field_validator("url")
    @classmethod
    def _state_url(cls, value: str) -> str:
        if value.startswith(("postgresql://", "postgres://")) and value.count("/") >= 3:
            return value
        if not value.startswith("sqlite:///") or value == "sqlite:///":
            raise ValueError(
                "must be a state URL such as sqlite:///listsync-state.sqlite or "
                "postgresql://user@host/database"
            )
        return value


class _SharedTable(BaseModel):
    model_config = ConfigDict(extra="forbid")  # not strict: numbers come from the env as text

    redis_url: str | None = None
    broker_url: str | None = None
    visibility_timeout: float = Field(default=60.0, gt=0)

    @field_validator("redis_url", "broker_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a Redis URL such as redis://127.0.0.1:6379/0")
        return value


class ListsyncSettings(BaseSettings):
    """The file's and environment's top level: `[state]` and the raw `[portals.*]` tables."""

    model_config = SettingsConfigDict(extra="forbid")

    state: _StateTable = Field(default_factory=_StateTable)
    shared: _SharedTable = Field(default_factory=_SharedTable)
    portals: dict[str, dict[str, Any]] = Field(default_factory=dict)


class EnvironmentSource(PydanticBaseSettingsSource):
    """listsync's `LISTSYNC_*` variables as a pydantic-settings source.

    pydantic-settings' own `EnvSettingsSource` splits nested names on one delimiter
    (`LISTSYNC_PORTALS__HEMNET__TOKEN`); listsync's documented names put the portal after the
    prefix with one underscore (`LISTSYNC_HEMNET_TOKEN`) and accounts between double underscores,
    so this source maps them itself. `origins` records which variable set which dotted key.
    """

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        env: Mapping[str, str],
        *,
        file_portals: Iterable[str] = (),
        known_portals: Iterable[str] = (),
    ) -> None:
        super().__init__(settings_cls)
        self.env = {k: v for k, v in env.items() if k.upper().startswith(ENV_PREFIX)}
        self.applicable = {p.lower() for p in (*file_portals, *known_portals)}
        self.applicable |= _base_url_portals(self.env)
        self.origins: dict[str, str] = {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Required by the base class; `__call__` builds the whole mapping at once instead.
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for var in sorted(self.env):  # sorted: the outcome must not depend on the env's order
            path = self._path(var)
            if path is None:
                continue
            node = data
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = _env_value(var, self.env[var])
            self.origins[".".join(path)] = var
        return data

    def _path(self, var: str) -> tuple[str, ...] | None:
        """The dotted key a variable sets, or None when it is not one of listsync's."""
        if var.upper() == STATE_URL_VAR or var.upper() in SHARED_VARS:
            section, _, key = var[len(ENV_PREFIX) :].lower().partition("_")
            return (section, key)
        rest = var[len(ENV_PREFIX) :].lower()
        if "__" in rest:
            portal, account, key = [*rest.split("__", 2), "", ""][:3]
            if not portal or not account or not key:
                return None
            if account == DEFAULT_ACCOUNT:
                return ("portals", portal, key)
            return ("portals", portal, "accounts", account, key)
        portal, _, key = rest.partition("_")
        if not key or portal not in self.applicable:
            return None
        return ("portals", portal, key)


def _env_value(var: str, value: str) -> Any:
    """The value as given, or parsed as JSON when it looks like a list or an object."""
    if not value.lstrip().startswith(("[", "{")):
        return value
    try:
        return json.loads(value)
    except ValueError:
        # Never quote the value: it may be a secret.
        raise ConfigurationError("is not valid JSON", key=var) from None


def _base_url_portals(env: Mapping[str, str]) -> set[str]:
    """Portals named by `LISTSYNC_<PORTAL>_BASE_URL`, so env-only configuration works."""
    return {
        var[len(ENV_PREFIX) :].lower().removesuffix("_base_url")
        for var in env
        if var.upper().endswith("_BASE_URL") and "__" not in var
    }


def _read_toml(path: Path) -> TomlConfigSettingsSource:
    if path.is_dir():
        raise ConfigurationError(f"config file {path} is a directory")
    if not path.exists():
        raise ConfigurationError(f"config file {path} does not exist")
    try:
        return TomlConfigSettingsSource(ListsyncSettings, toml_file=path)
    except UnicodeDecodeError:
        raise ConfigurationError(f"{path}: not UTF-8 text") from None
    except ValueError as exc:  # tomllib.TOMLDecodeError
        raise ConfigurationError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read: {exc.strerror}") from None


# -- load_config ------------------------------------------------------------------------------


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
        ConfigurationError: a missing or malformed file, or an unknown or ill-typed key, naming
            the key or the environment variable.
    """
    env = os.environ if env is None else env
    if path is None and Path("listsync.toml").is_file():
        path = Path("listsync.toml")
    toml = _read_toml(path) if path is not None else None
    file_data = toml.toml_data if toml is not None else {}
    file_portals = file_data.get("portals", {})
    environment = EnvironmentSource(
        ListsyncSettings,
        env,
        file_portals=file_portals if isinstance(file_portals, dict) else (),
        known_portals=known_portals,
    )
    sources: tuple[PydanticBaseSettingsSource, ...] = (
        (environment, toml) if toml is not None else (environment,)
    )
    try:
        settings = ListsyncSettings(_build_sources=(sources, {}))
    except ValidationError as exc:
        raise _error(exc, "", environment.origins, _TOP_MESSAGES) from None
    origins = environment.origins
    portals: dict[str, dict[str, Any]] = {}
    for name, table in settings.portals.items():
        own = {k.removeprefix(f"portals.{name}."): v for k, v in origins.items()
               if k.startswith(f"portals.{name}.")}  # fmt: skip
        _check_accounts(name, table, own)
        portals[name] = PortalTable(table, origins=own)
    return Config(
        state_url=settings.state.url,
        portals=portals,
        source=path,
        origins=origins,
        state_auto_migrate=settings.state.auto_migrate,
        shared_redis_url=settings.shared.redis_url,
        shared_broker_url=settings.shared.broker_url,
        shared_visibility_timeout=settings.shared.visibility_timeout,
    )


def _check_accounts(name: str, table: Mapping[str, Any], origins: Mapping[str, str]) -> None:
    accounts = table.get("accounts", {})
    where = f"portals.{name}.accounts"
    if not isinstance(accounts, dict):
        raise ConfigurationError(
            "must be a table of account tables", key=origins.get("accounts", where)
        )
    for account, values in accounts.items():
        if not isinstance(values, dict):
            key = origins.get(f"accounts.{account}", f"{where}.{account}")
            raise ConfigurationError("must be a table", key=key)


_TOP_MESSAGES = {
    "extra_forbidden": "unknown setting",
    "model_type": "must be a table",
    "dict_type": "must be a table",
    "model_attributes_type": "must be a table",
    "string_type": "must be a string",
}


def _error(
    exc: ValidationError, where: str, origins: Mapping[str, str], messages: Mapping[str, str]
) -> ConfigurationError:
    """One ConfigurationError for every problem; keys named by source, values never quoted.

    `origins` maps keys relative to `where` to the environment variables that set them.
    """
    problems = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = ".".join(str(p) for p in error["loc"])
        text = messages.get(error["type"], error["msg"])
        if error["type"] == "value_error":
            text = error["msg"].removeprefix("Value error, ")
        problems.append((_origin_of(loc, origins) or _key(where, loc), text))
    problems.sort(key=lambda p: p[1] != "unknown setting")  # a typo usually explains the rest
    first_key, first_message = problems[0]
    more = "".join(f"; {key}: {message}" for key, message in problems[1:])
    return ConfigurationError(f"{first_message}{more}", key=first_key)


def _origin_of(key: str, origins: Mapping[str, str]) -> str | None:
    """The environment variable that set `key` (or a parent of it), if any."""
    parts = key.split(".")
    for end in range(len(parts), 0, -1):
        var = origins.get(".".join(parts[:end]))
        if var is not None:
            return var
    return None


def _key(where: str, key: str) -> str:
    if not where:
        return key
    return f"{where}.{key}" if key else where


# -- parse_portal_config ----------------------------------------------------------------------


def parse_portal_config(
    name: str,
    table: Mapping[str, Any],
    settings_model: type[AdapterSettings],
    account_model: type[AccountSettings],
) -> PortalConfig:
    """Split a `[portals.<name>]` table into portal settings and named accounts.

    Keys of `settings_model` are portal settings; keys of `account_model` at the top level make
    up the `default` account; `[portals.<name>.accounts.<account>]` tables are further accounts.
    Beyond the models' own validation, every float must be finite, every `*_url` setting an
    http(s) URL with a host, and every string free of control characters (`user_agent` and
    credentials also Latin-1, so they fit in an HTTP header).

    Raises:
        ConfigurationError: an unknown key, a missing credential or an invalid value, naming
            the key (`portals.hemnet.accounts.acme.token`) or the environment variable that set
            it (`LISTSYNC_HEMNET__ACME__TOKEN`), but never its value.
    """
    origins: Mapping[str, str] = getattr(table, "origins", {})
    where = f"portals.{name}"
    table = dict(table)
    named = table.pop("accounts", {}) or {}
    if not isinstance(named, Mapping):
        raise ConfigurationError(
            "must be a table of account tables", key=origins.get("accounts", f"{where}.accounts")
        )
    portal_keys = set(settings_model.model_fields)
    account_keys = set(account_model.model_fields)
    portal_part = {k: v for k, v in table.items() if k in portal_keys}
    default_part = {k: v for k, v in table.items() if k in account_keys and k not in portal_keys}
    unknown = sorted(set(table) - portal_keys - account_keys)
    if unknown:
        raise ConfigurationError(
            "unknown setting", key=origins.get(unknown[0], _key(where, unknown[0]))
        )
    settings = _validate(settings_model, portal_part, where, origins, "")
    accounts: dict[str, AccountSettings] = {}
    credentials_given = any(k != "agencies" for k in default_part)
    if credentials_given or not named:
        accounts[DEFAULT_ACCOUNT] = _validate(account_model, default_part, where, origins, "")
    for account, values in named.items():
        if not isinstance(values, Mapping):
            raise ConfigurationError("must be a table", key=f"{where}.accounts.{account}")
        accounts[account] = _validate(
            account_model, values, f"{where}.accounts.{account}", origins, f"accounts.{account}"
        )
    return PortalConfig(name=name, settings=settings, accounts=accounts)


def _validate(
    model: type[BaseModel],
    data: Mapping[str, Any],
    where: str,
    origins: Mapping[str, str],
    prefix: str,
) -> Any:
    """Validate one table; errors name every bad key and never include the input values."""
    local = (
        {k.removeprefix(f"{prefix}."): v for k, v in origins.items() if k.startswith(f"{prefix}.")}
        if prefix
        else origins
    )
    for key, problem in _raw_problems(model, data):  # first: their errors name the key
        raise ConfigurationError(problem, key=local.get(key, _key(where, key)))
    try:
        instance = model.model_validate(dict(data))
    except ValidationError as exc:
        raise _error(exc, where, local, _MESSAGES) from None
    for key, problem in _problems(instance):
        raise ConfigurationError(problem, key=local.get(key, _key(where, key)))
    return instance


def _raw_problems(model: type[BaseModel], data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Text problems of the given values, found before the model's own (whole-model)
    validators can report them without naming the key."""
    for key, value in data.items():
        info = model.model_fields.get(key)
        if info is None or not isinstance(value, str):
            continue
        secret = "SecretStr" in str(info.annotation)
        yield from ((key, problem) for problem in _text_problems(key, value, secret=secret))


_MESSAGES = {
    "missing": "missing required setting",
    "extra_forbidden": "unknown setting",
    "tuple_type": 'must be a list (in the environment, JSON such as ["a", "b"])',
    "list_type": 'must be a list (in the environment, JSON such as ["a", "b"])',
}


def _problems(instance: BaseModel) -> Iterator[tuple[str, str]]:
    """What the adapters' models let through but no request could use."""
    for key in type(instance).model_fields:
        value = getattr(instance, key)
        if isinstance(value, float | Decimal) and not math.isfinite(value):
            yield key, "must be a finite number"
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str):
            secret = isinstance(value, SecretStr)
            yield from ((key, problem) for problem in _text_problems(key, text, secret=secret))


def _text_problems(key: str, text: str, *, secret: bool) -> Iterator[str]:
    if key.endswith("url") and not _http_url(text):
        yield "must be an http:// or https:// URL with a host"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        yield "must not contain control characters (such as a line break)"
    if (key == "user_agent" or secret) and not _latin1(text):
        yield "must be Latin-1 text (HTTP headers cannot carry other characters)"


def _http_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
