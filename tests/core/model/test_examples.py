"""The shipped examples: valid, varied, deterministic, and one bad line per kind of mistake."""

from __future__ import annotations

import collections
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from listsync.errors import InvalidListingError
from listsync.io import bundled_examples, read_listings
from listsync.model import Category, Listing, ListingStatus

# line -> the one canonical path examples/invalid.jsonl must report there
INVALID_PATHS = {
    1: "<listing>",
    2: "address.city",
    3: "rooms",
    4: "address.postal_code",
    5: "coordinates.lat",
    6: "coordinates",
    7: "living_area",
    8: "category",
    9: "asking_price.currency",
    10: "showings[0].start",
    11: "showings[0].end",
    12: "sale",
    13: "media[2].url",
    14: "price",
    15: "rooms",
    16: "description.svenska",
    17: "monthly_fee.amount",
    18: "address.country",
    19: "renovation_year",
    20: "agent.email",
    21: "external_ref",
    22: "energy.energy_class",
    23: "portals",
    24: "<listing>",
}


ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def examples() -> list[Listing]:
    """Every listing of examples/listings.jsonl (each line must be valid)."""
    out = []
    for line, item in read_listings(ROOT / "examples" / "listings.jsonl"):
        assert isinstance(item, Listing), f"line {line}: {item}"
        out.append(item)
    return out


def load_generator(root: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_examples", root / "scripts" / "make_examples.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_examples"] = module
    spec.loader.exec_module(module)
    return module


def test_at_least_200_valid_listings(examples: list[Listing]) -> None:
    """Every line of examples/listings.jsonl is a valid listing, 200 or more of them."""
    assert len(examples) >= 200
    assert len({x.external_ref for x in examples}) == len(examples)


def test_examples_cover_categories_statuses_and_portals(examples: list[Listing]) -> None:
    """Every category and status occurs; Swedish listings go to Hemnet in SEK, German ones
    to Immowelt in EUR."""
    assert {x.category for x in examples} == set(Category)
    assert {x.status for x in examples} == set(ListingStatus)
    for x in examples:
        country, portals = x.address.country, x.portals
        assert (country, portals) in {("SE", ("hemnet",)), ("DE", ("immowelt",))}
        money = x.asking_price or (x.rent.base if x.rent else None)
        assert money is not None
        assert money.currency == ("SEK" if country == "SE" else "EUR")
    agencies = collections.Counter(x.agency.external_ref for x in examples)
    assert sum(ref.startswith("se-") for ref in agencies) >= 3
    assert sum(ref.startswith("de-") for ref in agencies) >= 2


def test_examples_are_rich(examples: list[Listing]) -> None:
    """There are several-image listings, showings, sales, rents and brokerage fees."""
    assert sum(len(x.media) >= 5 for x in examples) >= 50
    assert sum(bool(x.showings) for x in examples) >= 50
    assert all(x.sale for x in examples if x.status is ListingStatus.SOLD)
    assert any(x.rent and x.rent.base for x in examples)
    assert any(x.brokerage_fee and x.brokerage_fee.has_fee for x in examples)
    assert all(str(m.url).startswith("https://") for x in examples for m in x.media)


def test_german_texts_follow_immowelt_rule_21(examples: list[Listing]) -> None:
    """German texts hold no HTML, URLs, e-mail addresses or phone numbers."""
    forbidden = re.compile(r"<[a-z/]|https?://|www\.|@|\+?\d[\d /-]{6,}\d")
    for x in examples:
        if x.address.country != "DE":
            continue
        for texts in (x.headline, x.description, x.tagline):
            for value in texts.values():
                assert not forbidden.search(value), (x.external_ref, value)


def test_package_copy_is_identical(root: Path) -> None:
    """The package-data copy used by `listsync demo` equals examples/listings.jsonl."""
    shipped = root / "core" / "src" / "listsync" / "examples" / "listings.jsonl"
    assert shipped.read_bytes() == (root / "examples" / "listings.jsonl").read_bytes()
    assert bundled_examples().read_bytes() == shipped.read_bytes()


def test_generator_reproduces_the_checked_in_files(root: Path) -> None:
    """Re-running scripts/make_examples.py would write exactly the checked-in files."""
    gen = load_generator(root)
    rows = gen.build_listings()
    assert gen.render_jsonl(rows) == (root / "examples" / "listings.jsonl").read_text("utf-8")
    apartment = next(r for r in rows if r["subcategory"] == "300" and "monthly_fee" in r)
    assert gen.build_invalid(apartment) == (root / "examples" / "invalid.jsonl").read_text("utf-8")


def test_each_invalid_line_reports_exactly_its_mistake(root: Path) -> None:
    """examples/invalid.jsonl: every line is invalid with one issue on the expected path."""
    got = {}
    for line, item in read_listings(root / "examples" / "invalid.jsonl"):
        assert isinstance(item, InvalidListingError), f"line {line} is valid"
        got[line] = [issue.path for issue in item.issues]
    assert got == {line: [path] for line, path in INVALID_PATHS.items()}


def test_invalid_lines_are_valid_json_except_the_first(root: Path) -> None:
    """Only line 1 is broken JSON; the others are objects or arrays that parse."""
    lines = (root / "examples" / "invalid.jsonl").read_text("utf-8").splitlines()
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[0])
    for text in lines[1:]:
        json.loads(text)
