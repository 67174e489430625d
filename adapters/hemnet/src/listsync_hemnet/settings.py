"""Hemnet settings: the portal's name (`PORTAL`), its settings (`HemnetSettings`) and one
account's (`HemnetAccount`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from listsync.adapter import AccountSettings, AdapterSettings

__all__ = ["PORTAL", "HemnetAccount", "HemnetSettings"]

PORTAL = "hemnet"
"""The adapter's name: in settings (`[portals.hemnet]`), errors, logs and issues."""


class HemnetSettings(AdapterSettings):
    """Hemnet portal settings (`[portals.hemnet]`).

    Attributes:
        image_poll_interval: first wait between image-state polls before publishing, seconds.
        image_poll_max_interval: the backoff's ceiling.
        image_poll_timeout: give up waiting for image processing after this long (the publish
            then fails with a retryable `TransientError`).
    """

    image_poll_interval: float = Field(default=1.0, gt=0)
    image_poll_max_interval: float = Field(default=15.0, gt=0)
    image_poll_timeout: float = Field(default=600.0, gt=0)


class HemnetAccount(AccountSettings):
    """One Hemnet account (one agency's API key).

    Attributes:
        token: the API key's secret token (opaque).
        key_id: the key's id; found through `GET /keys` when absent.
        rotate_within_hours: create a new key when the current one expires within this window.
        revoke_old: revoke the old key once the new one is stored.
        credential_file: where the default credential store keeps a rotated key (JSON, 0600);
            default `./.listsync-credentials/hemnet-<account>.json` (an account name other than
            letters, digits, `_` and `-` is replaced by a hash, so the file stays in that
            folder). A key stored there is used instead of `token` on the next start.
    """

    token: SecretStr
    key_id: str | None = None
    rotate_within_hours: float = Field(default=168.0, ge=0)
    revoke_old: bool = False
    credential_file: Path | None = None
