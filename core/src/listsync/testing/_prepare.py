"""`prepare()` checks (write adapters): one pure pass that returns the contract's `Prepared`;
what it passes the sandbox accepts; what the sandbox refuses it flags, on canonical paths; and
the sandbox's own refusals come back as `PortalValidationError` issues on canonical paths.

These are the adapter's half of the contract's error semantics (the `listsync.adapter`
docstring): the engine blocks a listing for an `InvalidListingError` (error issues from
`prepare`, a `PortalValidationError` from `apply`) and fails it for any other exception, so an
adapter must raise the first for "the listing must be fixed" and never for anything else.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Sequence
from typing import Any

from listsync.adapter import Prepared, Projection
from listsync.errors import FieldIssue, InvalidListingError, PortalError, Severity
from listsync.model import Listing
from listsync.testing._base import ConformanceBase, run
from listsync.testing._checks import is_canonical_path
from listsync.testing._driver import ConformanceError, Driver
from listsync.testing._faults import RefusingTransport, block_network
from listsync.testing._fixtures import RefusedSample

__all__ = ["PrepareChecks", "check_prepared"]


def _errors(issues: Sequence[FieldIssue]) -> list[FieldIssue]:
    return [i for i in issues if i.severity is Severity.ERROR]


async def _consume(awaitable: Awaitable[Any]) -> None:
    await awaitable


def check_prepared(result: object, label: str) -> Prepared:
    """`result` is a well-formed `Prepared`: a tuple of `FieldIssue`s, and a projection
    exactly when no issue is an error."""
    if not isinstance(result, Prepared):
        raise ConformanceError(
            f"prepare() must return listsync.adapter.Prepared, got {type(result).__name__} for "
            f"{label}"
        )
    if not isinstance(result.issues, tuple) or not all(
        isinstance(i, FieldIssue) for i in result.issues
    ):
        raise ConformanceError(
            f"Prepared.issues must be a tuple of FieldIssue, got {result.issues!r} for {label}"
        )
    blocked = bool(_errors(result.issues))
    if blocked and result.projection is not None:
        raise ConformanceError(
            f"prepare() found errors for {label} but still returned a projection; build the "
            "answer with Prepared.of(issues, projection), which drops it"
        )
    if not blocked and not isinstance(result.projection, Projection):
        raise ConformanceError(
            f"prepare() found no error for {label} but returned no Projection "
            f"({result.projection!r}); a listing without errors must project"
        )
    return result


class PrepareChecks(ConformanceBase):
    """Run on the fixtures' valid and refused samples (write adapters)."""

    # -- one pure pass -------------------------------------------------------------------------
    def test_prepare_is_pure(self) -> None:
        """prepare() is synchronous, does no I/O at all, returns a well-formed Prepared, and
        gives the same projection every time (no memo between calls)."""
        samples = self._sample_listings()
        if not samples:
            raise ConformanceError(f"{type(self).__name__} provides no sample listings")
        transport = RefusingTransport()
        adapter = self.make_adapter(self.make_sandbox(), transport=transport)
        try:
            with block_network() as sockets:
                results = [adapter.prepare(listing) for listing in samples]
                # Twice, interleaved: a memo between calls would show as a difference.
                again = [adapter.prepare(listing) for listing in reversed(samples)][::-1]
        finally:
            run(adapter.aclose())
        for index, (result, second) in enumerate(zip(results, again, strict=True)):
            if inspect.isawaitable(result):
                with contextlib.suppress(Exception):
                    run(_consume(result))
                raise ConformanceError("prepare() must be synchronous; it returned an awaitable")
            label = f"sample #{index} ({samples[index].external_ref})"
            prepared = check_prepared(result, label)
            other = check_prepared(second, label)
            first_digest = prepared.projection.digest() if prepared.projection else None
            second_digest = other.projection.digest() if other.projection else None
            if first_digest != second_digest or prepared.issues != other.issues:
                raise ConformanceError(
                    f"prepare() is not deterministic: two calls for {label} differ; it must not "
                    "depend on earlier calls"
                )
        if transport.attempts or sockets:
            raise ConformanceError(
                "prepare() must not do I/O, but it tried: "
                + "; ".join([*transport.attempts, *sockets])
            )

    def test_prepare_issues_carry_rule_ids(self) -> None:
        """Every issue prepare() finds names the portal rule that produced it (`rule`) and a
        canonical path, so a CRM user can look the rule up and fix the field."""
        adapter = self.make_adapter(self.make_sandbox(), transport=RefusingTransport())
        try:
            issues = [
                i for listing in self._sample_listings() for i in adapter.prepare(listing).issues
            ]
        finally:
            run(adapter.aclose())
        without_rule = [str(i) for i in issues if not i.rule]
        if without_rule:
            raise ConformanceError(f"prepare() issues without a rule id: {without_rule[:5]}")
        bad = [i.path for i in issues if not is_canonical_path(i.path)]
        if bad:
            raise ConformanceError(f"prepare() issues on non-canonical paths: {bad[:5]}")

    # -- agreement with the sandbox ----------------------------------------------------------
    def test_prepare_passes_what_the_sandbox_accepts(self) -> None:
        """Every valid sample passes prepare() and the sandbox accepts it."""
        for index, listing in enumerate(self.valid_listings()):

            async def scenario(listing: Listing = listing, index: int = index) -> None:
                async with self._adapter(self.make_sandbox()) as adapter:
                    prepared = check_prepared(adapter.prepare(listing), f"valid sample #{index}")
                    if prepared.blocked:
                        raise ConformanceError(
                            f"prepare() blocks valid sample #{index} ({listing.external_ref}) "
                            f"with {[str(i) for i in _errors(prepared.issues)]}"
                        )
                    try:
                        await Driver(adapter).sync(listing)
                    except InvalidListingError as exc:
                        raise ConformanceError(
                            f"valid sample #{index} ({listing.external_ref}) is refused by the "
                            f"sandbox: {exc}"
                        ) from exc

            run(scenario())

    def test_prepare_flags_what_the_sandbox_refuses(self) -> None:
        """prepare() blocks every refused sample with issues on the sample's canonical paths."""
        samples = list(self.refused_listings())
        if not samples:
            raise ConformanceError(f"{type(self).__name__}.refused_listings() is empty")
        adapter = self.make_adapter(self.make_sandbox(), transport=RefusingTransport())
        try:
            for index, sample in enumerate(samples):
                label = f"refused sample #{index} ({sample.reason or sample.listing.external_ref})"
                prepared = check_prepared(adapter.prepare(sample.listing), label)
                flagged = {i.path for i in _errors(prepared.issues)}
                missing = sorted(set(sample.paths) - flagged)
                if missing:
                    raise ConformanceError(
                        f"the portal refuses {label} but prepare() does not flag {missing} "
                        f"(it flagged {sorted(flagged)})"
                    )
        finally:
            run(adapter.aclose())

    def _refusal(self, sample: RefusedSample) -> InvalidListingError | None:
        """Send `sample` (projected without the offline rules) to a fresh sandbox; the refusal."""
        import pytest  # noqa: PLC0415  (the kit imports pytest only inside checks)

        sandbox = self.make_sandbox()

        async def scenario() -> InvalidListingError | None:
            async with self._adapter(sandbox) as adapter:
                projection = self.unchecked_projection(adapter, sample.listing)
                if projection is None:
                    pytest.skip(
                        f"{type(self).__name__}.unchecked_projection() gives None: the sandbox's "
                        "refusals of the refused samples are not checked"
                    )
                driver = Driver(adapter)
                try:
                    for op in driver.plan(projection):
                        await driver.apply(op, projection, sample.listing)
                except InvalidListingError as exc:
                    return exc
                except Exception as exc:
                    # The engine would FAIL the listing (a PortalError) or record a bug (any
                    # other class) instead of blocking it with the fields to fix.
                    raise ConformanceError(
                        f"the sandbox's refusal of {sample.reason or sample.listing.external_ref} "
                        f"must raise PortalValidationError (an InvalidListingError: the engine "
                        f"blocks the listing and reports its paths), got "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                return None

        return run(scenario())

    def test_portal_errors_map_to_canonical_paths(self) -> None:
        """The sandbox refuses every refused sample; its validation error comes back as an
        InvalidListingError (PortalValidationError) whose issues are on canonical listing paths,
        the sample's paths among them."""
        for index, sample in enumerate(self.refused_listings()):
            refusal = self._refusal(sample)
            if refusal is None:
                raise ConformanceError(
                    f"the sandbox accepted refused sample #{index}; the sample is wrong"
                )
            if not isinstance(refusal, PortalError):
                raise ConformanceError(
                    f"the sandbox's refusal of sample #{index} must be a PortalValidationError "
                    f"(with the portal, account and request id), got {type(refusal).__name__}"
                )
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
