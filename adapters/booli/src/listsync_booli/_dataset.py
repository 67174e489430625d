"""The BooliSandbox's deterministic dataset: Swedish places, streets, brokers and objects."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

__all__ = ["MUNICIPALITIES", "OBJECT_TYPES", "Municipality", "area_record", "make_object"]

# (name, city, county, latitude, longitude, area id)
Municipality = tuple[str, str, str, float, float, int]

MUNICIPALITIES: tuple[Municipality, ...] = (
    ("Stockholm", "Stockholm", "Stockholms län", 59.3293, 18.0686, 1),
    ("Nacka", "Nacka", "Stockholms län", 59.3105, 18.1637, 76),
    ("Solna", "Solna", "Stockholms län", 59.3600, 18.0009, 35),
    ("Huddinge", "Huddinge", "Stockholms län", 59.2367, 17.9819, 28),
    ("Täby", "Täby", "Stockholms län", 59.4439, 18.0687, 43),
    ("Uppsala", "Uppsala", "Uppsala län", 59.8586, 17.6389, 386),
    ("Göteborg", "Göteborg", "Västra Götalands län", 57.7089, 11.9746, 22),
    ("Mölndal", "Mölndal", "Västra Götalands län", 57.6554, 12.0138, 183),
    ("Borås", "Borås", "Västra Götalands län", 57.7210, 12.9401, 281),
    ("Malmö", "Malmö", "Skåne län", 55.6050, 13.0038, 78),
    ("Lund", "Lund", "Skåne län", 55.7047, 13.1910, 287),
    ("Helsingborg", "Helsingborg", "Skåne län", 56.0465, 12.6945, 214),
    ("Linköping", "Linköping", "Östergötlands län", 58.4108, 15.6214, 226),
    ("Norrköping", "Norrköping", "Östergötlands län", 58.5877, 16.1924, 246),
    ("Örebro", "Örebro", "Örebro län", 59.2753, 15.2134, 262),
    ("Västerås", "Västerås", "Västmanlands län", 59.6099, 16.5448, 271),
    ("Umeå", "Umeå", "Västerbottens län", 63.8258, 20.2630, 404),
    ("Luleå", "Luleå", "Norrbottens län", 65.5848, 22.1547, 412),
    ("Sundsvall", "Sundsvall", "Västernorrlands län", 62.3908, 17.3069, 397),
    ("Jönköping", "Jönköping", "Jönköpings län", 57.7826, 14.1618, 297),
    ("Gävle", "Gävle", "Gävleborgs län", 60.6749, 17.1413, 372),
    ("Gotland", "Visby", "Gotlands län", 57.6348, 18.2948, 326),
    ("Karlstad", "Karlstad", "Värmlands län", 59.4022, 13.5115, 340),
    ("Falun", "Falun", "Dalarnas län", 60.6065, 15.6355, 355),
)

STREETS = (
    "Storgatan", "Drottninggatan", "Kungsgatan", "Vasagatan", "Järnvägsgatan", "Skolgatan",
    "Kyrkogatan", "Parkvägen", "Björkvägen", "Tallvägen", "Ekvägen", "Granvägen", "Lindvägen",
    "Sjövägen", "Ängsvägen", "Villavägen", "Backvägen", "Strandvägen", "Rosenvägen", "Solvägen",
)  # fmt: skip

BROKERS = (
    "Fastighetsbyrån", "Svensk Fastighetsförmedling", "Mäklarhuset", "Notar", "Bjurfors",
    "Länsförsäkringar Fastighetsförmedling", "HusmanHagberg", "Erik Olsson", "Skandiamäklarna",
    "ERA Sverige",
)  # fmt: skip

# display name, weight
OBJECT_TYPES: tuple[tuple[str, int], ...] = (
    ("Lägenhet", 40),
    ("Villa", 18),
    ("Radhus", 10),
    ("Kedjehus", 5),
    ("Parhus", 5),
    ("Fritidshus", 9),
    ("Gård", 4),
    ("Tomt/Mark", 9),
)
_TYPE_NAMES = tuple(name for name, _ in OBJECT_TYPES)
_TYPE_WEIGHTS = tuple(weight for _, weight in OBJECT_TYPES)
_EPOCH = dt.datetime(2026, 11, 1, 12, 0, 0)  # noqa: DTZ001  (Booli sends local time, no offset)


def _house_fields(rng: random.Random, kind: str) -> dict[str, Any]:
    if kind == "Tomt/Mark":
        return {
            "plotArea": rng.randrange(600, 6000, 10),
            "listPrice": rng.randrange(3, 40) * 50_000,
        }
    living = rng.randrange(60, 220)
    out: dict[str, Any] = {
        "livingArea": living,
        "rooms": rng.randrange(6, 16) / 2,
        "listPrice": rng.randrange(15, 160) * 100_000,
        "constructionYear": rng.randrange(1890, 2026),
        "plotArea": rng.randrange(150, 2500) if kind != "Gård" else rng.randrange(20_000, 400_000),
    }
    if rng.random() < 0.5:
        out["additionalArea"] = rng.randrange(5, 80)
    return out


def _apartment_fields(rng: random.Random) -> dict[str, Any]:
    return {
        "livingArea": round(rng.uniform(22, 140), 1),
        "rooms": rng.randrange(2, 11) / 2,
        "listPrice": rng.randrange(8, 120) * 50_000,
        "rent": rng.randrange(15, 90) * 100,
        "floor": rng.randrange(0, 9),
        "apartmentNumber": str(rng.randrange(1001, 1610)),
        "constructionYear": rng.randrange(1880, 2026),
    }


def make_object(rng: random.Random, booli_id: int, index: int, *, sold: bool) -> dict[str, Any]:
    """One Booli object (`/listings` or `/sold` shape) drawn from `rng`."""
    name, city, county, lat, lon, _ = rng.choice(MUNICIPALITIES)
    kind = rng.choices(_TYPE_NAMES, _TYPE_WEIGHTS)[0]
    fields = _apartment_fields(rng) if kind == "Lägenhet" else _house_fields(rng, kind)
    published = _EPOCH - dt.timedelta(minutes=37 * index + rng.randrange(30))
    obj: dict[str, Any] = {
        "booliId": booli_id,
        "objectType": kind,
        "published": published.strftime("%Y-%m-%d %H:%M:%S"),
        "isNewConstruction": 1 if rng.random() < 0.06 else 0,
        "url": f"https://www.booli.se/{'bostad' if sold else 'annons'}/{booli_id}",
        "location": {
            "address": {"streetAddress": f"{rng.choice(STREETS)} {rng.randrange(1, 120)}",
                        "city": city},
            "region": {"municipalityName": name, "countyName": county},
            "position": {"latitude": round(lat + rng.uniform(-0.06, 0.06), 6),
                         "longitude": round(lon + rng.uniform(-0.1, 0.1), 6)},
            "namedAreas": [city],
        },
        **fields,
    }  # fmt: skip
    if rng.random() < 0.97:  # a few objects come without a source, as on Booli
        broker = rng.randrange(len(BROKERS))
        obj["source"] = {
            "id": 1500 + broker,
            "name": BROKERS[broker],
            "type": "Broker",
            "url": f"https://www.booli.se/maklare/{1500 + broker}",
        }
    if sold:
        days = rng.randrange(1, 700)
        obj["soldDate"] = (_EPOCH.date() - dt.timedelta(days=days)).isoformat()
        obj["soldPrice"] = int(obj["listPrice"] * rng.uniform(0.85, 1.2)) // 1000 * 1000
        obj["location"]["position"]["isApproximate"] = rng.random() < 0.3
    return obj


def area_record(municipality: Municipality) -> dict[str, Any]:
    """A municipality as `/areas` describes it."""
    name, _, county, _, _, area_id = municipality
    return {
        "booliId": area_id,
        "name": name,
        "types": ["Kommun"],
        "parentName": county,
        "parentTypes": ["Län"],
        "fullName": f"{name} kommun, {county}",
        "urlFriendlyName": name.lower().replace("å", "a").replace("ä", "a").replace("ö", "o"),
    }
