"""Generate the example listings: `python scripts/make_examples.py`.

Writes, deterministically (seeded; same output on every run and machine):

- `examples/listings.jsonl`: 220 valid canonical listings: Swedish ones for Hemnet (SEK,
  cooperative and freehold tenure, Hemnet housing-form codes as `subcategory`, monthly fees,
  showings) and German ones for Immowelt (EUR, buy, rent and compulsory auction, brokerage fee,
  estate subtypes as `subcategory`, texts without URLs, e-mail addresses, phone numbers or HTML
  as Immowelt rule 21 demands). Five agencies (three Swedish, two German) so multi-account
  routing can be shown. Every category and every lifecycle status occurs.
- `core/src/listsync/examples/listings.jsonl`: the same bytes, shipped as package data for
  `listsync demo`.
- `examples/invalid.jsonl`: one bad line per kind of mistake (see `INVALID`).

Every generated listing is validated against the canonical model before it is written. The
street names, agencies, agents and image hosts are invented; postcodes, cities and coordinates
are real-looking (right ranges and places) but no listing describes a real property.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "core" / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from example_data import (  # noqa: E402 (after sys.path)
    AGENCIES,
    DE_KINDS,
    DE_PLACES,
    SE_KINDS,
    SE_PLACES,
    Kind,
    Place,
    de_texts,
    se_texts,
)

from listsync.model import Category, Listing, ListingStatus  # noqa: E402 (after sys.path)

SEED = 20261122
SE_COUNT = 130
DE_COUNT = 90
CET = dt.timezone(dt.timedelta(hours=1))  # showings fall in Jan-Mar 2027: no DST switch

Row = dict[str, Any]


def _round(value: float, step: int) -> int:
    return max(step, round(value / step) * step)


def _kinds(rng: random.Random, table: dict[str, tuple[Kind, int]], count: int) -> list[str]:
    """One of each kind first (so every category occurs), then weighted draws."""
    names = list(table)
    weights = [w for _, w in table.values()]
    return names + rng.choices(names, weights, k=count - len(names))


def _status(rng: random.Random) -> ListingStatus:
    roll = rng.random()
    for limit, status in (
        (0.04, "draft"),
        (0.13, "coming_soon"),
        (0.24, "sold"),
        (0.30, "withdrawn"),
    ):
        if roll < limit:
            return ListingStatus(status)
    return ListingStatus.FOR_SALE


def _address(rng: random.Random, place: Place, *, swedish: bool) -> Row:
    code = rng.randint(*place.postcodes)
    postal = f"{code:05d}"
    return {
        "country": "SE" if swedish else "DE",
        "street": rng.choice(place.streets),
        "house_number": str(rng.randint(1, 140)) + rng.choice(["", "", "", "A", "B"]),
        "postal_code": f"{postal[:3]} {postal[3:]}" if swedish else postal,
        "city": place.city,
        "municipality": place.municipality,
        "region": place.region,
    }


def _coordinates(rng: random.Random, place: Place) -> Row:
    return {
        "lat": round(place.lat + rng.uniform(-0.03, 0.03), 6),
        "lon": round(place.lon + rng.uniform(-0.05, 0.05), 6),
    }


def _agency(ref: str) -> Row:
    a = AGENCIES[ref]
    return {
        "external_ref": a.ref,
        "name": a.name,
        "email": f"info@{a.domain}",
        "phone": a.phone,
        "visiting_address": {
            "country": a.country,
            "street": a.street,
            "postal_code": a.postcode,
            "city": a.city,
        },
    }


def _agent(rng: random.Random, ref: str) -> Row:
    a = AGENCIES[ref]
    first, last, salutation = rng.choice(a.agents)
    local = f"{first}.{last}".lower().translate(str.maketrans("åäöü", "aaou"))
    row: Row = {"first_name": first, "last_name": last, "email": f"{local}@{a.domain}"}
    if a.country == "SE":
        row["mobile"] = (
            f"+46 70 {rng.randint(100, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}"
        )
    else:
        row["phone"] = f"{a.phone[:-4]}{rng.randint(1000, 9999)}"
        row["mobile"] = f"+49 151 {rng.randint(10000000, 99999999)}"
        row["salutation"] = salutation
    return row


def _media(rng: random.Random, ref: str, domain: str, captions: list[str], plan: bool) -> list[Row]:
    count = rng.choice([1, 3, 5, 6, 8, 10, 12])
    host = f"https://bilder.{domain}" if domain.endswith(".se") else f"https://medien.{domain}"
    items: list[Row] = []
    for i in range(count):
        item: Row = {"url": f"{host}/objekt/{ref.lower()}/{i + 1:02d}.jpg"}
        if i < len(captions):
            item["caption"] = captions[i]
        items.append(item)
    if plan:
        items.append({"url": f"{host}/objekt/{ref.lower()}/planritning.png", "kind": "floor_plan"})
    return items


def _showings(rng: random.Random) -> list[Row]:
    out: list[Row] = []
    day = dt.date(2027, 1, 10) + dt.timedelta(days=rng.randint(0, 60))
    for _ in range(rng.choice([1, 1, 2, 2, 3])):
        if rng.random() < 0.15:
            start = dt.datetime.combine(day, dt.time(0, 0), CET)
            out.append(
                {
                    "start": start.isoformat(),
                    "all_day": True,
                    "note": "Visning enligt överenskommelse, ring mäklaren",
                }
            )
        else:
            start = dt.datetime.combine(day, dt.time(rng.choice([11, 13, 17, 18]), 0), CET)
            end = start + dt.timedelta(minutes=rng.choice([30, 45, 60]))
            out.append({"start": start.isoformat(), "end": end.isoformat()})
        day += dt.timedelta(days=rng.choice([1, 2, 7]))
    return out


def _sale(rng: random.Random, price: int, currency: str) -> Row:
    sold_at = dt.date(2026, 9, 1) + dt.timedelta(days=rng.randint(0, 75))
    return {
        "price": {"amount": _round(price * rng.uniform(0.94, 1.14), 5000), "currency": currency},
        "date": sold_at.isoformat(),
        "price_public": rng.random() < 0.85,
    }


def _energy(rng: random.Random, german: bool) -> Row:
    letter = rng.choice(
        ["A+", "A", "B", "C", "C", "D", "D", "E", "F", "G"] + (["H"] if german else [])
    )
    low = {"A+": 15, "A": 30, "B": 50, "C": 75, "D": 100, "E": 130, "F": 160, "G": 200, "H": 250}
    row: Row = {"energy_class": letter, "value_kwh_m2": low[letter] + rng.randint(0, 24)}
    if german:
        row["certificate_type"] = rng.choice(["Verbrauchsausweis", "Bedarfsausweis"])
        row["valid_until"] = dt.date(2028 + rng.randint(0, 8), rng.randint(1, 12), 1).isoformat()
    return row


def _lifecycle(rng: random.Random, row: Row, price: int | None, currency: str) -> None:
    """Status, sale and showings; drafts keep few images, sold listings carry `sale`."""
    status = _status(rng)
    if row["transaction"] != "sale" and status is ListingStatus.SOLD:
        status = ListingStatus.WITHDRAWN
    row["status"] = status.value
    if status is ListingStatus.SOLD and price:
        row["sale"] = _sale(rng, price, currency)
    if status is ListingStatus.DRAFT:
        row["media"] = row["media"][:1]


def _se_numbers(rng: random.Random, name: str, kind: Kind, place: Place, row: Row) -> int:
    area = rng.randint(*kind.area) if kind.area[1] else 0
    if area:
        row["living_area"] = area
        row["rooms"] = max(1, min(9, round(area / 28 * 2) / 2))
    if kind.plot:
        row["plot_area"] = _round(rng.randint(*kind.plot), 10)
    factor = {"tomt": 0.0, "gard": 0.5, "fritidshus": 0.6, "ovrigt": 0.3}.get(name, 1.0)
    price = _round(place.sqm_price * max(area, 40) * factor * rng.uniform(0.8, 1.25), 25000)
    if name == "tomt":
        price = _round(row["plot_area"] * place.sqm_price / 40, 25000)
    row["asking_price"] = {"amount": price, "currency": "SEK"}
    if name == "lagenhet":
        row["monthly_fee"] = {"amount": _round(area * rng.uniform(45, 75), 10), "currency": "SEK"}
        row["floor"] = rng.randint(0, 7)
        row["floors_in_building"] = max(row["floor"] + rng.randint(0, 3), 2)
        row["apartment_number"] = f"{10 + row['floor']:02d}{rng.randint(1, 6):02d}"
    elif kind.residential and name != "ovrigt":
        row["yearly_running_costs"] = {
            "amount": _round(area * rng.uniform(160, 320), 500),
            "currency": "SEK",
        }
        row["supplemental_area"] = rng.choice([0, 0, 10, 20, 35, 60])
    return price


def se_listing(rng: random.Random, number: int, name: str) -> Row:
    kind = SE_KINDS[name][0]
    place = rng.choice(SE_PLACES)
    agency = AGENCIES[place.agency]
    ref = f"{agency.ref.split('-')[1][:3].upper()}-{26000 + number}"
    tenure = {"lagenhet": "cooperative", "tomt": "freehold"}.get(name, "freehold")
    if name in ("villa", "radhus") and rng.random() < 0.08:
        tenure = "leasehold"  # tomträtt
    row: Row = {
        "external_ref": ref,
        "agency": _agency(agency.ref),
        "agent": _agent(rng, agency.ref),
        "transaction": "sale",
        "category": kind.category.value,
        "subcategory": rng.choice(kind.subcategories),
        "tenure": tenure,
        "address": _address(rng, place, swedish=True),
        "coordinates": _coordinates(rng, place),
    }
    if rng.random() < 0.5:
        row["marketing_key"] = f"{rng.randint(1000, 9999)}"
    price = _se_numbers(rng, name, kind, place, row)
    if "apartment_number" in row:
        row["address"]["apartment_number"] = row.pop("apartment_number")
    else:
        row["property_designation"] = (
            f"{place.municipality} {rng.choice(place.streets).split()[0]} "
            f"{rng.randint(1, 40)}:{rng.randint(1, 120)}"
        )
    if kind.residential:
        row["construction_year"] = rng.randint(1890, 2025)
        row["energy"] = _energy(rng, german=False)
    row["is_new_construction"] = row.get("construction_year", 0) >= 2024
    row.update(se_texts(rng, name, kind.category, row, place.city))
    row["media"] = _media(rng, ref, agency.domain, row.pop("captions"), plan=kind.residential)
    row["showings"] = _showings(rng)
    row["links"] = {"broker_page": f"https://www.{agency.domain}/objekt/{ref.lower()}"}
    row["portals"] = ["hemnet"]
    _lifecycle(rng, row, price, "SEK")
    if row["status"] not in ("for_sale", "coming_soon"):
        del row["showings"]
    return row


def _de_transaction(rng: random.Random, name: str) -> str:
    rentable = ("wohnung", "buero", "laden", "gastro", "halle", "stellplatz", "senioren")
    if name in rentable and rng.random() < 0.55:
        return "rent"
    if name in ("wohnung", "efh", "mfh") and rng.random() < 0.07:
        return "auction_compulsory"
    if name == "sonstiges":
        return "auction_bidding"
    return "sale"


def _de_rent(rng: random.Random, place: Place, area: int) -> Row:
    base = _round(area * place.sqm_price / rng.uniform(280, 360), 5)
    service = _round(area * rng.uniform(1.8, 3.2), 5)
    heating = _round(area * rng.uniform(0.8, 1.4), 5)
    return {
        "base": {"amount": base, "currency": "EUR"},
        "service_charges": {"amount": service, "currency": "EUR"},
        "heating": {"amount": heating, "currency": "EUR"},
        "total": {"amount": base + service + heating, "currency": "EUR"},
        "deposit": {"amount": base * 3, "currency": "EUR"},
    }


def _de_money(rng: random.Random, name: str, kind: Kind, place: Place, row: Row) -> int | None:
    area = row.get("living_area") or row.get("usable_area") or 0
    if row["transaction"] == "rent":
        row["rent"] = _de_rent(rng, place, max(area, 1) if name != "stellplatz" else 4)
        commercial = not kind.residential
        row["brokerage_fee"] = (
            {
                "has_fee": True,
                "amount": {"amount": row["rent"]["base"]["amount"] * 2, "currency": "EUR"},
                "note": "2 Nettokaltmieten zzgl. MwSt.",
            }
            if commercial
            else {"has_fee": False}
        )
        return None
    size = max(area, 15) if name != "grundstueck" else row["plot_area"] / 3
    price = _round(place.sqm_price * size * rng.uniform(0.8, 1.25), 5000)
    row["asking_price"] = {"amount": price, "currency": "EUR"}
    row["brokerage_fee"] = {
        "has_fee": True,
        "percent": "3.57",
        "note": "3,57 % inkl. MwSt. vom Kaufpreis",
    }
    if row["transaction"] == "auction_compulsory":
        row["auction"] = {
            "minimum_bid": {"amount": _round(price * 0.5, 1000), "currency": "EUR"},
            "starting_price": {"amount": _round(price * 0.7, 1000), "currency": "EUR"},
            "date": (dt.date(2027, 2, 1) + dt.timedelta(days=rng.randint(0, 80))).isoformat(),
        }
        row["is_foreclosure"] = True
        del row["brokerage_fee"]
    if name == "wohnung":
        row["monthly_fee"] = {"amount": _round(area * rng.uniform(2.8, 4.5), 5), "currency": "EUR"}
    return price


def _de_numbers(rng: random.Random, name: str, kind: Kind, row: Row) -> None:
    area = rng.randint(*kind.area) if kind.area[1] else 0
    if kind.residential and area:
        row["living_area"] = area
        row["rooms"] = max(1, min(12, round(area / 30 * 2) / 2))
        row["bedrooms"] = max(0, int(row["rooms"]) - 1)
        row["bathrooms"] = 1 if area < 120 else 2
    elif area:
        row["usable_area"] = area
    if kind.plot:
        row["plot_area"] = _round(rng.randint(*kind.plot), 10)
    if name in ("wohnung", "senioren", "buero"):
        row["floor"] = rng.randint(0, 6)
        row["floors_in_building"] = row["floor"] + rng.randint(0, 3) + 1
    if name not in ("grundstueck", "stellplatz"):
        row["construction_year"] = rng.randint(1900, 2025)
        if rng.random() < 0.35 and row["construction_year"] < 2010:
            row["renovation_year"] = rng.randint(max(row["construction_year"], 2000), 2025)
        row["energy"] = _energy(rng, german=True)


def de_listing(rng: random.Random, number: int, name: str) -> Row:
    kind = DE_KINDS[name][0]
    place = rng.choice(DE_PLACES)
    agency = AGENCIES[place.agency]
    ref = f"{agency.ref.split('-')[1].upper()}-2026-{number:04d}"
    row: Row = {
        "external_ref": ref,
        "marketing_key": f"W-{7000 + number}",
        "agency": _agency(agency.ref),
        "agent": _agent(rng, agency.ref),
        "transaction": _de_transaction(rng, name),
        "category": kind.category.value,
    }
    subcategory = rng.choice(kind.subcategories)
    if subcategory:
        row["subcategory"] = subcategory
    row["tenure"] = "rental" if row["transaction"] == "rent" else "freehold"
    row["address"] = _address(rng, place, swedish=False)
    row["address"]["show_full_address"] = rng.random() < 0.7
    row["coordinates"] = _coordinates(rng, place) | {
        "approximate": not row["address"]["show_full_address"]
    }
    _de_numbers(rng, name, kind, row)
    price = _de_money(rng, name, kind, place, row)
    row["is_new_construction"] = row.get("construction_year", 0) >= 2024
    if row["transaction"] == "rent" or rng.random() < 0.3:
        row["available_from"] = (
            dt.date(2027, 1, 1) + dt.timedelta(days=rng.randint(0, 120))
        ).isoformat()
    row.update(de_texts(rng, name, kind.category, row, place.city))
    row["media"] = _media(
        rng, ref, agency.domain, row.pop("captions"), plan=name not in ("grundstueck", "stellplatz")
    )
    row["portals"] = ["immowelt"]
    _lifecycle(rng, row, price, "EUR")
    return row


def build_listings(seed: int = SEED) -> list[Row]:
    """All example listings, validated; the same list for the same seed."""
    rng = random.Random(seed)
    rows = [se_listing(rng, i, n) for i, n in enumerate(_kinds(rng, SE_KINDS, SE_COUNT), 1)]
    rows += [de_listing(rng, i, n) for i, n in enumerate(_kinds(rng, DE_KINDS, DE_COUNT), 1)]
    for row in rows:
        Listing.model_validate(row)  # raises on a generator bug
    _check_coverage(rows)
    return rows


def _check_coverage(rows: list[Row]) -> None:
    seen = {r["category"] for r in rows}
    missing = {c.value for c in Category} - seen
    statuses = {s.value for s in ListingStatus} - {r["status"] for r in rows}
    refs = [r["external_ref"] for r in rows]
    if missing or statuses or len(set(refs)) != len(refs):
        raise SystemExit(f"coverage: missing {missing or statuses} or duplicate refs")


def render_jsonl(rows: list[Row]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows)


def _bad(base: Row, change: Callable[[Row], None]) -> str:
    row = json.loads(json.dumps(base))
    change(row)
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


def _set(path: str, value: Any) -> Callable[[Row], None]:
    def change(row: Row) -> None:
        *parents, last = path.split(".")
        target: Any = row
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value

    return change


_DELETE = object()

INVALID: tuple[tuple[str, str, Any], ...] = (
    # (what is wrong, path to change, new value); "<raw>" lines are written as given
    ("bad JSON", "<raw>", '{"external_ref": "BAD-JSON", "category": "apartment",'),
    ("missing required field", "address.city", _DELETE),
    ("wrong type", "rooms", "three"),
    ("bad postal code", "address.postal_code", "012 34"),
    ("bad coordinates", "coordinates.lat", 91.5),
    ("swapped coordinates", "coordinates", {"lat": 18.07, "lon": 59.33}),
    ("negative area", "living_area", -42),
    ("unknown category", "category", "castle"),
    ("bad currency", "asking_price.currency", "KR"),
    ("naive datetime in a showing", "showings.0.start", "2027-01-12T17:00:00"),
    ("showing ends before it starts", "showings.0.end", "2027-01-12T16:00:00+01:00"),
    ("sold without sale", "status", "sold"),
    ("bad URL", "media.2.url", "bilder/03.jpg"),
    ("unknown key", "price", 4500000),
    ("rooms not in half steps", "rooms", 3.3),
    ("unknown language key", "description.svenska", "Fin lägenhet"),
    ("negative amount", "monthly_fee.amount", -3500),
    ("unknown country", "address.country", "SWE"),
    ("renovated before built", "renovation_year", 1950),
    ("bad e-mail", "agent.email", "anna.lindqvist(at)example"),
    ("bad external_ref", "external_ref", "NMB 26 001"),
    ("bad energy class", "energy.energy_class", "J"),
    ("portal named twice", "portals", ["hemnet", "hemnet"]),
    ("not an object", "<raw>", '["NMB-26001", "apartment"]'),
)


def build_invalid(valid: Row) -> str:
    """One line per entry of `INVALID`, each breaking a valid Swedish apartment in one way."""
    base = json.loads(json.dumps(valid))
    base.pop("sale", None)
    base.update(
        status="for_sale",
        rooms=3,
        construction_year=1962,
        monthly_fee={"amount": 4200, "currency": "SEK"},
    )
    base["media"] = (base["media"] * 3)[:3]
    base["showings"] = [{"start": "2027-01-12T17:00:00+01:00", "end": "2027-01-12T17:45:00+01:00"}]
    lines = []
    for _what, path, value in INVALID:
        lines.append(value if path == "<raw>" else _bad(base, _set(path, value)))
    return "\n".join(lines) + "\n"


def main() -> None:
    rows = build_listings()
    text = render_jsonl(rows)
    for target in (
        ROOT / "examples" / "listings.jsonl",
        ROOT / "core" / "src" / "listsync" / "examples" / "listings.jsonl",
    ):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    apartment = next(r for r in rows if r["subcategory"] == "300" and "monthly_fee" in r)
    (ROOT / "examples" / "invalid.jsonl").write_text(build_invalid(apartment), encoding="utf-8")
    print(f"wrote {len(rows)} listings and {len(INVALID)} invalid lines")


if __name__ == "__main__":
    main()
