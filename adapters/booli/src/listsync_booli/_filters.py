"""Search filters of the BooliSandbox (the search parameters Booli documents), applied to
dataset objects."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from listsync_booli._dataset import MUNICIPALITIES

__all__ = ["FilterError", "matches"]

_LOCATION = ("q", "center", "bbox", "areaId")
_SLUGS = {"tomt/mark": "tomt-mark"}
_METRES_PER_DEGREE = 111_320.0

# parameter -> (object field, comparison)
_RANGES: Mapping[str, tuple[str, Callable[[float, float], bool]]] = {
    "minListPrice": ("listPrice", lambda v, x: v >= x),
    "maxListPrice": ("listPrice", lambda v, x: v <= x),
    "minRooms": ("rooms", lambda v, x: v >= x),
    "maxRooms": ("rooms", lambda v, x: v <= x),
    "maxRent": ("rent", lambda v, x: v <= x),
    "minLivingArea": ("livingArea", lambda v, x: v >= x),
    "maxLivingArea": ("livingArea", lambda v, x: v <= x),
    "minPlotArea": ("plotArea", lambda v, x: v >= x),
    "maxPlotArea": ("plotArea", lambda v, x: v <= x),
    "minConstructionYear": ("constructionYear", lambda v, x: v >= x),
    "maxConstructionYear": ("constructionYear", lambda v, x: v <= x),
    "minSoldPrice": ("soldPrice", lambda v, x: v >= x),
    "maxSoldPrice": ("soldPrice", lambda v, x: v <= x),
}


class FilterError(ValueError):
    """A parameter the sandbox cannot read; the text is Booli-style plain text."""


def _numbers(name: str, value: str, count: int) -> list[float]:
    try:
        numbers = [float(part) for part in value.split(",")]
    except ValueError:
        raise FilterError(f"FAILURE_INVALID_PARAM - {name} must be numbers.") from None
    if len(numbers) != count or not all(math.isfinite(n) for n in numbers):
        raise FilterError(f"FAILURE_INVALID_PARAM - {name} needs {count} numbers.")
    return numbers


def _in_box(obj: Mapping[str, Any], lat_lo: float, lng_lo: float, lat_hi: float,
            lng_hi: float) -> bool:  # fmt: skip
    position = obj["location"]["position"]
    lat, lng = position["latitude"], position["longitude"]
    return bool(lat_lo <= lat <= lat_hi and lng_lo <= lng <= lng_hi)


def _location_matches(obj: Mapping[str, Any], params: Mapping[str, str]) -> bool:
    location = obj["location"]
    if "q" in params:
        text = " ".join(
            [
                location["address"]["streetAddress"],
                location["address"]["city"],
                location["region"]["municipalityName"],
                location["region"]["countyName"],
            ]
        ).lower()
        if params["q"].strip().lower() not in text:
            return False
    if "bbox" in params and not _in_box(obj, *_numbers("bbox", params["bbox"], 4)):
        return False
    if "center" in params:
        lat, lng = _numbers("center", params["center"], 2)
        width, height = _numbers("dim", params.get("dim", "1000,1000"), 2)
        d_lat = height / 2 / _METRES_PER_DEGREE
        d_lng = width / 2 / (_METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))
        if not _in_box(obj, lat - d_lat, lng - d_lng, lat + d_lat, lng + d_lng):
            return False
    if "areaId" in params:
        try:
            ids = {int(part) for part in params["areaId"].split(",")}
        except ValueError:
            raise FilterError("FAILURE_INVALID_PARAM - areaId must be integers.") from None
        names = {m[0] for m in MUNICIPALITIES if m[5] in ids}
        if location["region"]["municipalityName"] not in names:
            return False
    return True


def _date_matches(obj: Mapping[str, Any], params: Mapping[str, str]) -> bool:
    published = obj["published"][:10].replace("-", "")
    sold = str(obj.get("soldDate", "")).replace("-", "")
    checks: tuple[tuple[str, str, Callable[[str, str], bool]], ...] = (
        ("minPublished", published, lambda v, x: v >= x),
        ("maxPublished", published, lambda v, x: v <= x),
        ("minSoldDate", sold, lambda v, x: bool(v) and v >= x),
        ("maxSoldDate", sold, lambda v, x: bool(v) and v <= x),
    )
    return all(test(value, params[name]) for name, value, test in checks if name in params)


def matches(obj: Mapping[str, Any], params: Mapping[str, str]) -> bool:
    """Whether `obj` matches a search.

    Raises:
        FilterError: no location parameter, or a parameter that cannot be read.
    """
    if not any(params.get(name) for name in _LOCATION):
        raise FilterError(
            "FAILURE_MISSING_PARAM - Parameter missing. Request must contain q, center, bbox "
            "or areaId."
        )
    if not _location_matches(obj, params):
        return False
    for name, (field, test) in _RANGES.items():
        if name in params:
            (limit,) = _numbers(name, params[name], 1)
            value = obj.get(field)
            if value is None or not test(float(value), limit):
                return False
    if "objectType" in params:
        wanted = {t.strip().lower() for t in params["objectType"].split(",")}
        kind = str(obj["objectType"]).lower()
        if _SLUGS.get(kind, kind) not in wanted:
            return False
    if (
        "isNewConstruction" in params
        and str(obj["isNewConstruction"]) != params["isNewConstruction"]
    ):
        return False
    return _date_matches(obj, params)
