"""Credentials expiring during a run: Hemnet's key is rotated before it lapses and Immowelt's
token is renewed once when the portal starts refusing it; no listing fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ._credentials import credential_expiry

LISTINGS = 220

pytestmark = pytest.mark.slow


def test_key_and_token_expiry_mid_run_fail_no_request(
    make_listings: Callable[[int], Path], tmp_path: Path
) -> None:
    """Hemnet's key (4 s lifetime, rotated within 3 s of expiry) is rotated during the run with
    no 401 at all and the new key handed to the credential store; Immowelt's tokens are revoked
    server-side once 20 of its listings are done, the refusals are answered by one token
    renewal, and every listing converges in this single pass."""
    figures = credential_expiry(make_listings(LISTINGS), tmp_path)
    assert figures["failed_listings"] == 0, figures
    assert figures["hemnet_rotations"] >= 1, figures
    assert figures["hemnet_401"] == 0, figures
    assert figures["new_key_stored"], "the rotated key goes to the credential store callback"
    assert figures["immowelt_401_renewed"] > 0, "the revocation should have hit requests"
    assert figures["immowelt_token_requests"] == 2, figures
    assert figures["server_errors"] == 0, figures
