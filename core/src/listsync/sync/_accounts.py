"""Portal accounts: which account serves a listing, and one adapter instance per account.

A CRM vendor syndicates for many agencies, each with its own credentials on each portal. A
listing's `agency.external_ref` selects the account whose `agencies` lists it, else the account
named `default`; with neither, the listing is blocked rather than sent with someone else's
credentials. Accounts come from the configuration (`[portals.<name>.accounts.<account>]`) or
from an `AccountProvider` the embedding application passes in, which is asked every time, so a
CRM can add agencies or rotate secrets at run time without a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import httpx
from pydantic import ValidationError

from listsync.adapter import (
    AccountSettings,
    Adapter,
    AdapterSettings,
    CredentialStore,
    WriteAdapter,
)
from listsync.config import DEFAULT_ACCOUNT, Config, parse_portal_config
from listsync.errors import ConfigurationError
from listsync.log import get_logger
from listsync.registry import Registry

__all__ = [
    "AccountProvider",
    "AdapterPool",
    "ConfigAccounts",
    "PortalSetup",
    "load_portal_setups",
]

log = get_logger(__name__)


@runtime_checkable
class AccountProvider(Protocol):
    """Where the accounts of each portal come from; an embedding application may implement it.

    Both methods are called during planning and applying, so answers may change at run time
    (a new agency, a rotated secret). Keep them fast: they run on the engine's event loop.
    """

    def route(self, portal: str, agency_ref: str) -> str | None:
        """The name of the account serving agency `agency_ref` on `portal`, or None."""
        ...

    def account(self, portal: str, name: str) -> AccountSettings | Mapping[str, Any] | None:
        """The settings of one account: an instance of the adapter's `account_model`, or a
        mapping validated against it; None when the account does not exist."""
        ...


class ConfigAccounts:
    """Accounts from the configuration file: `{portal: {account name: AccountSettings}}`."""

    def __init__(self, accounts: Mapping[str, Mapping[str, AccountSettings]]) -> None:
        self._accounts = {p: dict(a) for p, a in accounts.items()}
        self._routes: dict[str, dict[str, str]] = {}
        for portal, named in self._accounts.items():
            routes = self._routes.setdefault(portal, {})
            for name, settings in named.items():
                for agency in settings.agencies:
                    routes.setdefault(agency, name)

    def route(self, portal: str, agency_ref: str) -> str | None:
        routed = self._routes.get(portal, {}).get(agency_ref)
        if routed is not None:
            return routed
        return DEFAULT_ACCOUNT if DEFAULT_ACCOUNT in self._accounts.get(portal, {}) else None

    def account(self, portal: str, name: str) -> AccountSettings | None:
        return self._accounts.get(portal, {}).get(name)


class _ChainedAccounts:
    """Ask the application's provider first, then the configuration."""

    def __init__(self, first: AccountProvider, second: AccountProvider) -> None:
        self._first, self._second = first, second

    def route(self, portal: str, agency_ref: str) -> str | None:
        found = self._first.route(portal, agency_ref)
        return found if found is not None else self._second.route(portal, agency_ref)

    def account(self, portal: str, name: str) -> AccountSettings | Mapping[str, Any] | None:
        found = self._first.account(portal, name)
        return found if found is not None else self._second.account(portal, name)


@dataclass(frozen=True)
class PortalSetup:
    """One configured portal: its adapter class and portal-level settings."""

    name: str
    cls: type[Adapter]
    settings: AdapterSettings

    @property
    def writable(self) -> bool:
        return hasattr(self.cls, "prepare") and hasattr(self.cls, "apply")


def _settings_only(name: str, table: Mapping[str, Any], cls: type[Adapter]) -> AdapterSettings:
    """Portal settings when accounts come from a provider (the table holds no credentials)."""
    model: type[AdapterSettings] = cls.settings_model
    part = {k: v for k, v in table.items() if k in model.model_fields}
    try:
        return model.model_validate(part)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigurationError(first["msg"], key=f"portals.{name}.{key}") from None


def load_portal_setups(
    config: Config,
    *,
    registry: Registry | None = None,
    classes: Mapping[str, type[Adapter]] | None = None,
    with_provider: bool = False,
) -> tuple[dict[str, PortalSetup], ConfigAccounts]:
    """Validate every `[portals.<name>]` table against its adapter's models.

    Args:
        classes: adapter classes by name (default: loaded from the registry).
        with_provider: an account provider supplies accounts, so a table without credentials
            is not an error.

    Raises:
        ConfigurationError: naming the offending key.
    """
    setups: dict[str, PortalSetup] = {}
    accounts: dict[str, dict[str, AccountSettings]] = {}
    for name, table in config.portals.items():
        if classes is not None and name in classes:
            cls = classes[name]
        else:
            cls = (registry or Registry()).adapter(name)
        try:
            parsed = parse_portal_config(name, table, cls.settings_model, cls.account_model)
        except ConfigurationError:
            if not with_provider:
                raise
            setups[name] = PortalSetup(name, cls, _settings_only(name, table, cls))
            continue
        setups[name] = PortalSetup(name, cls, parsed.settings)
        accounts[name] = parsed.accounts
    return setups, ConfigAccounts(accounts)


class AdapterPool:
    """One adapter instance per (portal, account), created on first use and closed at the end.

    When the provider returns different settings for an account (a rotated secret), a new
    instance is made for later listings; the old one is closed with the pool.
    """

    def __init__(
        self,
        setups: Mapping[str, PortalSetup],
        accounts: AccountProvider,
        *,
        provider: AccountProvider | None = None,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        credential_store: CredentialStore | None = None,
    ) -> None:
        self.setups = dict(setups)
        self.accounts: AccountProvider = (
            _ChainedAccounts(provider, accounts) if provider is not None else accounts
        )
        self._transports = dict(transports or {})
        self._credential_store = credential_store
        self._live: dict[tuple[str, str], tuple[AccountSettings, WriteAdapter]] = {}
        self._retired: list[WriteAdapter] = []

    def __contains__(self, portal: object) -> bool:
        return portal in self.setups

    def route(self, portal: str, agency_ref: str) -> str | None:
        return self.accounts.route(portal, agency_ref)

    def settings(self, portal: str) -> AdapterSettings:
        return self.setups[portal].settings

    def adapter(self, portal: str, account: str) -> WriteAdapter:
        """The adapter for (portal, account).

        Raises:
            ConfigurationError: the account does not exist or its settings are invalid.
        """
        setup = self.setups[portal]
        settings = self._account_settings(setup, account)
        live = self._live.get((portal, account))
        if live is not None and (live[0] is settings or live[0] == settings):  # `is`: per listing
            return live[1]
        if live is not None:
            self._retired.append(live[1])
        made = setup.cls(
            setup.settings,
            settings,
            account_name=account,
            transport=self._transports.get(portal),
            credential_store=self._credential_store,
        )
        if not isinstance(made, WriteAdapter):
            raise ConfigurationError(f"{portal} is not a write adapter", key=f"portals.{portal}")
        self._live[(portal, account)] = (settings, made)
        log.debug("adapter_created", portal=portal, account=account)
        return made

    def _account_settings(self, setup: PortalSetup, account: str) -> AccountSettings:
        raw = self.accounts.account(setup.name, account)
        where = f"portals.{setup.name}.accounts.{account}"
        if raw is None:
            raise ConfigurationError(f"no account {account!r} on {setup.name}", key=where)
        model: type[AccountSettings] = setup.cls.account_model
        if isinstance(raw, model):
            return raw
        data = raw.model_dump() if isinstance(raw, AccountSettings) else dict(raw)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            key = ".".join(str(p) for p in first["loc"])
            raise ConfigurationError("invalid account setting", key=f"{where}.{key}") from None

    async def aclose(self) -> None:
        adapters = [a for _, a in self._live.values()] + self._retired
        self._live.clear()
        self._retired.clear()
        for adapter in adapters:
            await adapter.aclose()
