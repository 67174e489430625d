"""Housing-form code series: known codes, unknown codes in a series, removed codes."""

from __future__ import annotations

import pytest

from listsync.model import Category
from listsync.testing import Driver
from listsync_hemnet import HemnetAdapter
from listsync_hemnet._housing_forms import HousingForm, category_for, housing_form_for
from listsync_hemnet.mapping import remote_drift
from listsync_hemnet.sandbox import HemnetSandbox

from .conftest import BASE_URL, FakeClock, make_listing, split_settings


@pytest.mark.parametrize(
    ("code", "series", "effective", "name"),
    [
        (100, 100, 100, "house"),
        (203, 200, 203, "twin_house"),
        (300, 300, 300, "apartment"),
        (402, 400, 402, "winterized_vacation_home"),
        (601, 600, 601, "estate_without_cultivation"),
        (620, 600, 600, "unknown_homestead"),
        (199, 100, 100, "unknown_house"),
        (750, None, None, "unknown"),
        (42, None, None, "unknown"),
    ],
)
def test_series_and_folding(
    code: int, series: int | None, effective: int | None, name: str
) -> None:
    """Each code knows its series; unknown codes fold to the base; reserved ones stay unknown."""
    form = HousingForm(code)
    assert (form.series, form.effective, form.name, form.code) == (series, effective, name, code)


@pytest.mark.parametrize(
    ("sent", "read", "equivalent"),
    [
        (601, 600, True),  # 601 removed by Hemnet, read back as its base
        (620, 600, True),  # unknown code treated as its series
        (620, 601, True),
        (601, 602, False),
        (600, 500, False),
        (750, 750, True),
        (750, 751, False),
    ],
)
def test_equivalence_is_not_naive_equality(sent: int, read: int, equivalent: bool) -> None:
    """A read-back series base matches any member of its series; siblings do not match."""
    assert HousingForm(sent).equivalent(HousingForm(read)) is equivalent


def test_category_and_subcategory_choose_the_code() -> None:
    """A code subcategory of the category's series wins; unknown ones fold; others are ignored."""
    assert housing_form_for(Category.FARM, "602").code == 602
    assert housing_form_for(Category.FARM, "620").code == 600
    assert housing_form_for(Category.FARM, "201").code == 600  # wrong series: preflight says so
    assert housing_form_for(Category.APARTMENT, "BUNGALOW").code == 300
    assert category_for(HousingForm(620)) is Category.FARM
    assert category_for(HousingForm(202)) is Category.HOUSE_LINKED
    assert category_for(HousingForm(850)) is Category.OTHER


async def test_removed_code_reads_back_as_its_series_base_without_drift(clock: FakeClock) -> None:
    """The sandbox reads a removed 601 back as 600; the adapter keeps the raw code and does not
    see a change."""
    sandbox = HemnetSandbox(clock=clock, removed_housing_forms=[601], image_processing_seconds=0)
    settings, account = split_settings(sandbox.client_settings(BASE_URL))
    adapter = HemnetAdapter(
        settings, account, transport=sandbox.transport(), credential_store=_noop, clock=clock
    )
    try:
        listing = make_listing(
            category="farm", subcategory="601", tenure="freehold", status="draft"
        )
        driver = Driver(adapter)
        await driver.sync(listing)
        [remote] = sandbox.listings()
        assert remote["housingForm"] == 600
        assert driver.sent is not None
        assert driver.sent.fields["housingForm"] == 601
        assert remote_drift(driver.sent.fields, remote) == {}
        record = await adapter.fetch(listing.external_ref, driver.remote_id)
        assert record is not None
        assert record.listing is not None
        assert (record.listing.category, record.listing.subcategory) == (Category.FARM, "600")
        assert (
            await driver.sync(listing) == []
        )  # nothing to send: the diff is against what was sent
    finally:
        await adapter.aclose()


def test_drift_still_reports_real_changes() -> None:
    """remote_drift reports a different series or other changed fields."""
    sent = {"housingForm": 601, "askingPrice": 100}
    assert remote_drift(sent, {"housingForm": 500, "askingPrice": 100}) == {"housingForm": 500}
    assert remote_drift(sent, {"housingForm": 600, "askingPrice": 90}) == {"askingPrice": 90}


async def _noop(portal: str, account: str, secrets: object) -> None:
    return None
