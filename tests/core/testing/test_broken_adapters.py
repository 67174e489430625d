"""Deliberately broken variants of the scaffold's adapter fail the kit with messages that say
what is wrong (run in a subprocess pytest, as an adapter author would run the kit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run_pytest

BROKEN = """
import dataclasses

from listsync.errors import RateLimitedError
from listsync.adapter import Capability, OpKind, default_plan
from listsync.testing import WriteAdapterConformance
from listsync_acme import AcmeAdapter
from listsync_acme.errors import map_error
from listsync_acme.sandbox import AcmeSandbox
from test_conformance import AcmeFixtures


class Healthy(AcmeFixtures):
    adapter_cls = AcmeAdapter
    sandbox_cls = AcmeSandbox


class WrongName(AcmeAdapter):
    name = "acme_typo"


class UndeclaredPublish(AcmeAdapter):
    capabilities = AcmeAdapter.capabilities - {Capability.PUBLISH}

    def plan(self, diff):
        return default_plan(diff, frozenset(Capability))


class PatchSendsEverything(AcmeAdapter):
    async def _update(self, remote_id, op, ctx):
        everything = dataclasses.replace(op, changes=dict(ctx.projection.fields))
        return await super()._update(remote_id, everything, ctx)


def _forget_retry_after(response):
    error = map_error(response)
    if isinstance(error, RateLimitedError):
        return RateLimitedError("slow down", portal="acme", status_code=429)
    return error


class IgnoresRetryAfter(AcmeAdapter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.http._map_error = _forget_retry_after


class TestHealthy(WriteAdapterConformance, Healthy):
    pass


class TestWrongName(WriteAdapterConformance, Healthy):
    adapter_cls = WrongName


class TestUndeclaredPublish(WriteAdapterConformance, Healthy):
    adapter_cls = UndeclaredPublish


class TestPatchSendsEverything(WriteAdapterConformance, Healthy):
    adapter_cls = PatchSendsEverything


class TestIgnoresRetryAfter(WriteAdapterConformance, Healthy):
    adapter_cls = IgnoresRetryAfter
"""


@pytest.fixture(scope="module")
def kit_output(bearer_scaffold: Path) -> str:
    """The kit's report on the healthy adapter and four broken variants."""
    tests = bearer_scaffold / "tests"
    (tests / "test_broken.py").write_text(BROKEN, encoding="utf-8")
    selection = (
        "TestHealthy or (TestWrongName and entry_point) or (TestUndeclaredPublish and "
        "create_then_fetch) or (TestPatchSendsEverything and update_sends) or "
        "(TestIgnoresRetryAfter and retry_after_beyond)"
    )
    result = run_pytest(
        ["tests/test_broken.py", "-k", selection],
        cwd=bearer_scaffold,
        env={"PYTHONPATH": f"{bearer_scaffold / 'src'}:{tests}"},
    )
    return result.stdout + result.stderr


def test_healthy_scaffold_passes_every_check(kit_output: str) -> None:
    """The unbroken adapter fails nothing: the failures below come from the breakage."""
    assert "FAILED tests/test_broken.py::TestHealthy" not in kit_output
    assert "4 failed" in kit_output, kit_output[-3000:]


def test_wrong_name_is_named(kit_output: str) -> None:
    """An adapter whose name differs from its entry point fails with both names."""
    assert "TestWrongName::test_entry_point_name_matches_adapter_name" in kit_output
    assert "whose name is 'acme_typo'" in kit_output


def test_undeclared_capability_is_named(kit_output: str) -> None:
    """A plan with an operation the adapter does not declare names the capability."""
    assert "plan() produced a 'publish' operation" in kit_output
    assert "does not declare Capability.PUBLISH" in kit_output


def test_patch_with_unchanged_fields_is_named(kit_output: str) -> None:
    """A PATCH that sends unchanged fields lists them."""
    assert "were sent too; a patch-style portal must receive exactly the changed" in kit_output
    assert "'title'" in kit_output


def test_ignored_retry_after_is_named(kit_output: str) -> None:
    """An error mapper that drops Retry-After is reported as ignoring it."""
    assert "Retry-After was ignored" in kit_output
    assert "retry_after=None" in kit_output
