"""Preflight against the sandbox: what preflight passes the sandbox accepts, what the sandbox
refuses preflight flags, and the sandbox's refusals land on canonical listing paths."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from listsync.errors import InvalidListingError, Severity
from listsync.model import Listing
from listsync.testing._base import ConformanceBase, run
from listsync.testing._checks import is_canonical_path
from listsync.testing._driver import ConformanceError, Driver

__all__ = ["PreflightAgreementChecks"]


def _errors(issues: Sequence[Any]) -> list[Any]:
    return [i for i in issues if i.severity is Severity.ERROR]


class PreflightAgreementChecks(ConformanceBase):
    """Run on the fixtures' valid and refused samples (write adapters)."""

    def test_preflight_passes_what_the_sandbox_accepts(self) -> None:
        """Every valid sample passes preflight and the sandbox accepts it."""
        for index, listing in enumerate(self.valid_listings()):

            async def scenario(listing: Listing = listing, index: int = index) -> list[Any]:
                async with self._adapter(self.make_sandbox()) as adapter:
                    issues = _errors(adapter.preflight(listing))
                    try:
                        await Driver(adapter).sync(listing)
                    except InvalidListingError as exc:
                        raise ConformanceError(
                            f"valid sample #{index} ({listing.external_ref}) is refused by the "
                            f"sandbox: {exc}"
                        ) from exc
                    return issues

            issues = run(scenario())
            if issues:
                raise ConformanceError(
                    f"preflight() flags valid sample #{index} ({listing.external_ref}) with "
                    f"{[str(i) for i in issues]}, but the sandbox accepts it"
                )

    def _refusal(self, listing: Listing) -> tuple[list[Any], InvalidListingError | None]:
        sandbox = self.make_sandbox()

        async def scenario() -> tuple[list[Any], InvalidListingError | None]:
            async with self._adapter(sandbox) as adapter:
                issues = _errors(adapter.preflight(listing))
                try:
                    await Driver(adapter).sync(listing)
                except InvalidListingError as exc:
                    return issues, exc
                return issues, None

        return run(scenario())

    def test_preflight_flags_what_the_sandbox_refuses(self) -> None:
        """For every refused sample the sandbox refuses it and preflight flags the same
        canonical paths."""
        samples = list(self.refused_listings())
        if not samples:
            raise ConformanceError(f"{type(self).__name__}.refused_listings() is empty")
        for index, sample in enumerate(samples):
            issues, refusal = self._refusal(sample.listing)
            label = f"refused sample #{index} ({sample.reason or sample.listing.external_ref})"
            if refusal is None:
                raise ConformanceError(f"the sandbox accepted {label}; the sample is wrong")
            flagged = {i.path for i in issues}
            missing = sorted(set(sample.paths) - flagged)
            if missing:
                raise ConformanceError(
                    f"the sandbox refuses {label} but preflight() does not flag {missing} "
                    f"(it flagged {sorted(flagged)}); the portal said: {refusal}"
                )

    def test_portal_errors_map_to_canonical_paths(self) -> None:
        """The sandbox's validation errors come back as issues on canonical listing paths."""
        for index, sample in enumerate(self.refused_listings()):
            _, refusal = self._refusal(sample.listing)
            if refusal is None:
                raise ConformanceError(f"the sandbox accepted refused sample #{index}")
            paths = [i.path for i in refusal.issues]
            bad = [
                f"{i.path} (portal field {i.portal_field})"
                for i in refusal.issues
                if not is_canonical_path(i.path)
            ]
            if bad:
                raise ConformanceError(f"portal errors mapped to non-canonical paths: {bad}")
            missing = sorted(set(sample.paths) - set(paths))
            if missing:
                raise ConformanceError(
                    f"the portal's refusal of sample #{index} maps to {paths}; expected the "
                    f"canonical path(s) {missing} too"
                )
