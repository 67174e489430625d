"""The fixtures half of a conformance class: how to build the adapter, its sandbox and samples.

A built-in or third-party adapter joins the kit with a fixtures class and one line:

```python
class AcmeFixtures(AdapterFixtures):
    portal = "acme"

    def valid_listings(self) -> list[Listing]: ...
    def refused_listings(self) -> list[RefusedSample]: ...

class TestAcmeConformance(WriteAdapterConformance, AcmeFixtures):
    pass
```

Everything else has a default driven by the entry points (`listsync.adapters` and
`listsync.sandboxes` under the `portal` name) and by the sandbox's `client_settings()`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Literal

import httpx
from pydantic import SecretStr

from listsync.adapter import Projection
from listsync.config import parse_portal_config
from listsync.model import Listing
from listsync.registry import ADAPTER_GROUP, SANDBOX_GROUP, Registry
from listsync.sandbox import Sandbox

__all__ = ["AdapterFixtures", "ManualClock", "RefusedSample", "UpdateStyle"]

UpdateStyle = Literal["patch", "put"]
"""`patch`: an update sends exactly the changed fields; `put`: it sends the whole record."""


@dataclass(frozen=True)
class RefusedSample:
    """A listing the portal refuses, and the canonical paths its refusal must point at.

    Attributes:
        listing: the listing (valid for the canonical model, invalid for this portal).
        paths: canonical paths the sandbox's refusal and the adapter's preflight must both flag.
        reason: what rule of the portal it breaks, for failure messages.
    """

    listing: Listing
    paths: tuple[str, ...]
    reason: str = ""


class ManualClock:
    """A clock for sandboxes that tests move forward by hand (tokens and keys expire)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class AdapterFixtures:
    """Builds the adapter under test, its sandbox and the sample listings.

    Class attributes to set:
        portal: the entry-point name (also the expected `Adapter.name`).
        adapter_cls / sandbox_cls: set only to test classes that are not installed; by default
            they are loaded from the entry points.
        update_style: `patch` (an update sends only the changed fields) or `put`.
        settings_overrides: merged into the sandbox's settings; small retry limits keep the
            retry checks quick.
    """

    portal: ClassVar[str]
    adapter_cls: ClassVar[type[Any] | None] = None
    sandbox_cls: ClassVar[type[Sandbox] | None] = None
    update_style: ClassVar[UpdateStyle] = "patch"
    account_name: ClassVar[str] = "default"
    sandbox_options: ClassVar[Mapping[str, Any]] = {}
    settings_overrides: ClassVar[Mapping[str, Any]] = {"max_attempts": 3, "max_retry_wait": 0.5}
    secret_query_params: ClassVar[tuple[str, ...]] = ()
    cassette_port: ClassVar[int | None] = None

    # -- classes ----------------------------------------------------------------------------
    def load_adapter_class(self) -> type[Any]:
        """The adapter class: `adapter_cls`, or the entry point named `portal`."""
        if self.adapter_cls is not None:
            return self.adapter_cls
        return Registry(ADAPTER_GROUP).get(self.portal)

    def load_sandbox_class(self) -> type[Sandbox]:
        """The sandbox class: `sandbox_cls`, or the `listsync.sandboxes` entry point."""
        if self.sandbox_cls is not None:
            return self.sandbox_cls
        cls: type[Sandbox] = Registry(SANDBOX_GROUP).get(self.portal)
        return cls

    # -- instances --------------------------------------------------------------------------
    def make_sandbox(self, *, clock: Callable[[], float] | None = None) -> Sandbox:
        """A fresh sandbox (fresh state, empty request log)."""
        cls = self.load_sandbox_class()
        return cls(clock=clock or time.time, **dict(self.sandbox_options))

    def base_url(self) -> str:
        """The base URL used with in-process transports (never resolved)."""
        return f"http://{self.portal}.sandbox.invalid"

    def settings_table(
        self, sandbox: Sandbox, base_url: str | None = None, **overrides: Any
    ) -> dict[str, Any]:
        """The `[portals.<name>]` table for this sandbox, with `settings_overrides` applied."""
        table = dict(sandbox.client_settings(base_url or self.base_url(), self.account_name))
        table.update(self.settings_overrides)
        table.update(overrides)
        return table

    def make_adapter(
        self,
        sandbox: Sandbox,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        table: Mapping[str, Any] | None = None,
    ) -> Any:
        """An adapter instance wired to `sandbox` in process (or to `transport`)."""
        cls = self.load_adapter_class()
        config = parse_portal_config(
            self.portal,
            table if table is not None else self.settings_table(sandbox),
            cls.settings_model,
            cls.account_model,
        )
        account = config.accounts.get(self.account_name) or next(iter(config.accounts.values()))
        return cls(
            config.settings,
            account,
            account_name=self.account_name,
            transport=transport if transport is not None else sandbox.transport(),
            credential_store=self.store_credentials,
        )

    async def store_credentials(
        self, portal: str, account: str, secrets: Mapping[str, str]
    ) -> None:
        """The kit's credential store: renewed credentials stay in memory (never on disk)."""
        renewed = self.__dict__.setdefault("renewed_credentials", [])
        renewed.append((portal, account, dict(secrets)))

    def secret_values(self, table: Mapping[str, Any]) -> list[str]:
        """Every credential value in a settings table (fields typed `SecretStr`)."""
        cls = self.load_adapter_class()
        secret_fields = {
            name
            for name, info in cls.account_model.model_fields.items()
            if _is_secret_annotation(info.annotation)
        }
        out = [str(table[name]) for name in secret_fields if table.get(name)]
        return [value for value in out if len(value) >= 4]

    def spoiled_table(self, sandbox: Sandbox) -> dict[str, Any]:
        """Settings whose credentials are all wrong (same shape, different values)."""
        table = self.settings_table(sandbox)
        for value_name in list(table):
            value = table[value_name]
            if isinstance(value, str) and value in self.secret_values(table):
                table[value_name] = "wrong-" + value[::-1]
        return table

    # -- samples ----------------------------------------------------------------------------
    def valid_listings(self) -> Sequence[Listing]:
        """Listings this portal accepts (the first one drives the lifecycle checks)."""
        raise NotImplementedError(f"{type(self).__name__} must define valid_listings()")

    def refused_listings(self) -> Sequence[RefusedSample]:
        """Listings the portal refuses, with the canonical paths it must flag."""
        return ()

    def unchecked_projection(self, adapter: Any, listing: Listing) -> Projection | None:
        """The projection of `listing` WITHOUT the portal's offline rules, so a check can send
        a listing `prepare()` blocks and see the sandbox refuse it (usually the adapter's pure
        `mapping.project(listing)`). None (the default) skips the checks that need it."""
        return None

    def changed_listing(self, listing: Listing) -> Listing:
        """`listing` with exactly one field changed (default: the asking price)."""
        price = listing.asking_price
        if price is None:
            raise NotImplementedError(
                f"{type(self).__name__}: the first valid listing has no asking_price; "
                "override changed_listing()"
            )
        data = listing.model_dump(mode="json")
        data["asking_price"] = {
            "amount": str(price.amount + Decimal(1000)),
            "currency": price.currency,
        }
        return Listing.model_validate(data)

    def sold_listing(self, listing: Listing) -> Listing:
        """`listing` marked sold (status `sold` with a sale at the asking price)."""
        data = listing.model_dump(mode="json")
        price = data.get("asking_price") or {"amount": "1000000", "currency": "SEK"}
        data["status"] = "sold"
        data["sale"] = {"price": price, "date": "2026-11-01", "price_public": True}
        return Listing.model_validate(data)

    def remote_count(self, sandbox: Sandbox, external_ref: str) -> int | None:
        """How many records the sandbox holds for `external_ref` (None: cannot tell)."""
        return None

    # -- read adapters ----------------------------------------------------------------------
    def search_query(self) -> Mapping[str, str]:
        """The query the pagination checks search with (it must match every seeded record)."""
        return {}

    def seed_remote(self, sandbox: Sandbox, count: int) -> set[str]:
        """Put `count` matching records into the sandbox; return their `external_ref`s."""
        raise NotImplementedError(f"{type(self).__name__} must define seed_remote()")

    def change_remote(self, sandbox: Sandbox) -> set[str]:
        """Add matching records while a search is paging (the total changes); return their
        `external_ref`s (they may or may not be seen by the running search)."""
        raise NotImplementedError(f"{type(self).__name__} must define change_remote()")


def _is_secret_annotation(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return SecretStr in getattr(annotation, "__args__", ())
