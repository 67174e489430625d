"""Immowelt's settings: the portal name, the API's servers, the scopes, settings and account.

Immowelt's listing import API document names two servers (production
`https://api.aviv-group.com/import-listings/v1`, sandbox
`https://api.aviv-group.com/sandbox/import-listings/v1`), OAuth2 client credentials and one
scope per operation (`clim:listings:create`, ...), with `clim:listings:*` / `clim:medias:*` as
wider forms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from listsync.adapter import AccountSettings, AdapterSettings, Capability

__all__ = [
    "PORTAL",
    "PRODUCTION_BASE_URL",
    "SANDBOX_BASE_URL",
    "SCOPES",
    "TOKEN_URL",
    "ImmoweltAccount",
    "ImmoweltSettings",
    "narrow_scopes",
]

PORTAL = "immowelt"

SANDBOX_BASE_URL = "https://api.aviv-group.com/sandbox/import-listings/v1"
PRODUCTION_BASE_URL = "https://api.aviv-group.com/import-listings/v1"
TOKEN_URL = "https://auth.api.aviv-group.com/oauth/token"  # noqa: S105  (a URL, not a secret)

SCOPES: Mapping[Capability, str] = {
    Capability.CREATE: "clim:listings:create",
    Capability.READ: "clim:listings:read",
    Capability.UPDATE: "clim:listings:update",
    Capability.DELETE: "clim:listings:delete",
    Capability.MEDIA: "clim:medias:create",
}
"""The narrowest scope each capability needs (the document's scope table)."""

_KNOWN_SCOPES = frozenset({*SCOPES.values(), "clim:listings:*", "clim:medias:*"})


def narrow_scopes(capabilities: Iterable[Capability]) -> list[str]:
    """The narrow scopes for the given operations, in a stable order (no `:*` forms)."""
    wanted = set(capabilities)
    return [scope for cap, scope in SCOPES.items() if cap in wanted]


class ImmoweltSettings(AdapterSettings):
    """Portal-level settings.

    Attributes:
        base_url: API root including `/v1`; defaults to the portal's sandbox (production is
            `https://api.aviv-group.com/import-listings/v1`).
        token_url: the OAuth2 token endpoint.
        audience: the token `audience`; defaults to `base_url` (inferred: the document does not
            name the value).
        scopes: "narrow" requests only the scopes `operations` need; or an explicit list
            (the `clim:listings:*` / `clim:medias:*` forms only when listed here).
        operations: the operations this installation performs (default: all capabilities).
        software_name: `metadata.source.softwareName`.
        token_leeway: seconds before expiry at which the token is renewed.
        token_cache_dir: a folder where each account's token is kept between runs, in a file
            named after the account (sanitised and hashed: never outside the folder); an
            account's own `token_cache_path` wins. None: tokens live in memory only.
        media_mirror: fetch media bytes from `{media_mirror}/{host}{path}` instead of the URL
            (its host is trusted: the address check below does not apply to it).
        media_allow_private: fetch media from any address, loopback and private networks
            included (tests, closed networks). Off: only public addresses (no SSRF).
        media_allowed_hosts: host names trusted as the mirror is, or networks (`10.1.0.0/16`)
            whose addresses may be fetched from.
        media_max_bytes: the largest media file fetched (Immowelt takes up to 40 MB).
        media_content_types: the content types fetched (`type/*` for a whole type).
        media_upload_attempts: how often a missed 60 s upload window is retried.
        lookup_index_after: after this many look-ups by ref (adoption of listings without
            state) in one run, the account's listing ids are read once (`GET /listings`, all
            pages) and later look-ups of refs not listed send nothing.
    """

    base_url: str = SANDBOX_BASE_URL
    token_url: str = TOKEN_URL
    audience: str | None = None
    scopes: Literal["narrow"] | tuple[str, ...] = "narrow"
    operations: tuple[Capability, ...] | None = None
    software_name: str = Field(default="listsync", min_length=1)
    token_leeway: int = Field(default=300, ge=0)
    token_cache_dir: Path | None = None
    media_mirror: str | None = None
    media_allow_private: bool = False
    media_allowed_hosts: tuple[str, ...] = ()
    media_max_bytes: int = Field(default=40 * 1024 * 1024, ge=1)
    media_content_types: tuple[str, ...] = ("image/*", "video/*", "application/pdf")
    media_upload_attempts: int = Field(default=3, ge=1)
    lookup_index_after: int = Field(default=20, ge=0)
    # AVIV's sibling Seeker Leads API allows 10 concurrent requests; assumed here as well.
    max_concurrency: int = Field(default=10, ge=1)

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        if isinstance(value, tuple):
            unknown = sorted(set(value) - _KNOWN_SCOPES)
            if unknown:
                raise ValueError(f"unknown scope(s) {unknown}; scopes are case sensitive")
        return value

    def requested_scopes(self, capabilities: Iterable[Capability]) -> list[str]:
        """The scopes to ask for: the configured list, else the narrow scopes of `operations`
        (default: `capabilities`, everything the adapter can do)."""
        if isinstance(self.scopes, tuple):
            return list(self.scopes)
        return narrow_scopes(self.operations if self.operations is not None else capabilities)


class ImmoweltAccount(AccountSettings):
    """One Immowelt API client (one agency or customer)."""

    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    external_customer_id: str = Field(min_length=1)
    token_cache_path: Path | None = None
