"""Fixtures for the canonical model tests: a small valid listing as a mapping."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]

MINIMAL: dict[str, Any] = {
    "external_ref": "NOR-1001",
    "agency": {"external_ref": "se-norrmalm", "name": "Norrmalms Mäklarbyrå"},
    "category": "apartment",
    "tenure": "cooperative",
    "address": {
        "country": "SE",
        "street": "Sveavägen",
        "house_number": "12",
        "postal_code": "113 50",
        "city": "Stockholm",
    },
    "coordinates": {"lat": 59.34, "lon": 18.06},
    "asking_price": {"amount": 4_250_000, "currency": "SEK"},
    "monthly_fee": {"amount": 3900, "currency": "SEK"},
    "living_area": 62,
    "rooms": 2.5,
    "construction_year": 1930,
    "description": {"sv": "Ljus tvåa med balkong."},
    "media": [
        {"url": "https://bilder.example.se/1.jpg"},
        {"url": "https://bilder.example.se/2.jpg"},
        {"url": "https://bilder.example.se/3.jpg"},
    ],
    "showings": [
        {"start": "2027-01-12T17:00:00+01:00", "end": "2027-01-12T17:45:00+01:00"},
    ],
    "portals": ["hemnet"],
}


@pytest.fixture
def root() -> Path:
    """The repository root."""
    return ROOT


@pytest.fixture
def listing_data() -> dict[str, Any]:
    """A fresh, valid Swedish apartment as a mapping (safe to mutate)."""
    return copy.deepcopy(MINIMAL)


@pytest.fixture
def changed(listing_data: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    """`changed("address.postal_code", "012 34")`: the valid listing with one value replaced."""

    def change(path: str, value: Any) -> dict[str, Any]:
        data = copy.deepcopy(listing_data)
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
        return data

    return change
